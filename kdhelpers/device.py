"""Device choice, reproducible seeding, and whether to show progress bars."""
from __future__ import annotations

import functools
import os
import random
from pathlib import Path

import numpy as np
import torch


def show_progress(progress: bool | None = None) -> bool:
    """An explicit ``progress`` wins; otherwise bars show unless ``$KD_PROGRESS=0`` (``make reproduce``
    sets it so bars are not saved into the notebooks as widgets)."""
    if progress is None:
        return os.environ.get("KD_PROGRESS", "1") != "0"
    return bool(progress)


def default_device() -> torch.device:
    """cuda > mps > cpu; ``$KD_DEVICE`` forces one."""
    forced = os.environ.get("KD_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# "auto": mixed precision where the hardware is fast at it (see amp_dtype); "float32": a source's
# protocol as published, and the smoke profile; "float16": fp16 autocast with a gradient scaler,
# the path of a GPU without native bf16 (a T4), forced so that a CPU test can run it
PRECISIONS = ("auto", "float32", "float16")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


@functools.lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """bf16 matmuls in hardware: AMX tiles (Intel) or AVX512-BF16 (Intel, AMD Zen 4+)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def cuda_has_native_bf16(device) -> bool:
    """bf16 in the GPU's tensor cores: compute capability 8.0 or more (Ampere and later).
    ``torch.cuda.is_bf16_supported()`` also answers True on older GPUs (a T4 is 7.5), where bf16 is
    emulated and slow; there float16 with a gradient scaler is the fast path."""
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def amp_dtype(device, precision: str | None = None) -> torch.dtype | None:
    """The autocast dtype for ``device``, or None for plain float32.

    ``precision`` ``"float32"`` always gives None and ``"float16"`` float16 (with a gradient scaler
    in the training loops); None or ``"auto"`` choose by the hardware. (The run's default, float32 in the
    smoke profile, is applied by the caller: :meth:`kdbook.run.Run.precision_for`.)
    ``"auto"``: bfloat16 only where the hardware has it: on CUDA from compute capability 8.0
    (:func:`cuda_has_native_bf16`), else float16 with a gradient scaler; on a CPU only with native
    bf16 matmuls (AMX or AVX512-BF16), where they run 2.5-4x faster than float32 (measured: MLP and
    conv training steps on a 2-core Zen 4), else float32. ``$KD_AMP=0`` turns mixed precision off
    everywhere.
    """
    device = torch.device(device)
    precision = "auto" if precision is None else check_precision(precision)
    if precision == "float32" or os.environ.get("KD_AMP", "1") == "0":
        return None
    if precision == "float16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if cuda_has_native_bf16(device) else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def grad_scaler(device, dtype) -> torch.amp.GradScaler:
    """A gradient scaler, enabled for float16 (whose small gradients underflow); bf16 needs none."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=dtype == torch.float16)


def precision_name(device, precision: str | None = None) -> str:
    """How a run in ``precision`` computes on ``device``: "float32" or "bfloat16 autocast" etc."""
    dtype = amp_dtype(device, precision)
    return "float32" if dtype is None else f"{str(dtype).replace('torch.', '')} autocast"


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for shuffling and augmentation."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
