"""One place where a notebook's numbers go: results/<notebook>.json and myst_nb glue."""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .device import amp_dtype, default_device, seed_everything
from .profiles import resolve_profile


@dataclass
class Run:
    """What :func:`setup` resolved for this notebook run."""
    notebook: str
    profile: str
    seed: int
    device: torch.device
    started: float = field(default_factory=time.time)


_RUN: Run | None = None


def setup(notebook: str, profile: str = "auto", seed: int = 0) -> Run:
    """Resolve the profile, pick the device, seed everything, style plots; remembered by :func:`record`."""
    global _RUN
    from .plotting import set_style

    _RUN = Run(notebook, resolve_profile(profile), seed, default_device())
    seed_everything(seed)
    set_style()
    precision = str(amp_dtype(_RUN.device) or "float32").replace("torch.", "")
    print(f"{notebook}: profile={_RUN.profile} seed={seed} device={_RUN.device} ({precision}) "
          f"torch={torch.__version__}")
    return _RUN


def project_root() -> Path | None:
    """The folder holding ``_toc.yml``, looking up from the working directory."""
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        if (p / "_toc.yml").exists():
            return p
    return None


def results_dir() -> Path:
    """``$KD_RESULTS_DIR``, else ``<project>/results``, else ``./results`` (e.g. in Colab)."""
    env = os.environ.get("KD_RESULTS_DIR")
    root = project_root()
    return Path(env) if env else (root / "results" if root else Path("results"))


def _git(*args) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True,
                             cwd=project_root() or Path.cwd(), timeout=10)
        return out.stdout.strip() if out.returncode == 0 else None
    except Exception:
        return None


def glue(name: str, value, display: bool = False) -> None:
    """``myst_nb.glue`` when myst_nb is installed (the book build); a no-op elsewhere (Colab)."""
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, value, display=display)


def record(name: str, metrics: dict, *, seeds=None, notes: dict | None = None) -> Path:
    """Write ``results/<name>.json`` atomically (metrics + provenance) and glue every metric."""
    if _RUN is None:
        raise RuntimeError("call kdhelpers.setup(...) at the top of the notebook before record()")
    clean = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"metrics must map names to numbers; {key!r} → {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"metric {key!r} is {value}")
        clean[key] = value.item() if hasattr(value, "item") else value
    import torchvision

    from . import __version__
    payload = {
        "notebook": name,
        "profile": _RUN.profile,
        "seeds": list(seeds) if seeds is not None else [_RUN.seed],
        "device": str(_RUN.device),
        "precision": (f"{str(amp_dtype(_RUN.device)).replace('torch.', '')} autocast"
                      if amp_dtype(_RUN.device) else "float32"),
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                     "kdhelpers": __version__},
        "git_commit": _git("rev-parse", "HEAD") or None,
        # uncommitted changes to the helper package would make the commit above a lie
        "kdhelpers_modified": bool(_git("status", "--porcelain", "--", "kdhelpers")),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(time.time() - _RUN.started, 1),
        "notes": notes or {},
        "metrics": clean,
    }
    out = results_dir() / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=2)
        f.write("\n")
    os.replace(tmp, out)
    for key, value in clean.items():
        glue(key, value)
    print(f"wrote {out} ({len(clean)} metrics, {payload['wall_time_s']} s)")
    return out


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value) over seeds."""
    import numpy as np

    v = np.asarray(list(values), dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
