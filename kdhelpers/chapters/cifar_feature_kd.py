"""Feature-based distillation after the PyTorch "Knowledge Distillation Tutorial" (Chariton): its
CIFAR-10 networks (:mod:`kdhelpers.models.tutorial`), its budget, and its four students —
cross-entropy, soft targets, a cosine loss on hidden representations and a FitNets-style
regressor (losses in :mod:`kdhelpers.losses`).

No augmentation here, so the teacher's outputs for the whole transfer set can be computed once:
``TeacherFeatures(teacher, "packed")`` returns one tensor ``[logits | flattened features]``, which
:func:`kdhelpers.fit` caches like plain logits and indexes with the very batch indices the student
sees (shuffled batches stay aligned).
"""
from __future__ import annotations

from dataclasses import replace
from functools import partial

import torch
from torch import nn

from .. import dryrun
from ..budget import Budget
from ..data import TensorData, batches, load_cifar10, subset
from ..device import amp_dtype
from ..losses import CosineHiddenLoss, DistillationLoss, FeatureMapMSELoss
from ..models import DeepNN, LightNN, TeacherFeatures
from ..models.tutorial import _channels_last
from kdbook.run import Run, as_run
from kdbook import trained, trained_as
from kdbook.protocol import Card, Protocol
from kdbook.references import Ref

# The sources' numbers (one run each), for the results overview: the lecture slides ran the tutorial
# once (teacher, cross-entropy and regressor students); the tutorial's own soft-target students land
# at 70–71 %, from build to build. The notebook's hypotheses quote them in their sources.
SLIDES = "lecture slides (2024)"
REFERENCES = {"teacher_acc": Ref("74.74", SLIDES, unit="%"),
              "student_ce_acc": Ref("70.82", SLIDES, unit="%"),
              "student_kd_acc": Ref("70–71", "PyTorch tutorial", unit="%", approx=True),
              "student_regressor_acc": Ref("71.06", SLIDES, unit="%")}
# the results overview's rows: (experiment, reference, metric key, unit)
HEADLINES = [(label, str(REFERENCES[key]), key, "%") for label, key in (
    ("DeepNN teacher", "teacher_acc"), ("LightNN, cross-entropy only", "student_ce_acc"),
    ("LightNN, soft targets (T = 2)", "student_kd_acc"), ("LightNN, FitNets-style regressor", "student_regressor_acc"))]
# the metric keys the chapter must record (tests/test_notebooks.py)
METRIC_KEYS = {f"{k}{s}" for s in ("", "_std") for k in
               ("teacher_acc", "student_ce_acc", "student_kd_acc", "student_cosine_acc", "student_regressor_acc")}

# The tutorial normalises CIFAR-10 with ImageNet statistics; we do the same to stay faithful.
TUTORIAL_MEAN, TUTORIAL_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

SMOKE_TRAIN, SMOKE_TEST = 256, 500
# The cpu profile runs the tutorial's budget (all 50k images, 10 epochs) with 5 seeds, as full does:
# the gains it measures are fractions of a point, about the size of one seed's spread.
CPU_TRAIN, CPU_EPOCHS = 50_000, 10


def _adam(epochs: int, precision: str = "auto") -> Budget:
    """The tutorial's optimiser: Adam 1e-3, batch 128, constant rate, no augmentation."""
    return Budget(epochs=epochs, batch_size=128, lr=1e-3, optimizer="adam", schedule="constant", precision=precision)


_NETS = {"teacher": {"arch": "tutorial_deepnn"}, "student": {"arch": "tutorial_lightnn"}}
# The students' losses by variant, as factories (every student gets a fresh loss module): "ce" labels only
# (None); "kd" soft targets at T = 2 with α = 0.25; "cosine" / "regressor" the hidden-representation losses
# with α = 0.25 (the tutorial's weights: 0.25 on the hidden term, 0.75 on cross-entropy).
_LOSSES = {"ce": None, "kd": partial(DistillationLoss, temperature=2.0, alpha=0.25),
           "cosine": partial(CosineHiddenLoss, alpha=0.25), "regressor": partial(FeatureMapMSELoss, alpha=0.25)}

