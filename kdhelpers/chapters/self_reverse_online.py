"""The chapter self_reverse_online: reverse distillation, born-again generations and deep mutual learning.

Reverse distillation, tested fairly: a weaker teacher teaches a stronger student, with the
temperature and α tuned on validation for that pair (a short report's ResNet11 → ResNet20 on
CIFAR-10: 91.88 → 92.50 %, one run, no setting given).

* ``cpu``: MNIST; the teacher is a 30-30 MLP on hard labels (about a point below the student), the
  student a 300-300 MLP; the book's MNIST student budget.
* ``full``: CIFAR-10; He et al.'s CIFAR ResNets: the teacher a "ResNet-11" (blocks 2, 1, 1: eleven
  convolutions counting the two projection shortcuts; the report does not define its ResNet11), the
  student ResNet-20 (3, 3, 3), SGD as He et al. (0.1, momentum 0.9, weight decay 1e-4, batch 128,
  × 0.1 after epochs 82 and 123 of 164, crop + flip).

The grid T ∈ {4, 10, 20} × α ∈ {0.1, 0.3, 0.5} is trained with every seed; the cell with the best
mean validation accuracy is reported on test, paired by seed against the student on hard labels.

Teachers and students across time: per-epoch teacher checkpoints (early-stopped teachers) and
born-again generations. Mutual learning's pair and loss are :class:`kdhelpers.models.MutualPair`
and :class:`kdhelpers.losses.MutualLoss`.

* :func:`epoch_checkpoints` trains a model once and keeps it after chosen epochs, through the
  model cache like every other model (:func:`kdbook.trained` with ``checkpoints=``); every
  checkpoint has its own cache key (``run.key_of(checkpoint)``: ``<run key>-epoch<E>``), so students distilled from
  it are cached under their teacher's epoch.
* :func:`born_again_chain` trains generation k + 1 from generation k; each generation is keyed by
  its teacher, so the chain is cached link by link.
"""
from __future__ import annotations

from typing import Callable, Iterable

from torch import nn

from ..budget import Budget, Setting
from ..data import TensorData, cifar10_splits, split
from ..losses import DistillationLoss
from kdbook import mnist, trained
from kdbook.protocol import Protocol
from kdbook.run import Run, as_run
from kdbook.references import Ref

# The short report's numbers (ResNet11 → ResNet20 on CIFAR-10, one run): cited by the hypotheses
# and the results overview
REFERENCES = {"reverse_teacher_acc": Ref(89.68, "short report", "ResNet11, CIFAR-10", "%"),
              "reverse_baseline_acc": Ref(91.88, "short report", "ResNet20, CIFAR-10", "%"),
              "reverse_tuned_acc": Ref("92.50", "short report", "ResNet20 taught by ResNet11, CIFAR-10", "%")}
# the results overview's rows: (experiment, reference, metric key, unit); the report is cited by what it ran
HEADLINES = [
    ("Reverse KD: hard-label student", f"{REFERENCES['reverse_baseline_acc'].number} ({REFERENCES['reverse_baseline_acc'].note})",
     "reverse_baseline_acc", "%"),
    ("… taught by a weaker teacher, T and α tuned on validation",
     f"{REFERENCES['reverse_tuned_acc'].number} ({REFERENCES['reverse_tuned_acc'].note})", "reverse_tuned_acc", "%"),
    ("Born-again generation 1", "—", "born_again_gen1_acc", "%"),
    ("Deep mutual learning, two nets", "—", "dml_mutual_acc", "%"),
]
# the metric keys the chapter must record (tests/test_notebooks.py)
METRIC_KEYS = {f"{m}_acc{s}" for s in ("", "_std") for m in
               ("weak_teacher", "reverse_baseline", "reverse_kd", "reverse_tuned", "born_again_gen0", "born_again_gen1",
                "born_again_gen2", "dml_independent", "dml_mutual")}

REPORT = "a short report (ResNet11 → ResNet20 on CIFAR-10)"
TEMPERATURES, ALPHAS = (4, 10, 20), (0.1, 0.3, 0.5)
HELD_OUT = {"smoke": 300, "cpu": 5000, "full": 5000}  # training images held out to choose (T, α)

# He et al.'s CIFAR schedule (the full profile's reverse distillation, teacher and student alike)
HE_BUDGET = Budget(epochs=164, batch_size=128, lr=0.1, optimizer="sgd", momentum=0.9, weight_decay=1e-4,
                   schedule="multistep", milestones=(82, 123), augment="crop_flip")
