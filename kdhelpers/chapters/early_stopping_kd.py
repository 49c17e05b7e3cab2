"""Early-stopped teachers, as the Toronto report tested them (after Cho & Hariharan, 2019).

The report trained its CNN teacher afresh for each of 1 … 11 epochs (its table) with Adam at a
constant rate, then distilled a 784-784 MLP student from each (T = 4, α = 0.5, 12 epochs), one run
each, and picked epoch 4 on the test set. With a constant rate, a run stopped after E epochs *is*
the epoch-E checkpoint of a longer run with the same seed (nothing in Adam's state or the batch
order depends on the run's length; ``tests/test_early_stopping.py`` checks it bit for bit), so one
run per seed, checkpointed after every epoch, gives every early-stopped teacher of that seed.

The report's networks ended in a softmax that its losses then treated as logits (see
:mod:`kdhelpers.chapters.sources_unsw_toronto`); here the teacher and the student output logits, so the
comparison of teacher epochs is not masked by that defect.
"""
from __future__ import annotations

import copy

from torch import nn

from ..budget import Budget
from ..data import TensorData, split
from ..losses import DistillationLoss
from kdbook.mnist import INPUT, datasets
from kdbook.train import trained_as
from kdbook.run import Run
from kdbook.protocol import Card, Protocol, budget_line, describe
from kdbook.references import Ref

# The Toronto report's numbers (one run each) and Cho & Hariharan's finding: cited by the overview
REFERENCES = {"early_minus_last_student_acc": Ref("+0.18", "Toronto report", "epoch 4 against epoch 11"),
              "early_teacher_student_acc": Ref(97.88, "Toronto report", "epoch 4", "%"),
              "last_teacher_student_acc": Ref("97.70", "Toronto report", "epoch 11", "%"),
              "hard_student_acc": Ref("97.20", "Toronto report", unit="%"),
              "teacher_acc": Ref("98.78", "Toronto report", "12 epochs", "%"),
              "early_stopped_teachers": Ref("> 0", "Cho & Hariharan 2019")}
# the results overview's rows: (experiment, reference, metric key, unit)
HEADLINES = [
    ("Student from the epoch-4 teacher minus from the last epoch's, points",
     f"{REFERENCES['early_minus_last_student_acc'].cite('one run')}; {REFERENCES['early_stopped_teachers']}",
     "early_minus_last_student_acc", "pts"),
]
# the metric keys the chapter must record (tests/test_notebooks.py)
METRIC_KEYS = ({f"teacher_epoch{e}_{w}_acc" for e in (1, 2) for w in ("teacher", "student")}
               | {"best_teacher_epoch", "hard_student_acc", "hard_student_acc_std", "best_minus_last_student_acc",
                  "best_minus_last_student_acc_std", "early_teacher_epoch", "early_minus_last_student_acc",
                  "early_minus_last_student_acc_std", "first_teacher_epoch", "last_teacher_epoch"})

TORONTO = "the Toronto report (2022)"
TEACHER = {"arch": "toronto_cnn"}
STUDENT = {"arch": "keras_mlp", "hidden": [784, 784]}
T, ALPHA = 4.0, 0.5
EARLY = 4  # the teacher epoch the report chose (on its test set)
# The teacher epochs a student learns from. full: every epoch of 1 … 12 (the report's 1 … 11 and the
# 12th of its teacher's own run). cpu: 1, 2, 3, 4, 6, 8, 12: dense up to the report's chosen epoch 4,
# sparser after, always the last; 13 students per seed do not fit the chapter's 30 minutes on 2 CPU
# cores, 8 do.
TEACHER_EPOCHS = {"smoke": [1, 2], "cpu": [1, 2, 3, 4, 6, 8, 12], "full": list(range(1, 13))}
STUDENT_EPOCHS = {"smoke": 1, "cpu": 12, "full": 12}
DATA = "MNIST: 55,000 training, 5,000 validation, 10,000 test images"


def _adam(epochs: int) -> Budget:
    """The report's Adam 1e-3 (Keras ε 1e-7), batch 256, a constant rate; bf16 where fast."""
    return Budget.keras_adam(epochs, 256)


# The chapter's protocol, declared once: the report's networks (outputting logits), one teacher run
# kept after each of TEACHER_EPOCHS, students of T = 4, α = 0.5 for 12 epochs, seeds per profile.
PROTOCOL = Protocol(
    data={"smoke": "MNIST, 1,700 / 300 / 2,000 images", "cpu": DATA, "full": DATA},
    models={"teacher": TEACHER, "student": STUDENT},
    budgets={"teacher": {p: _adam(es[-1]) for p, es in TEACHER_EPOCHS.items()},  # one run to the last kept epoch
             "student": {p: _adam(e) for p, e in STUDENT_EPOCHS.items()}},
    loss=DistillationLoss(T, ALPHA), seeds={"smoke": 2, "cpu": 5, "full": 10}, input_shape=INPUT)


def epochs(run: Run) -> list[int]:
    """The teacher epochs a student learns from (:data:`TEACHER_EPOCHS`): ``full``: 1 … 12, ``cpu``:
    1, 2, 3, 4, 6, 8, 12."""
    return list(run.pick(**TEACHER_EPOCHS))


