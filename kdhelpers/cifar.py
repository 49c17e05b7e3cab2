"""CIFAR-10 with torchvision's ResNet and VGG families: configs, budgets and cost measurements.

The networks themselves are :mod:`kdhelpers.models.cifar`. ``full`` uses the standard sizes; the
``cpu`` profile smaller members of the same families. Every profile runs the same code.
"""
from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from . import dryrun
from .budget import Budget
from .cost import forward_flops
from .data import TensorData, load_cifar10, split, subset
from .models import build_model, count_params
from .profiles import pick, resolve_profile
from .train import trained

MODELS = ("resnet50", "vgg16", "resnet18")
TEACHERS = ("resnet50", "vgg16")

STANDARD = {
    "resnet18": {"arch": "cifar_resnet", "block": "basic", "layers": [2, 2, 2, 2], "width": 64},
    "resnet50": {"arch": "cifar_resnet", "block": "bottleneck", "layers": [3, 4, 6, 3], "width": 64},
    "vgg16": {"arch": "cifar_vgg", "scale": 1.0},
}
# cpu profile: smaller members of the same families (same blocks; one block per stage, a quarter
# of the channels, and for the ResNets a stride-2 stem), sized so the whole grid runs on 2 CPU cores
REDUCED = {
    "resnet18": {"arch": "cifar_resnet", "block": "basic", "layers": [1, 1, 1, 1], "width": 16, "stem_stride": 2},
    "resnet50": {"arch": "cifar_resnet", "block": "bottleneck", "layers": [1, 1, 1, 1], "width": 16,
                 "stem_stride": 2},
    "vgg16": {"arch": "cifar_vgg", "scale": 0.25},
}
TINY = {  # smoke: only checks that the code runs
    "resnet18": {"arch": "cifar_resnet", "block": "basic", "layers": [1, 1, 1, 1], "width": 4, "stem_stride": 2},
    "resnet50": {"arch": "cifar_resnet", "block": "bottleneck", "layers": [1, 1, 1, 1], "width": 4,
                 "stem_stride": 2},
    "vgg16": {"arch": "cifar_vgg", "scale": 1 / 16},
}


def _check_model(model: str) -> str:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; use one of {MODELS}")
    return model


def config(model: str, profile: str) -> dict:
    """The config dict of ``model`` ("resnet50", "vgg16", "resnet18") in ``profile``."""
    table = pick(profile, smoke=TINY, cpu=REDUCED, full=STANDARD)
    return dict(table[_check_model(model)])


def describe(cfg: dict) -> str:
    """A one-line description of a config, for tables and notes."""
    if cfg["arch"] == "cifar_resnet":
        stem = ", stride-2 stem" if cfg.get("stem_stride", 1) == 2 else ""
        return f"ResNet, {cfg['block']} blocks {list(cfg['layers'])}, width {cfg['width']}{stem}"
    return f"VGG16-BN layout, channels × {cfg['scale']:g}"


def sizes(profile: str) -> dict:
    """How many training/validation/test images each profile uses (validation is held out of
    the training images and only picks the best KD setting)."""
    return pick(profile, smoke={"train": 256, "val": 128, "test": 256},
                cpu={"train": 4_000, "val": 1_000, "test": 5_000},
                full={"train": 45_000, "val": 5_000, "test": 10_000})


def datasets(profile: str) -> tuple[TensorData, TensorData, TensorData]:
    """(train, val, test): a random validation split of the CIFAR-10 training images, a subset
    of the rest for training, and (a subset of) the test set."""
    n = sizes(profile)
    full_train, test = load_cifar10(True), load_cifar10(False)
    rest, val = split(full_train, n["val"], seed=0)
    return subset(rest, n["train"], seed=0), val, subset(test, n["test"], seed=0)


def data_label(data: TensorData) -> str:
    """"CIFAR-10 (JPEG copy)" for the offline JPEG copy, else "CIFAR-10"."""
    return "CIFAR-10 (JPEG copy)" if data.name.startswith("cifar10-jpeg") else "CIFAR-10"