# Reverse distillation's protocol: a weak teacher on hard labels, a stronger student taught by it at each
# (T, α) of the grid, both on the same budget: in the laptop profiles 30-30 → 300-300 MLPs on MNIST with
# the book's MNIST student budget (kdbook.mnist.PROTOCOL), in the full profile ResNet-11 → ResNet-20 on
# CIFAR-10 with He et al.'s. The data set, so the input shape, changes with the profile (setting()).
# Born-again generations and mutual learning train kb.mnist students (the shared MNIST protocol).
PROTOCOL = Protocol(
    data={"smoke": f"MNIST: {mnist.SMOKE_TRAIN - HELD_OUT['smoke']:,} training, {HELD_OUT['smoke']:,} validation, "
                   f"{mnist.SMOKE_TEST:,} test images",
          "cpu": f"MNIST: {60_000 - HELD_OUT['cpu']:,} training, {HELD_OUT['cpu']:,} validation, 10,000 test images",
          "full": "CIFAR-10 (JPEG copy): 45,000 training, 5,000 validation, 10,000 test images"},
    models={"teacher": {"smoke": mnist.student_config(30), "cpu": mnist.student_config(30),
                        "full": {"arch": "cifar_resnet_he", "blocks": [2, 1, 1]}},
            "student": {"smoke": mnist.student_config(300), "cpu": mnist.student_config(300),
                        "full": {"arch": "cifar_resnet_he", "blocks": [3, 3, 3]}}},
    budgets={role: {**mnist.PROTOCOL.budgets["student"], "full": HE_BUDGET} for role in ("teacher", "student")},
    loss="(1 − α)·cross-entropy + α·T²·KL at the (T, α) of T ∈ {" + ", ".join(map(str, TEMPERATURES))
         + "} × α ∈ {" + ", ".join(f"{a:g}" for a in ALPHAS) + "} with the best mean validation accuracy")


def setting(run: Run, first_seed: int = 0) -> Setting:
    """Reverse distillation's data, networks, budget and seeds in the run's profile, from :data:`PROTOCOL`
    (the teacher trains on the student's budget)."""
    if run.profile == "full":
        (train, val, test), dataset, input_shape = cifar10_splits(run), "CIFAR-10", (3, 32, 32)
    else:
        full_train, test = mnist.datasets(run)
        (train, val), dataset, input_shape = split(full_train, run.pick(**HELD_OUT), seed=0), "MNIST", mnist.INPUT
    return Setting(dataset, train, val, test, input_shape, PROTOCOL.model("teacher", run), PROTOCOL.model("student", run),
                   PROTOCOL.budget("student", run), PROTOCOL.seed_list(run, first_seed))


def teacher(s: Setting, run: Run, seed: int) -> nn.Module:
    """The weak teacher, trained on hard labels."""
    return trained(f"reverse-teacher-{s.dataset.lower()}", s.teacher_cfg, s.train, s.budget,
                   run=run, seed=seed)


def student(s: Setting, run: Run, seed: int, teacher_model=None, temperature=None, alpha=None) -> nn.Module:
    """The strong student: hard labels, or taught by the weak teacher at (T, α)."""
    loss = None if teacher_model is None else DistillationLoss(temperature, alpha)
    return trained(f"reverse-student-{s.dataset.lower()}", s.student_cfg, s.train, s.budget,
                   run=run, seed=seed, teacher=teacher_model, loss=loss)


# --------------------------------------------------------------------------- teachers and students across time
def epoch_checkpoints(name: str, model_cfg: dict, data: TensorData, budget: Budget, *, epochs: Iterable[int],
                      run: Run, seed: int = 0) -> dict[int, nn.Module]:
    """Train ``model_cfg`` for ``max(epochs)`` epochs once (``budget`` with that many epochs),
    keeping the model after each epoch in ``epochs``; later calls load them from the cache.

    The learning-rate schedule spans the whole run, so the epoch-E checkpoint is the same network
    at epoch E of the long run, not a network trained to completion in E epochs.
    """
    epochs = sorted({int(e) for e in epochs})
    if not epochs or epochs[0] < 1:
        raise ValueError(f"epochs must be positive ints, got {epochs!r}")
    return trained(name, model_cfg, data, budget.replace(epochs=epochs[-1]), run=run, seed=seed,
                   checkpoints=epochs)


def born_again_chain(gen0: nn.Module, make_student: Callable[[nn.Module], nn.Module],
                     generations: int, *, run: Run | None = None) -> list[nn.Module]:
    """``[gen0, gen1, …, gen<generations>]`` where gen k + 1 = ``make_student(gen k)``.

    ``make_student`` should train through :func:`kdbook.trained` (e.g. ``kb.mnist.student`` with
    ``teacher=``), so every generation's cache key names its teacher's key and the chain is
    reused link by link. ``run``: the run that trained them (default: the current one).
    """
    if isinstance(generations, bool) or not isinstance(generations, int) or generations < 1:
        raise ValueError(f"generations must be an int ≥ 1, got {generations!r}")
    run = as_run(run)
    if run.key_of(gen0) is None:
        raise ValueError("gen0 must come from trained() so the next generation's cache key can name it")
    chain = [gen0]
    for k in range(generations):
        student = make_student(chain[-1])
        if run.key_of(student) in (None, run.key_of(chain[-1])):
            raise ValueError(f"generation {k + 1} has no cache key of its own; train it with trained()")
        chain.append(student)
    return chain
