"""The Keras ``Distiller`` example (MNIST) from the lecture slides, rerun in PyTorch as published.

Its teacher: Conv2D(256, 3×3, stride 2, same) → LeakyReLU(0.2) → MaxPool(2×2, stride 1, same) →
Conv2D(512, 3×3, stride 2, same) → Flatten → Dense(10); its student the same with 16 and 32 filters.
Both train with Keras's Adam (lr 1e-3, ε 1e-7, added to √v before the bias correction as Keras does:
:class:`KerasDistillerNet`) at Keras's default batch of 32 (the slides define
``batch_size = 64`` but never pass it to ``fit``): the teacher 5 epochs on the labels, the student 3
epochs distilled at T = 10 with Keras's ``alpha = 0.1``, which weights the *hard* term, so α = 0.9 in
this book. The upstream example also trains a scratch student for 3 epochs. Teacher run ``s`` teaches
the students of seed ``s``::

    teacher = K.teacher(run, seed)
    student = K.student(run, seed, teacher=teacher, loss=K.book_loss())
"""
from __future__ import annotations

import copy
import math

import pandas as pd
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from ..budget import Budget
from ..data import TensorData
from ..device import precision_name, seed_everything
from ..losses import CrossEntropy, DistillationLoss, KerasDistillerLoss
from ..models import build_model, count_params
from ..models.keras import KerasConvNet
from ..models.registry import register
from ..train import fit, predict_logits
from kdbook import mnist
from kdbook.cache import load_or_train
from kdbook.train import trained_as
from kdbook.run import Run
from kdbook.protocol import Card, Protocol
from kdbook.references import Ref

# The accuracies the Keras example's text expects: cited by the hypotheses and the results overview
REFERENCES = {"keras_teacher_acc": Ref(97.6, "Keras example", unit="%", approx=True),
              "keras_student_scratch_acc": Ref(97.6, "Keras example", unit="%", approx=True),
              "keras_student_kd_acc": Ref(98.1, "Keras example", unit="%", approx=True)}
# the results overview's rows: (experiment, reference, metric key, unit)
HEADLINES = [(label, str(REFERENCES[key]), key, "%") for label, key in (
    ("Keras example: teacher, 5 epochs", "keras_teacher_acc"),
    ("… student from scratch, 3 epochs", "keras_student_scratch_acc"),
    ("… student distilled, Keras alpha = 0.1 (α = 0.9)", "keras_student_kd_acc"))]
# the metric keys the chapter must record (tests/test_notebooks.py)
METRIC_KEYS = {f"keras_{k}_acc{s}" for k in ("teacher", "student_scratch", "student_kd", "student_kd_swapped_alpha")
               for s in ("", "_std")}

SOURCE = "the Keras example (lecture slides)"
# keras_distiller_convnet: the keras_convnet networks trained with Keras's ε placement in Adam
# (KerasDistillerNet, keras_adam_epsilon); a name of its own, so it keys the model cache (models trained
# with torch's placement are not reused)
TEACHER = {"arch": "keras_distiller_convnet", "filters": [256, 512]}
STUDENT = {"arch": "keras_distiller_convnet", "filters": [16, 32]}
TEMPERATURE = 10.0
KERAS_ALPHA = 0.1  # Keras's alpha: the weight of the hard-label loss
SMOKE_TRAIN, SMOKE_TEST = 500, 500
DATA = "MNIST scaled to [0, 1], 28×28×1: 60,000 training images, 10,000 test images; no validation split"

# The chapter's protocol, declared once: the example's networks, budgets and loss (in the book's
# convention: α = 1 − Keras's alpha on the soft term), as published in the full profile.
PROTOCOL = Protocol(
    data={"smoke": f"MNIST scaled to [0, 1], 28×28×1: {SMOKE_TRAIN} training images, {SMOKE_TEST} test images",
          "cpu": DATA, "full": DATA},
    models={"teacher": TEACHER, "student": STUDENT},
    budgets={
        # keras.optimizers.Adam() at fit()'s batch 32, 5 epochs, float32 as published. Keras adds ε to √v
        # before the bias correction: KerasDistillerNet makes torch's Adam do the same. The cpu profile
        # trains in bf16 where the CPU has it: one float32 epoch of this teacher took 2.8–3.3 min on one
        # core (bf16: 1.8–2.2)
        "teacher": {p: Budget.keras_adam(e, precision=prec)
                    for p, e, prec in (("smoke", 1, "float32"), ("cpu", 5, "auto"), ("full", 5, "float32"))},
        # 3 epochs, float32 in every profile (the student is tiny: seconds per epoch)
        "student": {p: Budget.keras_adam(e, precision="float32") for p, e in (("smoke", 1), ("cpu", 3), ("full", 3))}},
    loss=DistillationLoss(TEMPERATURE, alpha=1 - KERAS_ALPHA),
    seeds={"smoke": 2, "cpu": 3, "full": 5}, input_shape=mnist.INPUT)


