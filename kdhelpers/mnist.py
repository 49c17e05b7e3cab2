"""Hinton et al. (2015) §3 on MNIST: the shared teacher, students and budgets per profile.

Every MNIST chapter calls these, so they all reuse one cached teacher and identical students.
"""
from __future__ import annotations

from torch import nn

from .data import TensorData, load_mnist, subset
from .profiles import pick, resolve_profile
from .train import trained

#: 1200-1200 ReLU, dropout on hidden (0.5) and input (0.2) units, max-norm weights, jittered inputs.
TEACHER = {"arch": "mlp", "hidden": [1200, 1200], "dropout": 0.5, "input_dropout": 0.2}
SMOKE_TRAIN = 2000


def student_config(width: int) -> dict:
    """Two hidden layers of ``width`` ReLU units, no regularisation."""
    return {"arch": "mlp", "hidden": [int(width), int(width)]}


def datasets(profile: str) -> tuple[TensorData, TensorData]:
    """(train, test): all 60k/10k in cpu/full, a 2k training subset in smoke (test stays whole)."""
    train, test = load_mnist(True), load_mnist(False)
    if resolve_profile(profile) == "smoke":
        train = subset(train, SMOKE_TRAIN, seed=0)
    return train, test


def teacher_budget(profile: str) -> dict:
    common = {"batch_size": 128, "optimizer": "sgd", "momentum": 0.9, "schedule": "cosine",
              "augment": "jitter", "max_norm": 3.5}
    return {**common, **pick(profile, smoke={"epochs": 2, "lr": 0.1},
                             cpu={"epochs": 40, "lr": 0.1},
                             full={"epochs": 200, "lr": 0.1})}


def student_budget(profile: str) -> dict:
    common = {"batch_size": 128, "optimizer": "sgd", "momentum": 0.9, "schedule": "cosine"}
    return {**common, **pick(profile, smoke={"epochs": 2, "lr": 0.1},
                             cpu={"epochs": 30, "lr": 0.1},
                             full={"epochs": 100, "lr": 0.1})}


def teacher(profile: str, seed: int = 0, **overrides) -> nn.Module:
    """The 1200-1200 teacher on all training cases, from the cache after the first run."""
    train, _ = datasets(profile)
    return trained("mnist-teacher", TEACHER, train, profile=resolve_profile(profile), seed=seed,
                   **{**teacher_budget(profile), **overrides})


def student(width: int, profile: str, seed: int = 0, *, transfer: TensorData | None = None,
            teacher: nn.Module | None = None, temperature: float = 1.0, alpha: float | None = None,
            **overrides) -> nn.Module:
    """A ``width``-``width`` student trained on ``transfer`` (default: the training set):
    on hard labels without a teacher, else distilled with soft-target weight ``alpha``."""
    if transfer is None:
        transfer, _ = datasets(profile)
    kw = {**student_budget(profile), **overrides}
    if teacher is not None:
        kw.update(temperature=temperature, alpha=1.0 if alpha is None else alpha)
    kind = "distilled" if teacher is not None else "hard"
    return trained(f"mnist-student{width}-{kind}", student_config(width), transfer,
                   profile=resolve_profile(profile), seed=seed, teacher=teacher, **kw)