def early_epoch(run: Run) -> int:
    """The early-stopped teacher compared with the last one: the report's epoch 4 (the smoke
    profile, whose teacher stops after 2 epochs, takes its first)."""
    kept = epochs(run)
    return EARLY if EARLY in kept[:-1] else kept[0]


def seeds(run: Run, first: int = 0) -> list[int]:
    """2 seeds (smoke), 5 (cpu), 10 (full)."""
    return PROTOCOL.seed_list(run, first)


def budget(run: Run, n_epochs: int | None = None) -> Budget:
    """The report's Adam 1e-3 (Keras ε 1e-7), batch 256, a constant rate; bf16 where fast: the
    students' (:data:`PROTOCOL`), or ``n_epochs`` of it."""
    b = PROTOCOL.budget("student", run)
    return b.replace(epochs=n_epochs) if n_epochs else b


def data(run: Run) -> tuple[TensorData, TensorData, TensorData]:
    """(fit, validation, test): 5,000 training images held out to pick the teacher epoch."""
    train, test = datasets(run)
    fit_set, val = split(train, run.pick(smoke=300, cpu=5000, full=5000), seed=0)
    return fit_set, val, test


def teachers(run: Run, seed: int, transfer: TensorData) -> dict[int, nn.Module]:
    """One teacher run of ``max(epochs)`` epochs at a constant rate, kept after each of
    :func:`epochs` (one run, as the report's: its teachers trained afresh for E epochs are exactly
    these checkpoints)."""
    return trained_as(PROTOCOL, "teacher", "toronto-cnn-epochs", transfer, run=run, seed=seed, checkpoints=epochs(run))


def student(run: Run, seed: int, transfer: TensorData, teacher: nn.Module | None = None) -> nn.Module:
    """The 784-784 student: hard labels, or T = 4, α = 0.5 from ``teacher``, 12 epochs."""
    return trained_as(PROTOCOL, "student", "toronto-student784", transfer, run=run, seed=seed, teacher=teacher,
                      loss=None if teacher is None else copy.deepcopy(PROTOCOL.loss))


def prefetch_teachers(run: Run, seed: int) -> None:
    """Train (into the model cache) the teacher run of ``seed``: for :func:`kdbook.parallel.prefetch`."""
    teachers(run, seed, data(run)[0])


def prefetch_students(run: Run, pairs, teacher_seed: int) -> None:
    """Train (into the model cache) the students of ``pairs`` ``(student seed, teacher epoch)``, an
    epoch of None for the hard-label student, from the kept teachers of run ``teacher_seed``."""
    fit_set = data(run)[0]
    kept = teachers(run, teacher_seed, fit_set) if any(e is not None for _, e in pairs) else {}
    for s, e in pairs:
        student(run, s, fit_set, None if e is None else kept[e])


def card(run: Run):
    """The Toronto report as published (quoted; its student, loss and budget are :data:`PROTOCOL`'s in
    the full profile) beside this chapter (:data:`PROTOCOL` in ``run``'s profile)."""
    p, full = run.profile, Run(profile="full")
    published = describe(data="MNIST: 60,000 training, 10,000 test images",
                         teacher=PROTOCOL.model("teacher", full, softmax_output=True),
                         teacher_training="trained afresh for each of 1 … 11 epochs (its table), Adam 1e-3, "
                                          "batch 256",
                         seeds="one run per teacher epoch", selection="teacher epoch picked on the test set (epoch 4)",
                         student=PROTOCOL.model("student", full), loss=PROTOCOL.loss,
                         budget=PROTOCOL.budget("student", full))
    ours = PROTOCOL.column(
        run, teacher_training=f"one run, kept after epochs {', '.join(map(str, epochs(run)))} (the same "
                              "networks at a constant rate), " + budget_line(PROTOCOL.budget("teacher", run)),
        seeds=f"one teacher run; {len(seeds(run))} student seeds per teacher epoch",
        selection=f"the report's epoch {EARLY} against the last, declared before the run; the epoch that "
                  "the students' validation accuracy picks is shown beside it")
    return Card.versus(TORONTO, published, ours, run, deviations={
        "data": "5,000 training images held out to choose the teacher epoch",
        "teacher": "its softmax output fed to losses as logits (a defect, see sources_unsw_toronto): logits here",
        "epochs": "the smoke profile trains 1 epoch", "precision": "bf16 where the CPU has it",
        "seeds": "five student seeds per teacher epoch: the report's 11 single runs spanned 0.75 points, its own "
                 "repeat noise. One teacher run, as the report's (a CNN run costs 8 of the chapter's 30 minutes "
                 "on 2 CPU cores): the verdicts are about the students of this teacher",
        "teacher training": "with a constant rate, stopping after E epochs gives the epoch-E checkpoint exactly; the "
                            "cpu profile distils from epochs 1, 2, 3, 4, 6, 8 and 12 (dense up to the report's epoch 4, "
                            "always the last) so that the students fit the chapter's 30 minutes",
        "selection": "choosing on test flatters the chosen epoch: new seeds test the report's choice"},
        title=f"Early-stopped teachers: {TORONTO} as published, and this chapter")