def keras_adam_epsilon(optimizer, args=None, kwargs=None) -> None:
    """Keras's Adam on the parameter groups marked ``keras_adam``: a step pre-hook on every torch
    optimiser (registered below, when this module is imported; it leaves every other group alone).

    Keras's Adam steps w −= lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε): ε is added to √v *before* the bias
    correction. torch's adds it after: w −= lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε). The two are the same
    step when torch's ε is ε/√(1 − β₂ᵗ): with Keras's ε = 1e-7 that is 3.2e-6 at the first step, 1e-6 at
    the tenth, 1.3e-7 at the thousandth. Measured on the Keras example's student, 5 distillation steps with
    the same gradients fed to both (benchmarks/keras_step_compare.py): torch's placement leaves the weights
    1.3 % (trained teacher) to 6.6 % (teacher as initialised) of the update away from Keras's, up to 0.77·lr
    for single weights with tiny gradients; this one 7.8e-6 (float32 rounding). The group keeps the
    budget's ε as ``keras_eps`` and counts its steps in ``keras_step`` (both travel with the optimiser's
    state_dict)."""
    for group in optimizer.param_groups:
        if not group.get("keras_adam") or "betas" not in group or "eps" not in group:
            continue
        base = group.setdefault("keras_eps", group["eps"])
        group["keras_step"] = t = group.get("keras_step", 0) + 1
        group["eps"] = base / math.sqrt(1.0 - group["betas"][1] ** t)


register_optimizer_step_pre_hook(keras_adam_epsilon)


@register("keras_distiller_convnet")
class KerasDistillerNet(KerasConvNet):
    """The example's networks (:class:`~kdhelpers.models.keras.KerasConvNet`), trained as Keras trains
    them: an Adam budget steps them with Keras's ε placement (:func:`keras_adam_epsilon`) unless
    ``keras_adam=False`` (torch's placement, for comparison)."""

    def __init__(self, filters=(256, 512), n_classes: int = 10, keras_adam: bool = True):
        super().__init__(filters, n_classes)
        self.keras_adam = bool(keras_adam)

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """One group (``kd.fit`` asks for it), marked for Keras's Adam if ``keras_adam``."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr,
                 "weight_decay": weight_decay, "keras_adam": self.keras_adam}]


def seeds(run: Run, first: int = 0) -> list[int]:
    """2 seeds (smoke), 3 (cpu), 5 (full)."""
    return PROTOCOL.seed_list(run, first)


def datasets(run: Run) -> tuple[TensorData, TensorData]:
    """MNIST scaled to [0, 1], 28×28×1, no augmentation: all 60k/10k; 500 of each in smoke."""
    return mnist.datasets(run, smoke=(SMOKE_TRAIN, SMOKE_TEST))


def teacher_budget(run: Run) -> Budget:
    """5 epochs, float32 as published. The cpu profile trains in bf16 where the CPU has it: one float32
    epoch of this teacher took 2.8–3.3 min on one core (bf16: 1.8–2.2). One teacher serves every
    student seed (:func:`teacher`), as in the example: three would cost 19 min in bf16 on two cores,
    more than the profile's 15."""
    return PROTOCOL.budget("teacher", run)


def student_budget(run: Run) -> Budget:
    """3 epochs, float32 in every profile (the student is tiny: seconds per epoch)."""
    return PROTOCOL.budget("student", run)


def keras_loss() -> KerasDistillerLoss:
    """The example's loss as its code computes it: Keras alpha = 0.1 on the labels, T = 10."""
    return KerasDistillerLoss(alpha=KERAS_ALPHA, temperature=TEMPERATURE)


def book_loss() -> DistillationLoss:
    """The same loss in the book's convention: α = 1 − Keras's alpha = 0.9 on the soft term."""
    return copy.deepcopy(PROTOCOL.loss)


def swapped_loss() -> DistillationLoss:
    """Keras's 0.1 copied into Hinton's formula: α = 0.1 on the soft term, 0.9 on the labels."""
    return DistillationLoss(TEMPERATURE, alpha=KERAS_ALPHA)


