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

from .device import default_device, seed_everything
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
    print(f"{notebook}: profile={_RUN.profile} seed={seed} device={_RUN.device} torch={torch.__version__}")
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


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=project_root() or Path.cwd(), timeout=10)
        return out.stdout.strip() or None
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
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                     "kdhelpers": __version__},
        "git_commit": _git_commit(),
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