# The tutorial's protocol as published: its networks, Adam for 10 epochs (float32), one run of each student.
TUTORIAL_PROTOCOL = Protocol(
    data="CIFAR-10, 50,000 training / 10,000 test images, ImageNet mean/std",
    models=_NETS, budgets={"teacher": _adam(10, "float32"), "student": _adam(10, "float32")},
    loss=_LOSSES, seeds=1, input_shape=(3, 32, 32))

# This chapter's: the same networks, optimiser and losses; 1 epoch on a few hundred images (smoke), the
# tutorial's budget with 5 seeds (cpu and full).
_BUDGET = {"smoke": _adam(1), "cpu": _adam(CPU_EPOCHS), "full": _adam(10)}
PROTOCOL = Protocol(
    data={p: f"CIFAR-10 (the JPEG copy when offline), {n:,} training / {t:,} test images, ImageNet mean/std"
          for p, (n, t) in {"smoke": (SMOKE_TRAIN, SMOKE_TEST), "cpu": (CPU_TRAIN, 10_000),
                            "full": (50_000, 10_000)}.items()},
    models=_NETS, budgets={"teacher": _BUDGET, "student": _BUDGET},
    loss=_LOSSES, seeds={"smoke": 2, "cpu": 5, "full": 5}, input_shape=(3, 32, 32))


def datasets(run: Run) -> tuple[TensorData, TensorData]:
    """CIFAR-10 (train, test) with the tutorial's normalisation (ImageNet mean/std).

    smoke: 256 training and 500 test images; cpu: ``CPU_TRAIN`` random training images (all of
    them by default), full test set; full: everything (the tutorial)."""
    train, test = load_cifar10(True), load_cifar10(False)
    n_train = run.pick(smoke=SMOKE_TRAIN, cpu=CPU_TRAIN, full=len(train))
    train = subset(train, n_train, seed=0)
    if run.profile == "smoke":
        test = subset(test, SMOKE_TEST, seed=0)
    norm = dict(mean=TUTORIAL_MEAN, std=TUTORIAL_STD)
    return (replace(train, name=f"{train.name}|imagenet-norm", **norm),
            replace(test, name=f"{test.name}|imagenet-norm", **norm))


def budget(run: Run) -> Budget:
    """The tutorial's optimiser: Adam 1e-3, batch 128, constant rate, no augmentation; 10 epochs
    in ``full`` (the tutorial's), ``CPU_EPOCHS`` in ``cpu``, 1 in ``smoke`` (:data:`PROTOCOL`)."""
    return PROTOCOL.budget("student", run)


def seeds(run: Run, first: int = 0) -> list[int]:
    """2 seeds (smoke), 5 (cpu and full)."""
    return PROTOCOL.seed_list(run, first)


def teacher(arch: str, run: Run, seed: int = 0, *, transfer: TensorData | None = None,
            budget: Budget | None = None) -> DeepNN:
    """The DeepNN teacher (``arch="deepnn"``) trained with cross-entropy (cached after the first run)."""
    if arch != "deepnn":
        raise ValueError(f"the tutorial's teacher is 'deepnn', got {arch!r}")
    transfer = datasets(run)[0] if transfer is None else transfer
    return trained_as(PROTOCOL, "teacher", "tutorial-deepnn", transfer, run=run, seed=seed, budget=budget)


@torch.no_grad()
def hidden(model: nn.Module, data: TensorData, batch_size: int = 1024, *, run: Run | None = None) -> torch.Tensor:
    """A DeepNN's or LightNN's flattened conv features over ``data`` (eval mode, float32), computed in
    the precision ``run`` (default: the current one) trained the model in."""
    run = as_run(run)
    device = run.device
    dtype = amp_dtype(device, run.precision_for(run.precision_of(model)))
    model = model.to(device).eval()
    out = []
    for idx in batches(dryrun.eval_rows(len(data)), batch_size, shuffle=False):
        x = data.prepare(data.x[idx].to(device))
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out.append(model.features(_channels_last(x)).flatten(1).float())
    return dryrun.fill(torch.cat(out), len(data))


