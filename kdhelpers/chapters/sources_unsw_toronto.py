"""Two student reports' MNIST experiments, rerun as published.

* The UNSW report (PyTorch, 2022): a ~2 M-parameter fully connected teacher with dropout, a
  two-layer student of ~11 k parameters, Adam 1e-4 for 6 epochs, distilled at T ∈ {5, 7, 10} with
  β = 0.5 (its β is the weight of the soft term: β here = α). Widths, dropout rate and batch size
  are not stated; :func:`card` says what we chose.
* The Toronto report (TensorFlow, 2022): a CNN teacher and a 784-784 MLP student, Adam 1e-3 for
  12 epochs at batch 256, a grid T ∈ {1, 2, 4, 16, 32, 64} × α ∈ {0.1, …, 0.9} (its α weights the
  soft term). Its networks end in a softmax whose *probabilities* its losses treat as logits
  (:class:`kdhelpers.losses.TorontoLoss`); we rerun that as published, then the same grid cells with
  the loss fixed (teacher log-probabilities as logits, a student that outputs logits).
"""
from __future__ import annotations

import torch
from torch import nn

from ..budget import Budget
from ..data import TensorData
from ..losses import DistillationLoss, TorontoLoss
from ..models import build_model, count_params
from kdbook.mnist import INPUT, datasets
from kdbook.protocol import Card, Protocol, describe
from kdbook.references import Ref
from kdbook.run import Run
from kdbook.train import trained_as

# The two reports' numbers (one run each), for the results overview
REFERENCES = {"seedproto_unsw_student_acc": Ref(91.69, "UNSW report", unit="%"),
              **{f"seedproto_unsw_kd_T{T}_acc": Ref(g, "UNSW report", unit="%") for T, g in ((5, 91.71), (7, 91.90), (10, 92.04))},
              "seedproto_toronto_hard_acc": Ref("97.20", "Toronto report", unit="%"),
              "seedproto_toronto_grid_range": Ref(0.71, "Toronto report", "30 cells")}
# the results overview's rows: (experiment, reference, metric key, unit)
HEADLINES = [
    ("UNSW: student without a teacher, its protocol rerun", REFERENCES["seedproto_unsw_student_acc"].cite("one run"),
     "seedproto_unsw_student_acc", "%"),
    ("UNSW: distilled at T = 10, rerun", str(REFERENCES["seedproto_unsw_kd_T10_acc"]), "seedproto_unsw_kd_T10_acc", "%"),
    ("Toronto: student without a teacher, rerun", REFERENCES["seedproto_toronto_hard_acc"].cite("one run"),
     "seedproto_toronto_hard_acc", "%"),
    ("Toronto: spread of the grid cells, rerun (points; cpu: 12 of the 30 cells)",
     str(REFERENCES["seedproto_toronto_grid_range"]), "seedproto_toronto_grid_range", "ratio"),
]
# the metric keys the chapter must record (tests/test_notebooks.py)
METRIC_KEYS = {f"seedproto_{k}" for k in
               ("unsw_teacher_acc", "unsw_student_acc", *(f"unsw_kd_T{T}_acc" for T in (5, 7, 10)),
                "toronto_teacher_acc", "toronto_hard_acc", "toronto_grid_range", "toronto_cells_above_hard",
                "toronto_grid_minus_hard", "toronto_grid_minus_hard_lo95", "toronto_grid_minus_hard_hi95")} \
    | {"toronto_fixed_best_acc"}

PREFIX = "seedproto_"
UNSW = "the UNSW report (2022)"
TORONTO = "the Toronto report (2022)"

UNSW_TEACHER = {"arch": "mlp", "hidden": [1200, 1200], "dropout": 0.5}  # ≈2 M parameters, as in Hinton et al.
UNSW_STUDENT = {"arch": "mlp", "hidden": [14]}  # 784-14-10: 11,140 parameters ("11 thousand")
UNSW_TEMPERATURES = (5, 7, 10)

TORONTO_TEACHER = {"arch": "toronto_cnn", "softmax_output": True}
TORONTO_STUDENT = {"arch": "keras_mlp", "hidden": [784, 784], "softmax_output": True}
TORONTO_STUDENT_LOGITS = {"arch": "keras_mlp", "hidden": [784, 784]}
TORONTO_TEMPERATURES = (1, 2, 4, 16, 32, 64)  # the report's grid
TORONTO_ALPHAS = (0.1, 0.3, 0.5, 0.7, 0.9)
FIXED_TEMPERATURES = (1, 4, 16)  # the fixed-loss cells, at α = 0.5
DATA = "MNIST: 60,000 training, 10,000 test images"
# The Toronto report's Table I: last-epoch test accuracy (%) of each cell, one run each; by T,
# one number per α in TORONTO_ALPHAS
TORONTO_TABLE_I = {
    1: (97.79, 97.66, 97.91, 97.94, 97.55),
    2: (97.74, 97.89, 97.86, 97.74, 97.59),
    4: (97.95, 97.50, 97.48, 97.83, 97.37),
    16: (97.93, 97.82, 97.72, 97.55, 98.08),
    32: (98.03, 97.92, 97.71, 97.84, 97.44),
    64: (97.85, 97.72, 97.55, 98.04, 97.82),
}


