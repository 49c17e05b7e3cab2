"""Cosine between the softened probability vectors: T² · (1 − cos(softmax(z/T), softmax(v/T))).

The T² plays the same part as in Hinton's loss: the gradient through softmax(·/T) carries 1/T.
"""
from __future__ import annotations

import torch.nn.functional as F

from .base import SoftPlusHard
from .checks import check_logits, check_temperature


class ProbCosine(SoftPlusHard):
    """α · T²·(1 − cos(q, p)) + (1 − α) · CE(labels), batch mean."""

    formula = "α·T²·(1 − cos(softmax(s/T), softmax(t/T))) + (1 − α)·CE(s, y)"


    def __init__(self, temperature: float, alpha: float = 1.0):
        super().__init__(alpha)
        self.temperature = check_temperature(temperature)

    def soft(self, s, t):
        check_logits(s, t)
        T = self.temperature
        cos = F.cosine_similarity(F.softmax(s.float() / T, dim=1), F.softmax(t.float() / T, dim=1), dim=1)
        return T * T * (1 - cos).mean()

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"
