"""A training budget: everything :func:`kdhelpers.fit` needs besides the model, the data and the
loss — epochs, batch, optimiser, learning-rate schedule, regularisation, precision — as one small,
frozen config object (mdistiller keeps its budgets as config the same way).

Budgets key the model cache (:meth:`Budget.parts`), print as a small table
(:func:`budget_table`), and change by copy: ``budget.replace(epochs=100)``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from numbers import Real

import pandas as pd
import torch

from .augment import AUGMENTATIONS, VIEW_AUGMENTATIONS
from .data import TensorData
from .device import PRECISIONS  # one list: "auto", "float32", "float16"

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "onecycle", "linear", "multistep")


@dataclass(frozen=True)
class Budget:
    """How one network is trained.

    ``schedule``: ``constant``; ``cosine`` (per step, to 0); ``onecycle`` (torch's OneCycleLR,
    peak ``lr``); ``linear`` (from ``lr_start``·lr up to lr over the first ``warmup`` of the steps,
    then down to ``lr_end``·lr); ``multistep`` (× ``gamma`` after each epoch in ``milestones``).
    ``lookahead``: airbench's Lookahead, an exponential average of the weights folded back into
    them every 5 steps, with a weight that grows as (step / steps)³.
    ``augment``: ``None``, ``"jitter"`` (±2 px, Hinton) or ``"crop_flip"`` (CIFAR).
    ``clip_grad_norm``: clip the whole gradient's norm (None: no clipping).
    ``max_norm``: max-norm constraint on every unit's incoming weights after each step.
    ``precision``: ``"auto"`` (bf16/fp16 autocast where fast), ``"float16"`` (fp16 autocast with a
    gradient scaler, forced) or ``"float32"`` (a source's
    protocol as published). ``cache_teacher``: without augmentation, compute the teacher's outputs
    once per transfer set (else on every batch).
    """
    epochs: int
    batch_size: int = 128
    lr: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    schedule: str = "cosine"
    warmup: float = 0.0
    lr_start: float = 0.0  # "linear": the rate at step 0 and at the end, as fractions of lr
    lr_end: float = 0.0
    milestones: tuple = ()  # "multistep": the epochs after which the rate is multiplied by gamma
    gamma: float = 0.1
    augment: str | None = None
    label_smoothing: float = 0.0
    lookahead: bool = False
    max_norm: float | None = None
    clip_grad_norm: float | None = None
    precision: str = "auto"
    cache_teacher: bool = True

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"Budget.{name}={getattr(self, name)!r}: {why}")

        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            bad("epochs", "must be a positive int")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            bad("batch_size", "must be a positive int")
        for name in ("lr", "momentum", "weight_decay", "eps", "warmup", "label_smoothing", "lr_start", "lr_end"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v) or v < 0:
                bad(name, "must be a finite number ≥ 0")
        if not self.lr > 0:
            bad("lr", "must be > 0")
        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", f"unknown; use one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            bad("schedule", f"unknown; use one of {SCHEDULES}")
        if not 0 <= self.warmup < 1:
            bad("warmup", "is a fraction of the steps in [0, 1)")
        if not 0 <= self.label_smoothing < 1:
            bad("label_smoothing", "must be in [0, 1)")
        if self.precision not in PRECISIONS:
            bad("precision", f"use one of {PRECISIONS}")
        for name in ("max_norm", "clip_grad_norm"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, Real) or not v > 0):
                bad(name, "must be None or a number > 0")
        if len(tuple(self.betas)) != 2 or not all(0 <= b < 1 for b in self.betas):
            bad("betas", "must be two numbers in [0, 1)")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        if self.schedule == "multistep" and not self.milestones:
            bad("milestones", "the multistep schedule needs the epochs at which to decay")
        if any(not 0 < m < self.epochs for m in self.milestones) or list(self.milestones) != sorted(self.milestones):
            bad("milestones", f"must be increasing epochs within 1..{self.epochs - 1}")
        if not 0 < self.gamma <= 1:
            bad("gamma", "must be in (0, 1]")
        if self.augment is not None and self.augment not in AUGMENTATIONS:
            bad("augment", f"unknown augmentation; known: {sorted(AUGMENTATIONS)}")

    @classmethod
    def keras_adam(cls, epochs: int, batch_size: int = 32, lr: float = 1e-3, **fields) -> "Budget":
        """Keras's ``Adam()`` at a constant rate, as the Keras sources train: lr 1e-3 and ε 1e-7 unless
        given (torch's ε is 1e-8), batch 32 (Keras's ``fit``); ``fields``: any other field
        (``precision``, ``max_norm``, …)."""
        return cls(epochs=epochs, batch_size=batch_size, lr=lr, optimizer="adam", eps=fields.pop("eps", 1e-7),
                   schedule="constant", **fields)

    def teacher_views(self) -> int | None:
        """How many passes of a teacher over the transfer set distillation with this budget needs:
        1 without augmentation, one per view for a finite augmentation (the alternating flip: 2),
        None when the teacher runs on every batch (other augmentations, or ``cache_teacher=False``)."""
        if not self.cache_teacher or (self.augment is not None and self.augment not in VIEW_AUGMENTATIONS):
            return None
        return VIEW_AUGMENTATIONS.get(self.augment, 1)

    def replace(self, **changes) -> "Budget":
        """A copy with ``changes`` (checked like a new budget)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"Budget has no field(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def parts(self) -> dict:
        """The fields that differ from the defaults: what keys the model cache."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "epochs" or v != f.default:
                out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def describe(self) -> dict:
        """Readable fields for a table: the optimiser with its settings, the schedule, the rest."""
        opt = self.optimizer.upper() if self.optimizer == "sgd" else {"adam": "Adam", "adamw": "AdamW"}[self.optimizer]
        if self.optimizer == "sgd" and self.momentum:
            opt += f", momentum {self.momentum:g}" + (" (Nesterov)" if self.nesterov else "")
        if self.weight_decay:
            opt += f", weight decay {self.weight_decay:g}"
        sched = self.schedule + (f" after {self.warmup:.0%} warm-up" if self.warmup else "")
        if self.schedule == "linear" and (self.lr_start or self.lr_end):
            sched = f"linear {self.lr_start:g} → 1 over {self.warmup:.0%} of the steps, then → {self.lr_end:g}"
        if self.schedule == "multistep":
            sched = f"× {self.gamma:g} after epochs {', '.join(map(str, self.milestones))}"
        d = {"epochs": self.epochs, "batch": self.batch_size, "optimiser": opt, "learning rate": f"{self.lr:g}",
             "schedule": sched, "augmentation": self.augment or "none"}
        extras = []
        if self.max_norm:
            extras.append(f"max-norm {self.max_norm:g}")
        if self.clip_grad_norm:
            extras.append(f"gradient norm clipped at {self.clip_grad_norm:g}")
        if self.label_smoothing:
            extras.append(f"label smoothing {self.label_smoothing:g}")
        if self.lookahead:
            extras.append("Lookahead")
        d["other"] = ", ".join(extras) or "—"
        d["precision"] = {"float32": "float32", "float16": "float16 autocast, gradient scaler"}.get(
            self.precision, "mixed where fast")
        return d


def make_optimizer(params, b: Budget, *, fused: bool | None = None):
    """The budget's optimiser over ``params`` (``fused``: torch's single-kernel step where offered)."""
    extra = {} if fused is None else {"fused": fused}
    if b.optimizer == "sgd":
        return torch.optim.SGD(params, lr=b.lr, momentum=b.momentum, weight_decay=b.weight_decay,
                               nesterov=b.nesterov, **extra)
    cls = torch.optim.Adam if b.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=b.lr, betas=b.betas, eps=b.eps, weight_decay=b.weight_decay, **extra)


def make_schedule(opt, b: Budget, steps: int):
    """The budget's learning-rate schedule over ``steps`` optimiser steps (stepped once per step)."""
    if b.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    if b.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    if b.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=b.lr, total_steps=steps)
    if b.schedule == "multistep":  # stepped per optimiser step: milestones in steps
        per_epoch = steps // b.epochs
        return torch.optim.lr_scheduler.MultiStepLR(opt, [m * per_epoch for m in b.milestones], gamma=b.gamma)
    warm = int(b.warmup * steps)  # "linear": lr_start → 1 over the warm-up, then 1 → lr_end

    def factor(i):
        if i < warm:
            return b.lr_start + (1 - b.lr_start) * i / warm
        return 1 + (b.lr_end - 1) * min(1.0, (i - warm) / max(1, steps - warm))
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def budget_table(budgets: dict):
    """A small table with one column per named budget: ``budget_table({"teacher": b1, "students": b2})``."""
    if not budgets or not all(isinstance(b, Budget) for b in budgets.values()):
        raise TypeError("budget_table takes {name: Budget}")
    return pd.DataFrame({name: b.describe() for name, b in budgets.items()})


@dataclass
class Setting:
    """What a chapter's comparison trains on in one profile: the data set (its name, the training,
    validation and test sets, the input shape), the teacher's and the student's configs, the
    budget and the seeds."""
    dataset: str
    train: TensorData
    val: TensorData
    test: TensorData
    input_shape: tuple
    teacher_cfg: dict
    student_cfg: dict
    budget: Budget
    seeds: list