def teacher(run: Run, seed: int = 0, *, transfer: TensorData | None = None,
            budget: Budget | None = None) -> nn.Module:
    """The example's teacher trained on the labels of ``transfer`` (default: all training images), cached.
    The chapter trains one, with its first seed, and it teaches the students of every seed: the example
    has one teacher, and the seeds measure the students' spread."""
    transfer = datasets(run)[0] if transfer is None else transfer
    return trained_as(PROTOCOL, "teacher", "keras-teacher", transfer, run=run, seed=seed, budget=budget)


def student(run: Run, seed: int = 0, *, transfer: TensorData | None = None, teacher: nn.Module | None = None,
            loss: nn.Module | None = None, budget: Budget | None = None) -> nn.Module:
    """The example's student: from scratch on the labels without a teacher, else distilled with
    ``loss`` (e.g. :func:`book_loss`, :func:`swapped_loss`), cached."""
    if (teacher is None) != (loss is None):
        raise ValueError("give a teacher and a distillation loss together (or neither, for the scratch student)")
    transfer = datasets(run)[0] if transfer is None else transfer
    kind = "scratch" if loss is None else type(loss).__name__.lower()
    return trained_as(PROTOCOL, "student", f"keras-student-{kind}", transfer, run=run, seed=seed, budget=budget,
                      teacher=teacher, loss=loss)


class CoTrained(nn.Module):
    """The student and the teacher as the Keras 3 ``Distiller`` trains them: its ``compute_loss`` calls the
    teacher inside the gradient computation and ``Distiller.trainable_weights`` hold the teacher's weights,
    so ``fit`` steps both with one Adam on the one loss, the teacher through the soft term alone (Keras 2's
    version of the example stepped the student's weights only). Adam moves every teacher weight by about
    lr a step whatever its gradient: the example's trained teacher (97.6 % on 1,000 test images) is at
    22 % after the first 20 steps (benchmarks/keras_step_compare.py). The forward pass returns both
    networks' logits; :class:`TeacherInOutput` hands them to a distillation loss."""

    def __init__(self, student: nn.Module, teacher: nn.Module):
        super().__init__()
        self.student, self.teacher = student, teacher

    def forward(self, x):
        return self.student(x), self.teacher(x)

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """One Adam over both networks, with Keras's ε placement, as the Distiller's optimizer."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr,
                 "weight_decay": weight_decay, "keras_adam": True}]


class TeacherInOutput(nn.Module):
    """``loss`` fed with the teacher's logits from a :class:`CoTrained` output, with their gradient."""

    def __init__(self, loss: nn.Module):
        super().__init__()
        self.loss = loss

    def forward(self, out, teacher_out=None, targets=None):
        student_logits, teacher_logits = out
        return self.loss(student_logits, teacher_logits, targets)


def cotrained_student(run: Run, seed: int = 0, *, teacher: nn.Module, loss: nn.Module,
                      transfer: TensorData | None = None, budget: Budget | None = None) -> tuple[nn.Module, nn.Module]:
    """The student distilled as the published Keras 3 code does it: the teacher trains along with it
    (:class:`CoTrained`), from a copy of ``teacher`` for every seed. Returns ``(student, teacher after)``,
    cached. Step for step it matches the Keras code to float32 rounding (student 7.7e-6, teacher 8.5e-6 of
    the update after 5 steps). It costs a teacher training step per student step (forward and backward of
    the 256/512 network at batch 32): about as much as 3 epochs of the teacher's own training, per seed."""
    if run.key_of(teacher) is None:
        raise ValueError("the teacher must come from teacher() (or kd.trained) so the cache key can name it")
    transfer = datasets(run)[0] if transfer is None else transfer
    budget = budget or student_budget(run)
    device = run.device
    precision = run.precision_for(budget.precision)
    student_cfg, teacher_cfg = PROTOCOL.model("student", run), PROTOCOL.model("teacher", run)
    parts = {"model": {"student": student_cfg, "teacher": teacher_cfg, "cotrained": True}, "budget": budget.parts(),
             "loss": repr(loss), "profile": run.profile, "seed": seed, "data": transfer.name,
             "n": len(transfer), "teacher": run.key_of(teacher), "computed_in": precision_name(device, precision)}

    def build():
        return CoTrained(build_model(student_cfg), build_model(teacher_cfg))

    def train():
        seed_everything(seed)
        joint = CoTrained(build_model(student_cfg), build_model(teacher_cfg))
        joint.teacher.load_state_dict(teacher.state_dict())
        fit(joint, transfer, budget, loss=TeacherInOutput(loss), seed=seed, device=device,
            desc="keras-cotrained", run=run)
        return joint

    kind = type(loss).__name__.lower()
    joint = load_or_train(f"keras-student-{kind}-cotrained", parts, build, train,
                          meta={"device": str(device), "precision": precision_name(device, precision)},
                          run=run, precision=budget.precision)
    for m in (joint.student, joint.teacher):  # no cache key of their own (the pair has it), its precision
        run.remember(m, None, hit=run.info(joint).hit, precision=budget.precision)
    return joint.student.eval(), joint.teacher.eval()


