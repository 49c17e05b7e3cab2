"""Hinton, Vinyals & Dean (2015): distillation with soft targets at temperature T.

soft term  = T² · KL(softmax(t/T) ‖ softmax(s/T))   (batch mean; equals the soft cross-entropy
             minus the teacher's entropy, a constant for the student, so the gradients match)
total      = α · soft + (1 − α) · CE(s, y),  α = the weight of the soft term.
The T² keeps the soft gradients' size roughly independent of T (they scale as 1/T², §2).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import SoftPlusHard, hard_loss
from .checks import check_alpha, check_logits, check_temperature, check_targets, log_softmax_last


def _per_model(value, like: torch.Tensor, name: str, lo: float, hi: float, lo_open: bool) -> torch.Tensor:
    """A scalar, or one value per leading index of ``like`` ([models, batch, classes]), each in
    (lo, hi] or [lo, hi]; checked with one vectorised test (this runs on every training step)."""
    v = torch.as_tensor(value, dtype=torch.float32, device=like.device)
    if v.dim() and v.shape != like.shape[:-2]:
        raise ValueError(f"{name} must be one value per model {tuple(like.shape[:-2])}, got {tuple(v.shape)}")
    ok = (v > lo) if lo_open else (v >= lo)
    if not bool((ok & (v <= hi) & torch.isfinite(v)).all()):
        interval = f"({lo:g}, {hi:g}]" if lo_open else f"[{lo:g}, {hi:g}]"
        raise ValueError(f"{name} must be in {interval}, got {v.tolist() if v.numel() < 20 else tuple(v.shape)}")
    return v


def soft_target_loss(student_logits, teacher_logits, temperature) -> torch.Tensor:
    """T² · KL(softmax(t/T) ‖ softmax(s/T)), averaged over the batch.

    ``[batch, classes]`` logits give a scalar. ``[models, batch, classes]`` logits (the batched
    ensemble of :mod:`kdhelpers.batched`) give one value per model, with ``temperature`` a scalar
    or one value per model.
    """
    check_logits(student_logits, teacher_logits)
    if student_logits.dim() == 2:
        T = check_temperature(temperature)
        log_p = F.log_softmax(teacher_logits.float() / T, dim=1)
        log_q = F.log_softmax(student_logits.float() / T, dim=1)
        return T * T * F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")
    T = _per_model(temperature, student_logits, "temperature", 0.0, float("inf"), True)
    Tb = T.view(*T.shape, 1, 1)
    log_p = log_softmax_last(teacher_logits.float() / Tb)
    log_q = log_softmax_last(student_logits.float() / Tb)
    return T * T * (log_p.exp() * (log_p - log_q)).sum(-1).mean(-1)


def distillation_loss(student_logits, teacher_logits, targets, temperature, alpha, *,
                      t2_scale: bool = True) -> torch.Tensor:
    """α · T²·KL + (1 − α) · CE; for [models, batch, classes] logits ``temperature`` and ``alpha``
    may be one value per model (α = 0: a hard-label model; ``teacher_logits`` may then be None).
    ``t2_scale=False`` drops the T²: the soft term is then the KL (the soft cross-entropy minus a
    constant) as a Keras tutorial writes it."""
    if student_logits.dim() > 2:
        a = _per_model(alpha, student_logits, "alpha (the soft-target weight)", 0.0, 1.0, False)
        a_any, a_all = bool((a > 0).any()), bool((a >= 1).all())
    else:
        a = check_alpha(alpha)
        a_any, a_all = a > 0, a >= 1
    loss = student_logits.new_zeros(student_logits.shape[:-2], dtype=torch.float32)
    if a_any:
        if teacher_logits is None:
            raise ValueError("alpha > 0 needs teacher logits")
        soft = soft_target_loss(student_logits, teacher_logits, temperature)
        if not t2_scale:
            T = torch.as_tensor(temperature, dtype=torch.float32, device=soft.device)
            soft = soft / (T * T)
        loss = loss + a * soft
    if not a_all:
        check_targets(student_logits, targets)
        loss = loss + (1 - a) * hard_loss(student_logits, targets)
    return loss


class SoftTargetKL(SoftPlusHard):
    """The soft term alone (Hinton's "regularised solely by matching the soft targets")."""

    formula = "T²·KL(softmax(t/T) ‖ softmax(s/T))"


    def __init__(self, temperature: float):
        super().__init__(1.0)
        self.temperature = check_temperature(temperature)

    def soft(self, s, t):
        return soft_target_loss(s, t, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


class DistillationLoss(SoftPlusHard):
    """α · T²·KL(soft targets) + (1 − α) · CE(hard labels)."""

    formula = "α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α)·CE(s, y)"


    def __init__(self, temperature: float = 1.0, alpha: float = 1.0):
        super().__init__(alpha)
        self.temperature = check_temperature(temperature)

    def soft(self, s, t):
        return soft_target_loss(s, t, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"
