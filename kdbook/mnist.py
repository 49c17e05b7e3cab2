"""Hinton et al. (2015) §3 on MNIST: the shared teacher, students and budgets per profile; each takes the run object.

Every MNIST chapter calls these, so they all reuse one cached teacher and identical students::

    teacher = kb.mnist.teacher("1200-1200", run, seed)
    student = kb.mnist.student(800, run, seed, teacher=teacher,
                               loss=kd.losses.DistillationLoss(temperature=20, alpha=1.0))
"""
from __future__ import annotations

from torch import nn

from kdhelpers.budget import Budget
from kdhelpers.data import TensorData, load_mnist, subset
from .protocol import Protocol
from .run import Run
from kdhelpers.losses import DistillationLoss
from .train import trained

SMOKE_TRAIN, SMOKE_TEST = 2000, 2000
TEACHER = "1200-1200"
INPUT = (1, 28, 28)  # one MNIST image


def hidden_of(arch) -> list[int]:
    """``800`` or ``"800-800"`` → [800, 800]; ``"1200-1200"`` → [1200, 1200]."""
    if isinstance(arch, int) and not isinstance(arch, bool) and arch > 0:
        return [arch, arch]
    if isinstance(arch, str) and all(p.isdigit() and int(p) > 0 for p in arch.split("-")):
        return [int(p) for p in arch.split("-")]
    raise ValueError(f"an MNIST net is a width (800) or widths joined by '-' ('1200-1200'), got {arch!r}")


def _teacher_budget(epochs: int) -> Budget:
    """SGD with momentum on a cosine, jitter ±2 px, max-norm 3.5."""
    return Budget(epochs=epochs, batch_size=128, lr=0.1, optimizer="sgd", momentum=0.9, schedule="cosine",
                  augment="jitter", max_norm=3.5)


def _student_budget(epochs: int) -> Budget:
    """SGD for every student, hard or distilled. Gradient-norm clipping at 1 because at T = 20 the
    T²-scaled soft loss is close to regression onto teacher logits of up to ±40: without it the
    first steps at lr 0.1 left the student at chance (8,990 test errors in a trial; 99 with clipping)."""
    return Budget(epochs=epochs, batch_size=256, lr=0.1, optimizer="sgd", momentum=0.9, schedule="cosine",
                  clip_grad_norm=1.0)


def _teacher_net(dropout: float, input_dropout: float) -> dict:
    return {"arch": "mlp", "hidden": hidden_of(TEACHER), "dropout": dropout, "input_dropout": input_dropout}


# The MNIST protocol every MNIST chapter shares, declared once: networks, budgets, loss, seeds per profile.
# The teacher: ReLU layers with dropout on hidden and input units, max-norm and jitter. The classic rates
# 0.5/0.2 learn slowly: on 55,000 training images with 5,000 held out, 0.3/0.1 for 150 epochs made 37
# validation errors and 0.5/0.2 for 300 epochs 52 (benchmarks/mnist_teacher_budget.py, 2026-11-23), so
# the cpu profile trains 0.3/0.1; the full profile keeps the dropout paper's rates (Hinton et al. 2012;
# the 2015 paper states none) with a longer schedule.
PROTOCOL = Protocol(
    data={"smoke": f"MNIST: {SMOKE_TRAIN:,} training images, {SMOKE_TEST:,} test images",
          "cpu": "MNIST: 60,000 training images, 10,000 test images",
          "full": "MNIST: 60,000 training images, 10,000 test images"},
    models={"teacher": {"smoke": _teacher_net(0.3, 0.1), "cpu": _teacher_net(0.3, 0.1), "full": _teacher_net(0.5, 0.2)},
            "student": {"arch": "mlp", "hidden": [800, 800]}},  # ReLU, no regularisation; other widths by name
    budgets={"teacher": {"smoke": _teacher_budget(2), "cpu": _teacher_budget(150), "full": _teacher_budget(500)},
             "student": {"smoke": _student_budget(2), "cpu": _student_budget(20), "full": _student_budget(100)}},
    loss=DistillationLoss(20, alpha=1.0), seeds=3, input_shape=INPUT)


def teacher_config(run: Run, arch=TEACHER) -> dict:
    """The protocol's teacher in the run's profile, with the widths of ``arch``."""
    return PROTOCOL.model("teacher", run, hidden=hidden_of(arch))


def student_config(width) -> dict:
    """Two hidden layers of ``width`` ReLU units (or the widths of ``"a-b"``), no regularisation."""
    return {"arch": "mlp", "hidden": hidden_of(width)}


def datasets(run: Run, smoke: tuple[int, int] = (SMOKE_TRAIN, SMOKE_TEST)) -> tuple[TensorData, TensorData]:
    """(train, test): all 60k/10k in cpu/full; in smoke ``smoke`` random images of each (2k, 2k)."""
    train, test = load_mnist(True), load_mnist(False)
    if run.profile == "smoke":
        train, test = subset(train, smoke[0], seed=0), subset(test, smoke[1], seed=0)
    return train, test


def teacher_budget(run: Run) -> Budget:
    """The teacher's: 150 epochs (cpu), 500 (full)."""
    return PROTOCOL.budget("teacher", run)


def student_budget(run: Run) -> Budget:
    """Every student's, hard or distilled: 20 epochs (cpu), 100 (full)."""
    return PROTOCOL.budget("student", run)


def teacher(arch, run: Run, seed: int = 0, *, transfer: TensorData | None = None,
            budget: Budget | None = None) -> nn.Module:
    """The teacher (``"1200-1200"``) on all training cases, from the cache after the first run."""
    transfer = datasets(run)[0] if transfer is None else transfer
    name = "mnist-teacher" if hidden_of(arch) == [1200, 1200] else f"mnist-teacher{'-'.join(map(str, hidden_of(arch)))}"
    return trained(name, teacher_config(run, arch), transfer, budget or teacher_budget(run),
                   run=run, seed=seed)


def student(arch, run: Run, seed: int = 0, *, transfer: TensorData | None = None,
            teacher: nn.Module | None = None, loss: nn.Module | None = None,
            budget: Budget | None = None) -> nn.Module:
    """A student (``800`` = 800-800) trained on ``transfer`` (default: the training set): on hard
    labels without a teacher, else distilled with ``loss`` (a :mod:`kdhelpers.losses` module)."""
    if teacher is not None and loss is None:
        raise ValueError("a distilled student needs its loss, e.g. kd.losses.DistillationLoss(temperature=20, alpha=1.0)")
    transfer = datasets(run)[0] if transfer is None else transfer
    width = "-".join(map(str, hidden_of(arch))) if len(set(hidden_of(arch))) > 1 else hidden_of(arch)[0]
    kind = "hard" if loss is None else ("distilled" if type(loss).__name__ == "DistillationLoss"
                                        else type(loss).__name__.lower())
    return trained(f"mnist-student{width}-{kind}", student_config(arch), transfer, budget or student_budget(run),
                   run=run, seed=seed, teacher=teacher, loss=loss)
