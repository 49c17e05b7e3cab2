"""Feature-based distillation after the PyTorch "Knowledge Distillation Tutorial" (Chariton).

The tutorial's CIFAR-10 networks — ``DeepNN`` (teacher, 1.19 M parameters) and ``LightNN``
(student, 0.27 M) — and its two losses on hidden representations, as small modules:

* :class:`CosineHiddenLoss` — ``w·(1 − cos(s, pool(t))) + w_ce·CE``: the student's flattened conv
  features (1024) against the teacher's (2048), average-pooled to the student's size
  (the tutorial's ``avg_pool1d(·, 2)``);
* :class:`FeatureMapMSELoss` — FitNets-style :cite:`romero2015fitnets`: a ``Conv(16, 32, 3)``
  regressor maps the student's 16×8×8 feature map onto the teacher's 32×8×8 one, loss
  ``w·MSE + w_ce·CE``.

Models return their logits, or ``(logits, features)`` when built with ``hidden=...`` (the
training mode of the feature variants); evaluation in :mod:`kdhelpers.train` uses the first
element. A trained teacher exposes its feature map through :class:`TeacherFeatures`.

No augmentation here, so the teacher's outputs for the whole transfer set can be computed once:
``TeacherFeatures(teacher, "packed")`` returns one tensor ``[logits | flattened features]``,
which :func:`kdhelpers.fit` caches like plain logits and indexes with the very batch indices the
student sees (shuffled batches stay aligned). The losses accept either that packed tensor or a
``(logits, features)`` tuple (``cache_teacher=False``: the teacher runs on every batch).
"""
from __future__ import annotations

import math
from numbers import Real

import torch
import torch.nn.functional as F
from torch import nn

from .data import TensorData, load_cifar10, subset
from .models import ARCHS, Dropout
from .profiles import pick, resolve_profile
from .train import trained

# The tutorial normalises CIFAR-10 with ImageNet statistics; we do the same to stay faithful.
TUTORIAL_MEAN, TUTORIAL_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HIDDEN_MODES = (None, "flat", "map", "regressor")


def _check_hidden(hidden, allowed) -> None:
    if hidden not in allowed:
        raise ValueError(f"hidden must be one of {allowed}, got {hidden!r}")


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """On CPU, oneDNN convolutions in channels-last layout train these nets 1.4x (DeepNN) to 1.8x
    (LightNN) faster (measured, bf16, 2 cores); the weights are created channels-last too."""
    return x.contiguous(memory_format=torch.channels_last) if x.is_cpu and x.dim() == 4 else x


