"""Hinton et al. (2015) §3 on MNIST: the shared teacher, students and budgets per profile.

Every MNIST chapter calls these, so they all reuse one cached teacher and identical students.
"""
from __future__ import annotations

from torch import nn

from .data import TensorData, load_mnist, subset
from .profiles import pick, resolve_profile
from .train import trained



def teacher_config(profile: str) -> dict:
    """1200-1200 ReLU with dropout on hidden and input units (plus max-norm and jitter, see
    :func:`teacher_budget`). The classic rates 0.5/0.2 need hundreds of epochs; the cpu budget
    uses 0.3/0.1, which reached 75 test errors in 60 epochs (0.5/0.2 gave 115 in 40)."""
    dropout, input_dropout = pick(profile, smoke=(0.3, 0.1), cpu=(0.3, 0.1), full=(0.5, 0.2))
    return {"arch": "mlp", "hidden": [1200, 1200], "dropout": dropout, "input_dropout": input_dropout}
SMOKE_TRAIN, SMOKE_TEST = 2000, 2000


def student_config(width: int) -> dict:
    """Two hidden layers of ``width`` ReLU units, no regularisation."""
    return {"arch": "mlp", "hidden": [int(width), int(width)]}


def datasets(profile: str) -> tuple[TensorData, TensorData]:
    """(train, test): all 60k/10k in cpu/full; 2k random images of each in smoke."""
    train, test = load_mnist(True), load_mnist(False)
    if resolve_profile(profile) == "smoke":
        train, test = subset(train, SMOKE_TRAIN, seed=0), subset(test, SMOKE_TEST, seed=0)
    return train, test


def teacher_budget(profile: str) -> dict:
    common = {"batch_size": 128, "optimizer": "sgd", "momentum": 0.9, "schedule": "cosine",
              "augment": "jitter", "max_norm": 3.5}
    return {**common, **pick(profile, smoke={"epochs": 2, "lr": 0.1},
                             cpu={"epochs": 60, "lr": 0.1},
                             full={"epochs": 300, "lr": 0.1})}


def student_budget(profile: str) -> dict:
    """SGD for every student, hard or distilled. Gradient-norm clipping at 1 because at T = 20 the
    T²-scaled soft loss is close to regression onto teacher logits of up to ±40: without it the
    first steps at lr 0.1 killed the student (8990 test errors in a trial; 99 with clipping)."""
    common = {"batch_size": 256, "optimizer": "sgd", "momentum": 0.9, "schedule": "cosine",
              "clip_grad_norm": 1.0}
    return {**common, **pick(profile, smoke={"epochs": 2, "lr": 0.1},
                             cpu={"epochs": 20, "lr": 0.1},
                             full={"epochs": 100, "lr": 0.1})}


def teacher(profile: str, seed: int = 0, **overrides) -> nn.Module:
    """The 1200-1200 teacher on all training cases, from the cache after the first run."""
    train, _ = datasets(profile)
    return trained("mnist-teacher", teacher_config(profile), train, profile=resolve_profile(profile), seed=seed,
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