def toronto_published(temperatures, alphas) -> float:
    """The mean of the report's Table I over the cells T × α given (the cells a profile reruns)."""
    cells = [TORONTO_TABLE_I[T][TORONTO_ALPHAS.index(a)] for T in temperatures for a in alphas]
    return sum(cells) / len(cells)


def model_text(cfg: dict) -> str:
    """One of the Toronto networks in words, with its parameter count (for the card)."""
    if cfg["arch"] == "toronto_cnn":
        text = "CNN: convolutions of 32 and 64 channels, Dense 128, dropout 0.5"
    else:  # a Keras Dense stack
        text = "MLP " + "-".join(map(str, cfg["hidden"])) + ", Keras initialisation"
    if cfg.get("softmax_output"):
        text += ", ending in a softmax"
    return f"{text} ({count_params(build_model(cfg)):,} parameters)"


def _unsw_budget(epochs: int) -> Budget:
    """Adam 1e-4, 6 epochs, float32; the batch size is not stated (64 here)."""
    return Budget(epochs=epochs, batch_size=64, lr=1e-4, optimizer="adam", schedule="constant", precision="float32")


def _toronto_budget(epochs: int, precision: str) -> Budget:
    """Adam 1e-3 (Keras: ε 1e-7), batch 256, 12 epochs, constant rate."""
    return Budget.keras_adam(epochs, 256, precision=precision)


# The chapter's protocol, declared once: the two reports' networks and budgets by role, rerun as published
# in the full profile. The losses are not in the record: each report's runs sweep a temperature (UNSW: T
# in {5, 7, 10}, β = 0.5, :func:`unsw_loss`; Toronto: a T × α grid, :func:`toronto_loss`).
PROTOCOL = Protocol(
    data={"smoke": "MNIST, 2,000 / 2,000 images", "cpu": DATA, "full": DATA},
    models={"unsw_teacher": UNSW_TEACHER, "unsw_student": UNSW_STUDENT, "toronto_teacher": TORONTO_TEACHER,
            "toronto_student": TORONTO_STUDENT, "toronto_student_logits": TORONTO_STUDENT_LOGITS},
    budgets={
        **dict.fromkeys(("unsw_teacher", "unsw_student"),
                        {p: _unsw_budget(e) for p, e in (("smoke", 1), ("cpu", 6), ("full", 6))}),
        # float32 in full; the cpu profile computes in bf16 where the CPU has it (51 students of 1.2 M parameters)
        **dict.fromkeys(("toronto_teacher", "toronto_student", "toronto_student_logits"),
                        {p: _toronto_budget(e, prec) for p, e, prec in
                         (("smoke", 1, "auto"), ("cpu", 12, "auto"), ("full", 12, "float32"))})},
    seeds={"smoke": 2, "cpu": 3, "full": 3}, input_shape=INPUT)


def seeds(run: Run, first: int = 0) -> list[int]:
    """2 seeds (smoke), 3 (cpu, full)."""
    return PROTOCOL.seed_list(run, first)


def toronto_grid(run: Run) -> tuple[tuple, tuple]:
    """(temperatures, alphas) of the grid a profile reruns. ``full``: the report's 6 × 5. ``cpu``:
    its corners and centre, T ∈ {1, 4, 16, 64} × α ∈ {0.1, 0.5, 0.9}, 12 of the 30 cells: the
    question is whether T and α move the accuracy at all, which the grid's extremes answer, and
    30 cells × 3 seeds of 784-784 students do not fit the chapter's 30 minutes on 2 CPU cores."""
    return run.pick(smoke=((1, 16), (0.1, 0.9)), cpu=((1, 4, 16, 64), (0.1, 0.5, 0.9)),
                full=(TORONTO_TEMPERATURES, TORONTO_ALPHAS))


def unsw_budget(run: Run) -> Budget:
    """Adam 1e-4, 6 epochs, float32; the batch size is not stated (64 here)."""
    return PROTOCOL.budget("unsw_student", run)