def hidden_cosine(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> float:
    """Mean cosine similarity between student features and the teacher's, pooled to the student's
    size as in :class:`CosineHiddenLoss` (1 = the student reproduces the pooled teacher features)."""
    loss = CosineHiddenLoss(1.0).hidden_loss(student_hidden.float(), teacher_hidden.float())
    return 1.0 - float(loss)


VARIANTS = ("ce", "kd", "cosine", "regressor")


def loss(variant: str):
    """The tutorial's loss of each student: ``"ce"`` labels only (None); ``"kd"`` soft targets at
    T = 2 with α = 0.25; ``"cosine"`` / ``"regressor"`` the hidden-representation losses with
    α = 0.25 (the tutorial's weights 0.25 on the hidden term and 0.75 on cross-entropy)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {VARIANTS}")
    make = PROTOCOL.loss[variant]
    return None if make is None else make()


def student(arch: str, run: Run, seed: int = 0, *, transfer: TensorData | None = None, teacher=None,
            loss=None, budget: Budget | None = None) -> LightNN:
    """A LightNN (``arch="lightnn"``) trained with ``loss`` (None: labels only). A loss on hidden
    representations makes the student return its features too (``loss.student_features``); the
    teacher's logits and features over the transfer set are computed once (packed) and shared by
    every student of that teacher."""
    if arch != "lightnn":
        raise ValueError(f"the tutorial's student is 'lightnn', got {arch!r}")
    if (teacher is None) != (loss is None):
        raise ValueError("give a teacher and a loss together (or neither, for cross-entropy on the labels)")
    transfer = datasets(run)[0] if transfer is None else transfer
    b = budget or _default_budget(run)
    cfg = PROTOCOL.model("student", run)
    features = getattr(loss, "student_features", None)
    if teacher is not None:
        # one memo per teacher in the run (see TeacherFeatures), shared by its students
        memo = run.teacher_outputs.setdefault(("TeacherFeatures", run.key_of(teacher)), {}) if b.cache_teacher else None
        output = "logits" if features is None else ("packed" if b.cache_teacher else "tuple")
        teacher = run.alias(TeacherFeatures(teacher, output, memo), of=teacher)
        if features is not None:
            cfg["hidden"] = features
    kind = "ce" if loss is None else {"flat": "cosine", "regressor": "regressor"}.get(features, "kd")
    return trained(f"tutorial-lightnn-{kind}", cfg, transfer, b, run=run, seed=seed, teacher=teacher, loss=loss)


_default_budget = budget  # the parameters above are called budget too


TUTORIAL = "the PyTorch tutorial (Chariton 2023)"


def card(run: Run):
    """The tutorial's protocol beside this chapter's: the same networks, optimiser, budget and losses."""
    p = run.profile
    losses = "; ".join(f"{v}: {loss(v).formula}" for v in VARIANTS[1:])
    common = dict(loss=losses, temperature="2 (soft targets)", selection="none (fixed settings)",
                  weights="α = 0.25 on the distillation term, 0.75 on the labels")
    published = TUTORIAL_PROTOCOL.column(run, teacher_training="Adam 1e-3, batch 128, constant, 10 epochs, cross-entropy",
                                         seeds="one run of each", **common)
    b = budget(run)
    ours = PROTOCOL.column(run, teacher_training=f"Adam 1e-3, batch 128, constant, {b.epochs} epochs, cross-entropy",
                           seeds=f"{len(seeds(run))} seeds for the students (one teacher)", **common)
    return Card.versus(TUTORIAL, published, ours, run, deviations={
        "data": "offline, the JPEG copy is what we have; the smoke profile uses a few hundred images",
        "epochs": "the smoke profile trains 1 epoch", "teacher training": "the smoke profile trains 1 epoch",
        "precision": "bf16 where the CPU has it (float32 in the smoke profile)",
        "seeds": "one run cannot tell a gain of under a point from seed noise"},
        title=f"Feature distillation: {TUTORIAL} as published, and this chapter")
