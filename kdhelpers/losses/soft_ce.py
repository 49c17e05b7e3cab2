"""Soft cross-entropy at temperature T: C = −Σᵢ pᵢ log qᵢ, p = softmax(v/T), q = softmax(z/T).

Its gradient is (qᵢ − pᵢ)/T. With the T² factor it equals T²·KL up to the teacher's entropy, a
constant for the student, so both give the same gradient; without it, it is what a naive
implementation writes down, and its soft gradients are T² times smaller.
"""
from __future__ import annotations

import torch.nn.functional as F

from .base import SoftPlusHard
from .checks import check_logits, check_temperature


def soft_cross_entropy(student_logits, teacher_logits, temperature: float, *, reduction: str = "mean"):
    """−Σᵢ pᵢ log qᵢ per example, or its batch mean / sum."""
    T = check_temperature(temperature)
    check_logits(student_logits, teacher_logits)
    p = F.softmax(teacher_logits / T, dim=1)
    per_example = -(p * F.log_softmax(student_logits / T, dim=1)).sum(1)
    if reduction == "none":
        return per_example
    if reduction == "sum":
        return per_example.sum()
    if reduction == "mean":
        return per_example.mean()
    raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}")


class SoftCrossEntropy(SoftPlusHard):
    """α · [T² if ``t2_scale``] · C + (1 − α) · CE(labels), batch mean."""

    @property
    def formula(self) -> str:
        return ("α·T²·" if self.t2_scale else "α·") + "CE(softmax(t/T), softmax(s/T)) + (1 − α)·CE(s, y)"


    def __init__(self, temperature: float, alpha: float = 1.0, t2_scale: bool = False):
        super().__init__(alpha)
        self.temperature = check_temperature(temperature)
        if not isinstance(t2_scale, bool):
            raise ValueError(f"t2_scale must be True or False, got {t2_scale!r}")
        self.t2_scale = t2_scale

    def soft(self, s, t):
        scale = self.temperature ** 2 if self.t2_scale else 1.0
        return scale * soft_cross_entropy(s.float(), t.float(), self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}, t2_scale={self.t2_scale}"