def toronto_budget(run: Run) -> Budget:
    """Adam 1e-3 (Keras: ε 1e-7), batch 256, 12 epochs, constant rate. float32 in ``full``; the cpu
    profile computes in bf16 where the CPU has it (51 students of 1.2 M parameters)."""
    return PROTOCOL.budget("toronto_student", run)


class LogProbs(nn.Module):
    """A teacher that outputs probabilities, seen through its log: log-softmax outputs are logits up
    to a constant per example, which the softmax ignores. Students distilled from it key their cache
    on the teacher's key + ``-log`` (``run.key_of``)."""

    def __init__(self, teacher: nn.Module, run: Run):
        super().__init__()
        self.teacher = teacher
        # the teacher's key + "-log"; its outputs computed in the run's precision, as before the run
        # object (the wrapper never carried its teacher's budget precision, float32 in the full profile)
        info = run.info(teacher)
        run.remember(self, None if info.key is None else f"{info.key}-log", hit=info.hit)

    def forward(self, x):
        return torch.log(self.teacher(x).float().clamp_min(1e-30))

    def extra_repr(self) -> str:
        return "log of the teacher's probabilities"


def teacher(arch: str, run: Run, seed: int = 0, *, transfer: TensorData | None = None,
            budget: Budget | None = None) -> nn.Module:
    """``"unsw"`` (the fully connected teacher) or ``"toronto"`` (the CNN, softmax output): the
    record's ``unsw_teacher`` / ``toronto_teacher``."""
    return trained_as(PROTOCOL, f"{arch}_teacher", f"{arch}-teacher", datasets(run)[0] if transfer is None else transfer,
                      run=run, seed=seed, budget=budget)


def student(arch: str, run: Run, seed: int = 0, *, transfer: TensorData | None = None, teacher=None,
            loss=None, budget: Budget | None = None) -> nn.Module:
    """``"unsw"`` (784-14-10), ``"toronto"`` (784-784, softmax output, as published) or
    ``"toronto-logits"`` (the same net outputting logits, for the fixed loss)."""
    roles = {"unsw": "unsw_student", "toronto": "toronto_student", "toronto-logits": "toronto_student_logits"}
    if arch not in roles:
        raise ValueError(f"students are {sorted(roles)}, got {arch!r}")
    if (teacher is None) != (loss is None):
        raise ValueError("give a teacher and a loss together (or neither, for hard labels)")
    return trained_as(PROTOCOL, roles[arch], f"{arch}-student", datasets(run)[0] if transfer is None else transfer,
                      run=run, seed=seed, budget=budget, teacher=teacher, loss=loss)


def prefetch_unsw(run: Run, seeds) -> None:
    """Train (into the model cache) the UNSW protocol's networks of every seed: for
    :func:`kdbook.parallel.prefetch`."""
    for s in seeds:
        t = teacher("unsw", run, s)
        student("unsw", run, s)
        for T in UNSW_TEMPERATURES:
            student("unsw", run, s, teacher=t, loss=unsw_loss(T))


def prefetch_toronto_teacher(run: Run, seed: int) -> None:
    teacher("toronto", run, seed)


def toronto_jobs(run: Run, seeds) -> list[tuple]:
    """Every Toronto student the chapter trains: ``(kind, seed, T, α)``, kind "hard", "grid",
    "fixed-hard" or "fixed" (the loss fixed, α = 0.5)."""
    temps, alphas = toronto_grid(run)
    jobs = []
    for s in seeds:
        jobs += [("hard", s, None, None)] + [("grid", s, T, a) for T in temps for a in alphas]
        jobs += [("fixed-hard", s, None, None)] + [("fixed", s, T, 0.5) for T in FIXED_TEMPERATURES]
    return jobs


def prefetch_toronto_students(run: Run, jobs, teacher_seed: int) -> None:
    """Train (into the model cache) the Toronto students of ``jobs`` (:func:`toronto_jobs`), all from
    the one teacher of ``teacher_seed``."""
    t = teacher("toronto", run, teacher_seed)
    for kind, s, T, a in jobs:
        if kind == "hard":
            student("toronto", run, s)
        elif kind == "grid":
            student("toronto", run, s, teacher=t, loss=toronto_loss(T, a))
        elif kind == "fixed-hard":
            student("toronto-logits", run, s)
        else:
            student("toronto-logits", run, s, teacher=LogProbs(t, run), loss=DistillationLoss(T, alpha=a))


def unsw_loss(temperature) -> DistillationLoss:
    """β = 0.5 on the soft term (β here = α); the report does not say KL or soft CE, or whether it
    scaled by T²: Hinton's T²·KL."""
    return DistillationLoss(temperature, alpha=0.5)