class DeepNN(nn.Module):
    """The tutorial's teacher: four 3×3 convs (128-64-64-32), two max-pools, 2048-512-10 classifier.

    ``hidden=None`` → logits; ``"flat"`` → ``(logits, flattened features [B, 2048])``;
    ``"map"`` → ``(logits, feature map [B, 32, 8, 8])``.
    """

    def __init__(self, n_classes: int = 10, hidden: str | None = None):
        super().__init__()
        _check_hidden(hidden, (None, "flat", "map"))
        self.hidden = hidden
        self.features = nn.Sequential(
            nn.Conv2d(3, 128, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(128, 64, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(64, 64, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(64, 32, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(2048, 512), nn.ReLU(), Dropout(0.1), nn.Linear(512, n_classes))
        self.to(memory_format=torch.channels_last)

    def forward_with(self, x: torch.Tensor, hidden: str | None):
        fmap = self.features(_channels_last(x))
        flat = torch.flatten(fmap, 1)
        logits = self.classifier(flat)
        if hidden is None:
            return logits
        return logits, (flat if hidden == "flat" else fmap)

    def forward(self, x):
        return self.forward_with(x, self.hidden)


class LightNN(nn.Module):
    """The tutorial's student: two 3×3 convs (16-16), two max-pools, 1024-256-10 classifier.

    ``hidden="flat"`` → ``(logits, [B, 1024])`` (cosine variant); ``"map"`` → ``(logits, [B, 16, 8, 8])``;
    ``"regressor"`` adds the FitNets regressor ``Conv(16, 32, 3, p=1)`` and returns
    ``(logits, regressor(feature map) [B, 32, 8, 8])``. The regressor is used for training only.
    """

    def __init__(self, n_classes: int = 10, hidden: str | None = None):
        super().__init__()
        _check_hidden(hidden, HIDDEN_MODES)
        self.hidden = hidden
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(1024, 256), nn.ReLU(), Dropout(0.1), nn.Linear(256, n_classes))
        if hidden == "regressor":
            self.regressor = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.to(memory_format=torch.channels_last)

    def forward(self, x):
        fmap = self.features(_channels_last(x))
        flat = torch.flatten(fmap, 1)
        logits = self.classifier(flat)
        if self.hidden is None:
            return logits
        if self.hidden == "flat":
            return logits, flat
        if self.hidden == "map":
            return logits, fmap
        return logits, self.regressor(fmap)


ARCHS.setdefault("tutorial_deepnn", DeepNN)
ARCHS.setdefault("tutorial_lightnn", LightNN)


def _digest(x: torch.Tensor) -> tuple:
    """An exact key for an input batch: its bytes, shape, dtype, device and the autocast state."""
    import hashlib

    cpu = x.detach().contiguous().cpu()
    raw = cpu.view(torch.uint8) if cpu.dtype == torch.bfloat16 else cpu
    return (tuple(x.shape), str(x.dtype), str(x.device), torch.is_autocast_enabled(x.device.type),
            str(torch.get_autocast_dtype(x.device.type)), hashlib.sha1(raw.numpy().tobytes()).hexdigest())


class TeacherFeatures(nn.Module):
    """A trained :class:`DeepNN` seen as ``(logits, feature map)``, sharing its weights.

    ``output="tuple"`` → ``(logits, [B, 32, 8, 8])``; ``"packed"`` → one tensor
    ``[B, n_classes + 2048]`` (logits, then the flattened map) that :func:`kdhelpers.fit` caches
    once per transfer set like logits; ``"logits"`` → the logits alone (plain KD).

    ``memo`` (a dict, shared between wrappers of one teacher) remembers the outputs for
    byte-identical input batches seen in eval mode without gradients — the fixed, unshuffled
    batches in which ``fit`` precomputes a teacher — so the 12 students of a chapter pay for one
    teacher pass over the transfer set, not one each. It is only a memo of an exact, deterministic
    computation. Carries the teacher's ``kd_cache_key`` so students trained against it are cached.
    """

    OUTPUTS = ("tuple", "packed", "logits")

    def __init__(self, teacher: DeepNN, output: str = "tuple", memo: dict | None = None):
        super().__init__()
        if not isinstance(teacher, DeepNN):
            raise ValueError(f"TeacherFeatures wraps a DeepNN, got {type(teacher).__name__}")
        if output not in self.OUTPUTS:
            raise ValueError(f"output must be one of {self.OUTPUTS}, got {output!r}")
        self.teacher, self.output, self.memo = teacher, output, memo
        self.kd_cache_key = getattr(teacher, "kd_cache_key", None)

    def _packed(self, x):
        logits, fmap = self.teacher.forward_with(x, "map")
        return torch.cat([logits, fmap.flatten(1).to(logits.dtype)], dim=1)

    def forward(self, x):
        if self.memo is not None and not torch.is_grad_enabled() and not self.teacher.training:
            key = _digest(x)
            if key not in self.memo:
                self.memo[key] = self._packed(x)
            packed = self.memo[key]
        else:
            packed = self._packed(x)
        n = self.teacher.classifier[-1].out_features
        if self.output == "packed":
            return packed
        if self.output == "logits":
            return packed[:, :n]
        return packed[:, :n], packed[:, n:].view(x.shape[0], 32, 8, 8)

    def extra_repr(self) -> str:
        return f"output={self.output!r}, memo={self.memo is not None}"


def split_teacher_out(teacher_out, n_classes: int):
    """``(logits, features)`` from a tuple, or from a packed ``[B, n_classes + D]`` tensor."""
    if teacher_out is None:
        raise ValueError("this loss needs the teacher's features: pass a teacher to fit()")
    if isinstance(teacher_out, (tuple, list)):
        if len(teacher_out) != 2:
            raise ValueError(f"teacher output must be (logits, features), got {len(teacher_out)} tensors")
        return teacher_out[0], teacher_out[1]
    if teacher_out.dim() != 2 or teacher_out.shape[1] <= n_classes:
        raise ValueError(f"a packed teacher output must be [batch, {n_classes} + features], "
                         f"got {tuple(teacher_out.shape)}")
    return teacher_out[:, :n_classes], teacher_out[:, n_classes:]


def _check_weight(name: str, w) -> float:
    if isinstance(w, bool) or not isinstance(w, Real) or not math.isfinite(w) or w < 0:
        raise ValueError(f"{name} must be a finite number ≥ 0, got {w!r}")
    return float(w)


class _HiddenPlusCE(nn.Module):
    """``weight · hidden_loss + ce_weight · CE(student logits, labels)``."""

    def __init__(self, weight: float = 0.25, ce_weight: float = 0.75):
        super().__init__()
        self.weight = _check_weight("weight", weight)
        self.ce_weight = _check_weight("ce_weight", ce_weight)
        if self.weight == 0 and self.ce_weight == 0:
            raise ValueError("weight and ce_weight cannot both be 0")

    def hidden_loss(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, student_out, teacher_out, targets):
        if not isinstance(student_out, (tuple, list)) or len(student_out) != 2:
            raise ValueError("the student must return (logits, features): build it with hidden=...")
        s_logits, s_feat = student_out
        _, t_feat = split_teacher_out(teacher_out, s_logits.shape[1])
        if targets.shape != s_logits.shape[:1]:
            raise ValueError(f"targets must be [batch]={s_logits.shape[0]}, got {tuple(targets.shape)}")
        loss = self.weight * self.hidden_loss(s_feat.float(), t_feat.detach().float())
        return loss + self.ce_weight * F.cross_entropy(s_logits.float(), targets)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, ce_weight={self.ce_weight}"


class CosineHiddenLoss(_HiddenPlusCE):
    """``weight · mean(1 − cos(s, pool(t))) + ce_weight · CE`` on flattened hidden representations.

    The teacher's flattened features (2048) are average-pooled in groups of
    ``D_t / D_s`` to the student's size (1024) — the tutorial's ``avg_pool1d(·, 2)``; this equals
    ``nn.CosineEmbeddingLoss`` with target 1.
    """

    def hidden_loss(self, s, t):
        s, t = s.flatten(1), t.flatten(1)
        if s.shape[0] != t.shape[0] or t.shape[1] % s.shape[1]:
            raise ValueError(f"teacher features {tuple(t.shape)} cannot be pooled to the student's "
                             f"{tuple(s.shape)} (need the same batch and a whole-number ratio)")
        k = t.shape[1] // s.shape[1]
        if k > 1:
            t = F.avg_pool1d(t.unsqueeze(1), k).squeeze(1)
        return (1 - F.cosine_similarity(s, t, dim=1)).mean()


class FeatureMapMSELoss(_HiddenPlusCE):
    """``weight · MSE(regressor(student map), teacher map) + ce_weight · CE`` (FitNets hint, one stage)."""

    def hidden_loss(self, s, t):
        if t.dim() == 2:  # packed teacher output: restore the map's shape
            if t.shape[1] != s[0].numel():
                raise ValueError(f"teacher features of size {t.shape[1]} do not fit the student's "
                                 f"regressed map {tuple(s.shape[1:])}")
            t = t.view_as(s)
        if s.shape != t.shape:
            raise ValueError(f"regressed student map {tuple(s.shape)} != teacher map {tuple(t.shape)}")
        return F.mse_loss(s, t)


# --------------------------------------------------------------------------- the chapter's set-up
SMOKE_TRAIN, SMOKE_TEST = 256, 500
# The cpu profile runs the tutorial's budget (all 50k images, 10 epochs) with 3 seeds instead of 5:
# on 2 idle cores (bf16) the cpu run measured ≈ 62 s per DeepNN epoch and ≈ 66 s per epoch of all
# 12 students: 1307 s in all. (An earlier 45-min estimate was measured on a shared CPU.)
CPU_TRAIN, CPU_EPOCHS = 50_000, 10
N_SEEDS = {"smoke": 2, "cpu": 3, "full": 5}


def datasets(profile: str) -> tuple[TensorData, TensorData]:
    """CIFAR-10 (train, test) with the tutorial's normalisation (ImageNet mean/std).

    smoke: 256 training and 500 test images; cpu: ``CPU_TRAIN`` random training images (all of
    them by default), full test set; full: everything (the tutorial)."""
    from dataclasses import replace

    train, test = load_cifar10(True), load_cifar10(False)
    n_train = pick(profile, smoke=SMOKE_TRAIN, cpu=CPU_TRAIN, full=len(train))
    train = subset(train, n_train, seed=0)
    if resolve_profile(profile) == "smoke":
        test = subset(test, SMOKE_TEST, seed=0)
    norm = dict(mean=TUTORIAL_MEAN, std=TUTORIAL_STD)
    return (replace(train, name=f"{train.name}|imagenet-norm", **norm),
            replace(test, name=f"{test.name}|imagenet-norm", **norm))


def budget(profile: str) -> dict:
    """The tutorial's optimiser: Adam 1e-3, batch 128, constant rate, no augmentation; 10 epochs
    in ``full`` (the tutorial's), ``CPU_EPOCHS`` in ``cpu``, 1 in ``smoke``."""
    return {"optimizer": "adam", "lr": 1e-3, "batch_size": 128, "schedule": "constant",
            "epochs": pick(profile, smoke=1, cpu=CPU_EPOCHS, full=10)}


def seeds(profile: str, first: int = 0) -> list[int]:
    return list(range(first, first + pick(profile, **N_SEEDS)))


def teacher(train: TensorData, profile: str, seed: int = 0, **overrides) -> DeepNN:
    """The DeepNN teacher trained with cross-entropy (cached after the first run)."""
    return trained("tutorial-deepnn", {"arch": "tutorial_deepnn"}, train, profile=resolve_profile(profile),
                   seed=seed, **{**budget(profile), **overrides})


@torch.no_grad()
def hidden(model: nn.Module, data: TensorData, batch_size: int = 1024) -> torch.Tensor:
    """A DeepNN's or LightNN's flattened conv features over ``data`` (eval mode, float32)."""
    from . import dryrun
    from .device import amp_dtype, default_device
    from .data import batches

    device = default_device()
    dtype = amp_dtype(device, getattr(model, "kd_precision", None))
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
    loss = CosineHiddenLoss(1.0, 0.0).hidden_loss(student_hidden.float(), teacher_hidden.float())
    return 1.0 - float(loss)


VARIANTS = ("ce", "kd", "cosine", "regressor")


def student(variant: str, train: TensorData, profile: str, seed: int = 0, *, teacher=None,
            weight: float = 0.25, ce_weight: float = 0.75, temperature: float = 2.0,
            cache_teacher: bool = True, **overrides) -> LightNN:
    """A LightNN trained by one of :data:`VARIANTS`: ``"ce"`` labels only; ``"kd"`` soft targets
    (T = 2, soft weight 0.25); ``"cosine"`` / ``"regressor"`` the hidden-representation losses
    (weight 0.25, CE 0.75). With ``cache_teacher`` the teacher's logits and features over the
    transfer set are computed once (packed), else the teacher runs on every batch."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {VARIANTS}")
    if variant != "ce" and teacher is None:
        raise ValueError(f"variant {variant!r} needs a teacher")
    kw = {**budget(profile), **overrides}
    cfg = {"arch": "tutorial_lightnn"}
    memo = _MEMOS.setdefault(teacher.kd_cache_key, {}) if cache_teacher and teacher is not None else None
    if variant == "ce":
        teacher = None
    elif variant == "kd":
        if not math.isclose(weight + ce_weight, 1.0):
            raise ValueError(f"the KD loss is alpha·soft + (1 − alpha)·CE: weights must sum to 1, "
                             f"got {weight} + {ce_weight}")
        kw.update(temperature=temperature, alpha=weight, cache_teacher=cache_teacher)
        teacher = TeacherFeatures(teacher, "logits", memo)
    else:
        cfg["hidden"] = "flat" if variant == "cosine" else "regressor"
        loss = CosineHiddenLoss if variant == "cosine" else FeatureMapMSELoss
        kw.update(criterion=loss(weight, ce_weight), cache_teacher=cache_teacher)
        teacher = TeacherFeatures(teacher, "packed" if cache_teacher else "tuple", memo)
    return trained(f"tutorial-lightnn-{variant}", cfg, train, profile=resolve_profile(profile), seed=seed,
                   teacher=teacher, **kw)


_MEMOS: dict = {}  # teacher cache key → TeacherFeatures memo (see there)
