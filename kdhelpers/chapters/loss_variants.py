"""KL against MSE, compared fairly: every loss gets its own learning rate (and is tried with and
without gradient clipping), chosen on validation, and is trained until its curve flattens.

The hypotheses under test come from Kim et al. (2021), shown in the lecture slides: on CIFAR-100,
WRN-16-4 → WRN-16-2, KL at τ = 3 gives 74.84 %, KL at τ = 20 75.42 %, MSE between logits 75.58 %,
hard labels 72.68 %. The notebook declares and judges them. Their MSE is ‖z_s − z_t‖² on the logits
with no label term (α = 1), which :class:`kdhelpers.losses.LogitMSE` ``(alpha=1, scale=1)`` computes
as ``F.mse_loss``: the mean over the batch *and* the classes (1/10 or 1/100 of the squared norm);
the learning-rate grid absorbs the constant.

* ``cpu``: MNIST, the book's 1200-1200 teacher, 100-100 students, SGD with momentum on a cosine,
  a grid of learning rates × {no clipping, clipping at 1}, chosen on 5,000 held-out training images.
* ``full``: Kim et al.'s own setting: CIFAR-100 (torchvision's download), a WRN-16-4 teacher and a
  WRN-16-2 student, their schedule (SGD 0.1, Nesterov, weight decay 5e-4, batch 128, 200 epochs,
  × 0.1 after epochs 100 and 150, crop + flip), with a small grid around their rate.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .. import budget as budgets
from ..budget import Budget
from ..data import load_cifar100, split
from ..losses import DistillationLoss, LogitMSE
from kdbook import mnist, trained
from kdbook.protocol import PROFILE_KEYS, Card, Protocol, describe
from kdbook.run import Run
from kdbook.references import Ref

# Kim et al. (2021), CIFAR-100, WRN teacher and student: cited by the hypotheses and the results overview
REFERENCES = {"hard_tuned_acc": Ref(72.68, "Kim et al. 2021", unit="%"),
              "kl_T3_tuned_acc": Ref(74.84, "Kim et al. 2021", unit="%"),
              "kl_T20_tuned_acc": Ref(75.42, "Kim et al. 2021", unit="%"),
              "mse_logits_tuned_acc": Ref(75.58, "Kim et al. 2021", unit="%")}
# the results overview's rows: (experiment, reference, metric key, unit)
HEADLINES = [
    ("KL at τ = 3, each loss at its own tuned rate", REFERENCES["kl_T3_tuned_acc"].cite("CIFAR-100 WRN"), "kl_T3_tuned_acc", "%"),
    ("… KL at τ = 20", str(REFERENCES["kl_T20_tuned_acc"]), "kl_T20_tuned_acc", "%"),
    ("… MSE between logits", str(REFERENCES["mse_logits_tuned_acc"]), "mse_logits_tuned_acc", "%"),
]
# the metric keys the chapter must record (tests/test_notebooks.py)
METRIC_KEYS = ({f"{k}{s}" for s in ("_acc", "_acc_std") for k in
                ("hard_only", *(f"{v}{h}" for h in ("", "_hard") for v in
                                ("kl_T3", "kl_T20", "soft_ce_T3", "mse_logits", "cosine_probs_T3")))}
               | {f"{k}_tuned_{s}" for k in ("hard", "kl_T3", "kl_T20", "mse_logits") for s in ("acc", "acc_std", "lr")})

# Kim et al.'s three orderings and distillation itself, each (a, b): "a beats b" at tuned rates. A seed's
# students start from the same weights and see the same batches under every loss, so the notebook
# compares them seed by seed; the ends of each per-seed interval are recorded as metrics too.
ORDERINGS = (("mse_logits", "kl_T3"), ("mse_logits", "kl_T20"), ("kl_T20", "kl_T3"), ("kl_T3", "hard"))


def paired_key(a: str, b: str, end: str = "lo95") -> str:
    """The metric key of one end of the 95 % interval of a − b, per seed, at tuned rates."""
    return f"{a}_minus_{b}_tuned_{end}"


METRIC_KEYS |= {paired_key(a, b, end) for a, b in ORDERINGS for end in ("lo95", "hi95")}

KIM = "Kim et al. (2021)"
LOSS_NAMES = ("hard", "kl_T3", "kl_T20", "mse_logits")  # part of the cache keys: keep
# how the page names each loss (part 1's variants and part 2's losses)
LABELS = {"hard_only": "hard labels only", "hard": "hard labels", "kl_T3": "KL, T = 3",
          "kl_T20": "KL, T = 20", "soft_ce_T3": "soft CE, T = 3, no T²",
          "mse_logits": "MSE of logits", "cosine_probs_T3": "cosine, T = 3"}
LOSS_TEXT = "KL at τ = 3 or 20 (×τ²), or MSE between logits"
WEIGHTS_TEXT = "soft term only (α = 1), no labels"

# Kim et al.'s setting as published (the full profile runs it): WRN-16-4 → WRN-16-2 on CIFAR-100,
# one schedule for both networks
KIM_TEACHER, KIM_STUDENT = {"arch": "wrn", "depth": 16, "k": 4}, {"arch": "wrn", "depth": 16, "k": 2}
KIM_NAMES = {"teacher": "WRN-16-4, cross-entropy", "student": "WRN-16-2"}  # the card's names for them
KIM_BUDGET = Budget(epochs=200, batch_size=128, lr=0.1, optimizer="sgd", momentum=0.9, nesterov=True,
                    weight_decay=5e-4, schedule="multistep", milestones=(100, 150), augment="crop_flip")

# Part 2, the fair comparison, per profile: the training images held out to choose each loss's rate,
# and the grids of learning rates and gradient clipping it chooses from
HELD_OUT = {"smoke": 300, "cpu": 5000, "full": 5000}
LRS = {"smoke": (0.1,), "cpu": (0.01, 0.03, 0.1, 0.3), "full": (0.05, 0.1, 0.2)}
CLIPS = {"smoke": (None, 1.0), "cpu": (None, 1.0), "full": (None,)}


def _mnist(entry, full):
    """A role of the shared MNIST protocol in the laptop profiles, ``full`` in the full profile."""
    return {p: entry[p] if isinstance(entry, dict) and set(entry) == PROFILE_KEYS else entry
            for p in ("smoke", "cpu")} | {"full": full}


def _sgd(epochs: int) -> Budget:
    """SGD with momentum on a cosine to 0, batch 256 (the book's MNIST students, without clipping)."""
    return Budget(epochs=epochs, batch_size=256, lr=0.1, optimizer="sgd", momentum=0.9, schedule="cosine")


_MLP100 = {"arch": "mlp", "hidden": [100, 100]}
# Part 2's protocol: Kim et al.'s setting with a validation split in the full profile; in the laptop
# profiles the book's MNIST teacher (kdbook.mnist.PROTOCOL) and 100-100 students, SGD on a cosine over
# 40 epochs (every curve has flattened by then). The data set, so the input shape, changes with the
# profile (setting()). Part 1 (one shared budget for every loss) trains kb.mnist students of the
# notebook's width and budget.
PROTOCOL = Protocol(
    data={"smoke": f"MNIST: {mnist.SMOKE_TRAIN - HELD_OUT['smoke']:,} training, {HELD_OUT['smoke']:,} validation, "
                   f"{mnist.SMOKE_TEST:,} test images",
          "cpu": f"MNIST: {60_000 - HELD_OUT['cpu']:,} training, {HELD_OUT['cpu']:,} validation, 10,000 test images",
          "full": f"CIFAR-100 ({HELD_OUT['full']:,} of the training images held out)"},
    models={"teacher": _mnist(mnist.PROTOCOL.models["teacher"], KIM_TEACHER),
            "student": {"smoke": _MLP100, "cpu": _MLP100, "full": KIM_STUDENT}},
    budgets={"teacher": _mnist(mnist.PROTOCOL.budgets["teacher"], KIM_BUDGET),
             "student": {"smoke": _sgd(2), "cpu": _sgd(40), "full": KIM_BUDGET}},
    loss=LOSS_TEXT)  # seeds: 2 (smoke), 3 (cpu, full)


def losses() -> dict:
    """The compared losses: hard labels, Hinton's T²·KL at τ = 3 and 20, Kim et al.'s logit MSE."""
    return {"hard": None, "kl_T3": DistillationLoss(3, alpha=1.0), "kl_T20": DistillationLoss(20, alpha=1.0),
            "mse_logits": LogitMSE(alpha=1.0, scale=1.0)}


@dataclass
class Setting(budgets.Setting):
    """What the fair comparison trains on in one profile (:class:`kdhelpers.budget.Setting`), with
    the teacher's own budget and the grids of learning rates and gradient clipping."""
    teacher_budget: Budget
    lrs: tuple
    clips: tuple


def setting(run: Run, first_seed: int = 0) -> Setting:
    """Part 2's data, networks, budgets, seeds and grids in the run's profile, from :data:`PROTOCOL`."""
    if run.profile == "full":
        full_train, test = load_cifar100(True), load_cifar100(False)
        dataset, input_shape = "CIFAR-100", (3, 32, 32)
    else:
        full_train, test = mnist.datasets(run)
        dataset, input_shape = "MNIST", mnist.INPUT
    train, val = split(full_train, run.pick(**HELD_OUT), seed=0)
    return Setting(dataset, train, val, test, input_shape, PROTOCOL.model("teacher", run),
                   PROTOCOL.model("student", run), PROTOCOL.budget("student", run), PROTOCOL.seed_list(run, first_seed),
                   teacher_budget=PROTOCOL.budget("teacher", run), lrs=run.pick(**LRS), clips=run.pick(**CLIPS))


def teacher(s: Setting, run: Run, seed: int = 0) -> nn.Module:
    """The teacher: the book's MNIST teacher (cached), or a WRN-16-4 trained with cross-entropy."""
    if s.dataset == "MNIST":
        return mnist.teacher("1200-1200", run, seed)
    return trained("kim-wrn16-4", s.teacher_cfg, s.train, s.teacher_budget, run=run, seed=seed)


def student(s: Setting, loss_name: str, lr: float, clip, run: Run, seed: int, teacher_model) -> nn.Module:
    """One student of the comparison; its validation accuracy after every epoch is
    ``run.history_of(student)``."""
    if loss_name not in LOSS_NAMES:
        raise ValueError(f"loss must be one of {LOSS_NAMES}, got {loss_name!r}")
    loss = losses()[loss_name]
    budget = s.budget.replace(lr=lr, clip_grad_norm=clip)
    return trained(f"klmse-{s.dataset.lower()}-{loss_name}", s.student_cfg, s.train, budget,
                   run=run, seed=seed, teacher=None if loss is None else teacher_model,
                   loss=loss, track=s.val)


def card(run: Run):
    """Kim et al.'s setting beside this chapter's part 2 in the run's profile (:data:`PROTOCOL`)."""
    p = run.profile
    published = describe(data="CIFAR-100: 50,000 training, 10,000 test images", **KIM_NAMES, budget=KIM_BUDGET,
                         loss=LOSS_TEXT, weights=WEIGHTS_TEXT, seeds="not stated",
                         selection="one learning rate for every loss")
    if p == "full":
        ours = PROTOCOL.column(run, teacher=None, weights=WEIGHTS_TEXT, selection="learning rate per loss from {"
                               + ", ".join(f"{lr:g}" for lr in run.pick(**LRS)) + "}, on validation")
        ours.update(KIM_NAMES)  # the WRNs by name, as the source gives them
        dev = {"data": "a validation split to choose each loss's learning rate",
               "seeds": "three seeds", "selection": "a loss whose scale differs needs its own rate"}
    else:
        ours = PROTOCOL.column(run, teacher_budget=None, weights=WEIGHTS_TEXT,
                               other="gradient-norm clipping at 1 or none, chosen on validation",
                               selection="learning rate from " + ", ".join(f"{lr:g}" for lr in run.pick(**LRS))
                                         + " and clipping, per loss, on validation (seed 0); then every seed at that choice")
        dev = {"data": "a 2-core laptop cannot train 200 epochs of WRNs on CIFAR-100 (the full profile does)",
               "teacher": "the book's MNIST teacher", "student": "a 100-100 MLP, small enough to train every loss "
               "at four rates, with and without clipping", "optimiser": "SGD as Kim et al., without Nesterov",
               "schedule": "a cosine to 0 over 40 epochs: every curve has flattened by its end",
               "epochs": "40 epochs on MNIST (the curves below)", "batch": "the book's MNIST student budget",
               "learning rate": "chosen per loss", "augmentation": "no augmentation on MNIST",
               "other": "each loss may need clipping or not; both are tried",
               "seeds": "three seeds", "selection": "a loss whose scale differs needs its own rate"}
    return Card.versus(KIM, published, ours, run, deviations=dev,
                title=f"KL against MSE: {KIM}'s setting, and this chapter's")