def toronto_loss(temperature, alpha) -> TorontoLoss:
    return TorontoLoss(temperature, alpha)


def unsw_card(run: Run):
    """The UNSW report as published (quoted; its budget is :data:`PROTOCOL`'s in the full profile) beside
    the rerun in ``run``'s profile (:data:`PROTOCOL`'s UNSW roles)."""
    p, full = run.profile, Run(profile="full")
    published = describe(
        data=DATA, teacher="3 fully connected layers, ~2 M parameters, "
        "a dropout layer", teacher_training="Adam 1e-4, 6 epochs", student="2 layers, ~11 k parameters, no dropout",
        budget=PROTOCOL.budget("unsw_student", full),
        loss="β·distillation loss + (1 − β)·student loss; KL or cross-entropy, "
        "and a T² factor: not stated", temperature="5, 7, 10", seeds="one run per T",
        selection="test accuracy after the last epoch", not_stated=("batch",),
        weights="β = 0.5 on the soft term (β here = α)")
    ours = PROTOCOL.column(
        run, teacher="unsw_teacher", student="unsw_student", loss=unsw_loss(10),
        temperature=", ".join(map(str, UNSW_TEMPERATURES)),
        selection="test accuracy after the last epoch", weights="β = 0.5 on the soft term (β here = α)")
    return Card.versus(UNSW, published, ours, run, ours_label="rerun here", deviations={
        "data": "the smoke profile checks that the code runs",
        "teacher": "widths and dropout rate not stated: Hinton's 1200-1200 (2.4 M), dropout 0.5",
        "teacher training": "as published; PyTorch's Adam defaults",
        "student": "widths not stated: one hidden layer of 14 units gives 11,140 parameters",
        "loss": "KL or cross-entropy, and T² or not, are not stated: Hinton's T²·KL",
        "epochs": "the smoke profile trains 1 epoch",
        "seeds": "three seeds: the report's gains (+0.02 to +0.35 points) are one run each"},
        title=f"MNIST as in {UNSW}: as published, and rerun here")


def toronto_card(run: Run):
    """The Toronto report as published (:data:`PROTOCOL`'s Toronto roles in the full profile, the report's
    grid and seeds) beside the rerun in ``run``'s profile."""
    p, full = run.profile, Run(profile="full")
    temps, alphas = toronto_grid(run)
    roles = dict(teacher="toronto_teacher", student="toronto_student", loss=toronto_loss(4, 0.5))
    published = PROTOCOL.column(full, **roles, seeds="one run per cell, no seed",
                                temperature="1, 2, 4, 16, 32, 64",
                                weights="α ∈ {0.1, 0.3, 0.5, 0.7, 0.9} on the soft term",
                                selection="last-epoch test accuracy; best cell picked on test")
    ours = PROTOCOL.column(run, **roles, seeds=f"one teacher; {len(seeds(run))} student seeds",
                           temperature=", ".join(f"{t:g}" for t in temps),
                           weights="α ∈ {" + ", ".join(f"{a:g}" for a in alphas) + "} on the soft term",
                           selection="last-epoch test accuracy; no cell is picked")
    published, ours = ({**col, "teacher": model_text(TORONTO_TEACHER), "student": model_text(TORONTO_STUDENT)}
                       for col in (published, ours))
    return Card.versus(TORONTO, published, ours, run, ours_label="rerun here", deviations={
        "data": "the smoke profile checks that the code runs",
        "teacher training": "bf16 in the cpu profile, where the CPU has it: 51 students of 1.2 M parameters fit in "
                            "the chapter's 30 minutes only at bf16's speed (full: float32, as published)",
        "precision": "the same reason",
        "epochs": "the smoke profile trains 1 epoch",
        "temperature": "the cpu profile keeps the grid's corners and centre, T ∈ {1, 4, 16, 64} × α ∈ {0.1, 0.5, 0.9} "
                       "(12 of 30 cells): whether T and α move the accuracy at all shows at the extremes, and 30 cells "
                       "× 3 seeds of 784-784 students exceed the chapter's 30 min on 2 cores (full: all 30)",
        "weights": "the same cut",
        "seeds": "three student seeds: a re-run of one grid column in the report moved cells by up to 0.43 points. One "
                 "teacher, as the report trained, teaches them all: the verdicts compare students of one teacher, and "
                 "each CNN teacher costs about 10 of the chapter's 30 minutes on 2 CPU cores",
        "selection": "picking the best of 30 single runs on test flatters it"},
        title=f"MNIST as in {TORONTO}: as published, and rerun here")

