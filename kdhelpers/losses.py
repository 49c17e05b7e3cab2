"""Hinton et al.'s distillation loss, as small modules.

soft term  = T² · KL(softmax(t/T) ‖ softmax(s/T))   (batch mean; equals the soft cross-entropy
             minus the teacher's entropy, a constant for the student, so the gradients match)
hard term  = CE(s, y)
total      = α · soft + (1 − α) · hard,  α = the weight of the soft term.
The T² keeps the soft gradients' size roughly independent of T (they scale as 1/T², §2).
"""
from __future__ import annotations

import math
from numbers import Real

import torch
import torch.nn.functional as F
from torch import nn


def check_temperature(temperature) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, Real) \
            or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


def check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha (the soft-target weight) must be in [0, 1], got {alpha!r}")
    return float(alpha)


def _check_logits(student: torch.Tensor, teacher: torch.Tensor) -> None:
    if student.shape != teacher.shape or student.dim() != 2:
        raise ValueError(f"student and teacher logits must both be [batch, classes]; "
                         f"got {tuple(student.shape)} and {tuple(teacher.shape)}")


def soft_target_loss(student_logits, teacher_logits, temperature: float) -> torch.Tensor:
    """T² · KL(softmax(t/T) ‖ softmax(s/T)), averaged over the batch."""
    T = check_temperature(temperature)
    _check_logits(student_logits, teacher_logits)
    log_p = F.log_softmax(teacher_logits.float() / T, dim=1)
    log_q = F.log_softmax(student_logits.float() / T, dim=1)
    return T * T * F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")


class SoftTargetKL(nn.Module):
    """The soft term alone (Hinton's "regularised solely by matching the soft targets")."""

    def __init__(self, temperature: float):
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(self, student_logits, teacher_logits):
        return soft_target_loss(student_logits, teacher_logits, self.temperature)


class DistillationLoss(nn.Module):
    """α · T²·KL(soft targets) + (1 − α) · CE(hard labels)."""

    def __init__(self, temperature: float = 1.0, alpha: float = 1.0):
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.alpha = check_alpha(alpha)

    def forward(self, student_logits, teacher_logits=None, targets=None):
        loss = student_logits.new_zeros((), dtype=torch.float32)
        if self.alpha > 0:
            if teacher_logits is None:
                raise ValueError("alpha > 0 needs teacher logits")
            loss = loss + self.alpha * soft_target_loss(student_logits, teacher_logits, self.temperature)
        if self.alpha < 1:
            if targets is None:
                raise ValueError("alpha < 1 needs hard targets")
            if targets.shape != student_logits.shape[:1]:
                raise ValueError(f"targets must be [batch]={student_logits.shape[0]}, got {tuple(targets.shape)}")
            loss = loss + (1 - self.alpha) * F.cross_entropy(student_logits.float(), targets)
        return loss

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"
