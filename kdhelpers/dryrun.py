"""``KD_DRY_RUN=1``: run a notebook's whole code path at a token cost.

The ``full`` profile cannot run on the machines this book is built on (no GPU), so it must be
correct by construction. A dry run executes it anyway, on the CPU: the full-size models, data
paths, budgets, grids and figure code all run, but every training loop stops after
:data:`MAX_BATCHES` batches of at most :data:`BATCH` examples, and every pass of a model over a
data set computes its first :data:`BATCH` examples and repeats them to the set's length (so every
shape downstream is the real one). The numbers are meaningless; results written in a dry run are
marked ``"dry_run": true`` and never go to the project's ``results/`` folder, and models trained
in one are cached under keys of their own.
"""
from __future__ import annotations

import os

import torch

MAX_BATCHES = 2
BATCH = 8


def enabled() -> bool:
    return os.environ.get("KD_DRY_RUN", "0").strip().lower() in ("1", "true", "yes")


def batch_size(batch_size: int) -> int:
    """The batch size a loop really uses: capped at :data:`BATCH` in a dry run."""
    return min(int(batch_size), BATCH) if enabled() else int(batch_size)


def stop(batches_done: int) -> bool:
    """True once a training loop has done its :data:`MAX_BATCHES` in a dry run."""
    return enabled() and batches_done >= MAX_BATCHES


def eval_rows(n: int) -> int:
    """How many of ``n`` examples a forward pass over a data set really computes."""
    return min(int(n), BATCH) if enabled() else int(n)


def fill(rows: torch.Tensor, n: int, dim: int = 0) -> torch.Tensor:
    """``rows`` repeated along ``dim`` to length ``n`` (dry run: stand-in outputs of the right shape)."""
    have = rows.shape[dim]
    if have == n:
        return rows
    reps = [1] * rows.dim()
    reps[dim] = -(-n // have)
    return rows.repeat(*reps).narrow(dim, 0, n)
