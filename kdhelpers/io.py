"""Atomic writes and the cache folder: the one copy, which the book's machinery uses too."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch


def cache_dir() -> Path:
    """``$KD_CACHE_DIR`` (default ``~/.cache/kdhelpers``): trained models, decoded data sets."""
    path = Path(os.environ.get("KD_CACHE_DIR", Path.home() / ".cache" / "kdhelpers")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _atomic(path: Path, mode: str, write) -> None:
    """Write to a temp file beside ``path``, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` atomically."""
    _atomic(path, "wb", lambda f: torch.save(obj, f))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (a report, a results file)."""
    _atomic(path, "w", lambda f: f.write(text))