def untrained_student(seed: int = 0) -> nn.Module:
    """The student as initialised for ``seed`` (Keras's Glorot-uniform kernels, zero biases)."""
    seed_everything(seed)
    return build_model(PROTOCOL.models["student"]).eval()


def _grad_norm(loss: nn.Module, s: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> float:
    """Mean per-image norm of the loss's gradient with respect to the student's logits."""
    s = s.detach().clone().requires_grad_()
    g, = torch.autograd.grad(loss(s, t, y), s)
    return float((g * len(s)).norm(dim=1).mean())  # the batch mean divides each row by len(s)


def loss_readings(teacher: nn.Module, students: dict, data: TensorData, *, run: Run | None = None):
    """One row per named student on ``data``: the two terms (cross-entropy on the labels, T²·KL to
    the teacher at T = 10), the loss under three readings of "alpha = 0.1" (Keras's code, the book's
    α = 0.9, which is the same loss, and the swapped α = 0.1), and each term's gradient with respect
    to the student's logits (mean norm per image): what Adam's steps follow. ``run``: whose record of
    the models' precision to compute in (default: the current run)."""
    t = predict_logits(teacher, data, run=run)
    y = data.y.to(t.device)
    hard, soft = CrossEntropy(), KerasDistillerLoss(0.0, TEMPERATURE)  # Keras alpha = 0: the soft term alone
    rows = {}
    for name, model in students.items():
        s = predict_logits(model, data, device=t.device, run=run)
        with torch.no_grad():
            rows[name] = {"CE on the labels": hard(s, None, y).item(), "T²·KL at T = 10": soft(s, t).item(),
                          "Keras alpha = 0.1": keras_loss()(s, t, y).item(),
                          "book α = 0.9": book_loss()(s, t, y).item(),
                          "book α = 0.1 (swapped)": swapped_loss()(s, t, y).item()}
        rows[name].update({"‖∇ CE‖": _grad_norm(hard, s, t, y), "‖∇ T²·KL‖": _grad_norm(soft, s, t, y)})
    return pd.DataFrame(rows).T


def network_text(cfg: dict) -> str:
    """The example's Keras layers for a ``TEACHER``/``STUDENT`` config, with its parameter count."""
    f1, f2 = cfg["filters"]
    n = count_params(build_model(cfg))
    return (f"Conv2D({f1}, 3×3, stride 2, same) → LeakyReLU(0.2) → MaxPool(2×2, stride 1, same) → "
            f"Conv2D({f2}, 3×3, stride 2, same) → Flatten → Dense(10) ({n:,} parameters)")


def _eps(b: Budget) -> str:
    return f"{b.eps:g}".replace("e-0", "e-")  # 1e-7, not 1e-07


def _training_line(b: Budget) -> str:
    precision = "float32" if b.precision == "float32" else "mixed precision (bf16 where the CPU has it)"
    epochs = f"{b.epochs} epoch" + ("s" if b.epochs != 1 else "")
    return f"Adam (ε {_eps(b)}), lr {b.lr:g}, {b.schedule}, batch {b.batch_size}, {epochs}, {precision}"


def card(run: Run):
    """Protocol card: the Keras example as published (:data:`PROTOCOL` in the full profile, with Keras's
    loss and one run) beside this chapter's rerun (:data:`PROTOCOL` in ``run``'s profile)."""
    p = run.profile
    batch = ("32: Keras's default; the slides define batch_size = 64 but never pass it to fit(), so Keras "
             "trains at 32")

    def column(r: Run, loss, weights, seeds_text, other):
        b = PROTOCOL.budget("student", r)
        col = PROTOCOL.column(
            r, teacher=None, loss=loss, seeds=seeds_text,
            teacher_training=_training_line(PROTOCOL.budget("teacher", r)),
            selection="none: the last epoch's model, evaluated on the test set",
            optimiser=f"Adam (ε {_eps(b)}: Keras's default, added to √v before the bias correction, as "
                      "Keras's Adam does)", batch=batch, weights=weights,
            precision="float32" if b.precision == "float32" else "mixed where fast", other=other)
        # the networks as the example's Keras layers (Protocol.column names a config by its arch)
        col.update(teacher=network_text(PROTOCOL.model("teacher", r)),
                   student=network_text(PROTOCOL.model("student", r)))
        return col

    full = Run(profile="full")
    scratch = "a scratch student of the same shape, 3 epochs on the labels (the upstream example; not in the slides)"
    published = column(full, keras_loss(), "Keras's alpha = 0.1 on the labels, 1 − alpha = 0.9 on the soft term",
                       "one run, no seed", scratch)
    published["teacher during distillation"] = (
        "trained too: Keras 3's Distiller calls the teacher inside the gradient and holds its weights among its "
        "trainable weights, so fit() steps it through the soft term (benchmarks/keras_step_compare.py "
        "measures its test accuracy step by step)")
    ours = column(run, PROTOCOL.loss, "α = 0.9 on the soft term, 1 − α = 0.1 on the labels",
                  f"one teacher (the first seed), as in the example; {len(seeds(run))} student seeds",
                  f"{scratch}; also the swapped reading, α = 0.1 on the soft term")
    ours["teacher during distillation"] = ("fixed: its logits computed once (K.cotrained_student "
                                         "trains the published way)")
    reasons = {
        "data": "the smoke profile checks that the code runs, on a few hundred images",
        "teacher training": {"smoke": "the smoke profile trains 1 epoch",
                             "cpu": "the teacher costs minutes per epoch on one CPU core: the cpu profile "
                                    "trains it in bf16 where the CPU has it, which is faster, to stay within its "
                                    "time budget; the full profile is float32",
                             "full": "—"}[p],
        "weights": "the same weights, named in the book's convention: α is the soft term's weight",
        "epochs": "the smoke profile trains 1 epoch",
        "loss": "the same loss (tests/test_keras_distiller.py checks it on a worked example): Keras's clip at "
                "1e-7 only bites where a softened probability falls below 1e-7, a logit about 16·T = 160 below "
                "the largest",
        "seeds": "several student seeds, so a difference between students can be told from seed noise; one "
                 "teacher, as in the example (its own spread is not sampled)",
        "other": "the swapped reading shows what copying Keras's alpha into Hinton's formula costs",
        "teacher during distillation": "the example means a fixed teacher (Keras 2's version of it stepped the "
                                       "student's weights only); run as printed under Keras 3 it ruins its teacher "
                                       "within the first epoch. Keras's own run of the printed code is set beside "
                                       "this one below (benchmarks/keras_reference.py)",
    }
    return Card.versus(SOURCE, published, ours, run, deviations=reasons,
                title="The Keras Distiller example: as published, and rerun here")


REFERENCE = "benchmarks/keras_reference.py"
_REF_KEYS = {"teacher": "teacher_acc", "from scratch": "student_scratch_acc", "distilled, α = 0.9": "student_kd_acc"}


def reference_metrics(ref: dict | None) -> dict:
    """The Keras reference run's numbers (the example's own code, :data:`REFERENCE`) as metrics
    ``kerasref_…``; empty without a record (e.g. in Colab)."""
    if ref is None:
        return {}
    s = ref["summary"]
    out = {"kerasref_n_seeds": s["n_seeds"], "kerasref_teacher_acc": s["teacher_acc"]}
    for key in ("student_scratch_acc", "student_kd_acc"):
        out[f"kerasref_{key}"], out[f"kerasref_{key}_std"] = s[key], s[f"{key}_std"]
    out["kerasref_kd_gain"] = s["student_kd_acc"] - s["student_scratch_acc"]
    return out


def reference_table(ref: dict, accuracy) -> "pd.DataFrame":
    """Keras's run of the example's code beside the rewrite's: test accuracy in %, mean ± std over seeds."""
    s = ref["summary"]

    def fmt(mean, std=None):
        return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"

    rows = {}
    for name, key in _REF_KEYS.items():
        std = s.get(f"{key}_std")
        col = accuracy[name]
        rows[name] = {f"Keras, the example's own code ({s['n_seeds']} seeds)": fmt(s[key], std),
                      f"rewrite ({len(col)} seeds)": fmt(col.mean()) if name == "teacher" else fmt(col.mean(), col.std())}
    return pd.DataFrame(rows).T


def reference_runs(ref: dict) -> dict[str, list[float]]:
    """The Keras reference run's test accuracies in %, one per student seed (the hypotheses judge
    on these, not on the summary): ``{"from scratch": [...], "distilled, α = 0.9": [...]}``."""
    return {name: [r[key] for r in ref["runs"]] for name, key in _REF_KEYS.items() if name != "teacher"}