def budget(profile: str, role: str = "student") -> Budget:
    """SGD + momentum 0.9, weight decay 5e-4, one-cycle schedule, batched random-crop + flip
    augmentation. ``role`` is "teacher" or "student": same recipe, teachers get more epochs.
    ``full`` (not run here) is sized for one GPU: ResNet18 in ~30 one-cycle epochs is the
    fast-CIFAR regime that reaches ~94 %."""
    if role not in ("teacher", "student"):
        raise ValueError(f"role must be 'teacher' or 'student', got {role!r}")
    # cpu: 8 teacher / 3 student epochs left the teachers ~6 points above the student and showed no
    # KD gain; 30 / 10 gave teachers of 57 and 68 % over a 50 % student and a ~2-point KD gain.
    epochs = pick(profile, smoke={"teacher": 1, "student": 1}, cpu={"teacher": 30, "student": 10},
                  full={"teacher": 60, "student": 30})[role]
    return Budget(epochs=epochs, optimizer="sgd", momentum=0.9, weight_decay=5e-4, schedule="onecycle",
                  augment="crop_flip", **pick(profile, smoke={"batch_size": 128, "lr": 0.1},
                                              cpu={"batch_size": 128, "lr": 0.1},
                                              full={"batch_size": 256, "lr": 0.2}))


_default_budget = budget  # the parameters below are called budget too


def teacher(arch: str, profile: str, seed: int = 0, *, transfer: TensorData | None = None,
            budget: Budget | None = None) -> nn.Module:
    """A trained ``arch`` ("resnet50" or "vgg16") on the profile's training images (cached)."""
    if arch not in TEACHERS:
        raise ValueError(f"teachers are {TEACHERS}, got {arch!r}")
    profile = resolve_profile(profile)
    transfer = datasets(profile)[0] if transfer is None else transfer
    return trained(f"cifar-{arch}", config(arch, profile), transfer, budget or _default_budget(profile, "teacher"),
                   profile=profile, seed=seed)


def student(arch: str, profile: str, seed: int = 0, *, transfer: TensorData | None = None,
            teacher: nn.Module | None = None, loss: nn.Module | None = None,
            budget: Budget | None = None) -> nn.Module:
    """A ResNet18(-family) student: from scratch without ``teacher``; else distilled with ``loss``,
    the teacher run on every augmented batch."""
    if arch != "resnet18":
        raise ValueError(f"the students are ResNet18s, got {arch!r}")
    if teacher is not None and loss is None:
        raise ValueError("a distilled student needs its loss, e.g. kd.losses.DistillationLoss(temperature, alpha)")
    profile = resolve_profile(profile)
    transfer = datasets(profile)[0] if transfer is None else transfer
    kind = "kd" if teacher is not None else "scratch"
    return trained(f"cifar-resnet18-{kind}", config("resnet18", profile), transfer,
                   budget or _default_budget(profile, "student"), profile=profile, seed=seed,
                   teacher=teacher, loss=loss)


# --------------------------------------------------------------------------- cost
def gflops(model: nn.Module, image_size: int = 32) -> float:
    """Forward GFLOPs for one 3×size×size image, counted by ``torch.utils.flop_counter``
    (a multiply-add counts 2 FLOPs)."""
    return forward_flops(model, (3, image_size, image_size)) / 1e9


def latency_ms(model: nn.Module, batch: int, *, reps: int = 5, warmup: int = 1, image_size: int = 32) -> float:
    """Median wall-clock ms of one forward pass on the CPU (eval mode, ``inference_mode``,
    float32), after ``warmup`` untimed passes (a dry run times small batches)."""
    if batch < 1 or reps < 1 or warmup < 0:
        raise ValueError(f"need batch ≥ 1, reps ≥ 1, warmup ≥ 0; got {batch}, {reps}, {warmup}")
    batch = dryrun.batch_size(batch)
    model = model.eval().cpu()
    x = torch.randn(batch, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.inference_mode():
        for i in range(warmup + reps):
            start = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


def cost(cfg: dict, *, big_batch: int, reps: int) -> dict:
    """Parameters, GFLOPs and CPU latency (batch 1 and ``big_batch``) of an untrained ``cfg``
    (weights do not change the cost)."""
    torch.manual_seed(0)
    model = build_model(cfg)
    return {"params": count_params(model), "gflops": gflops(model),
            "latency_ms_b1": latency_ms(model, 1, reps=reps),
            "latency_ms_big": latency_ms(model, big_batch, reps=max(1, reps // 2))}
