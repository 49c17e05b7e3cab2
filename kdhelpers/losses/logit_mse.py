"""Regression onto the teacher's logits (Ba & Caruana 2014; Kim et al. 2021's "MSE").

soft = scale · mean over batch and classes of (zᵢ − vᵢ)².
``scale = 1`` is ``torch.nn.functional.mse_loss`` (Kim et al.'s ‖z_s − z_t‖², averaged over the
batch and the classes); ``scale = 0.5`` makes the gradient (zᵢ − vᵢ)/N per example, exactly the
high-temperature limit of T²·KL for zero-mean logits.
"""
from __future__ import annotations

import torch.nn.functional as F

from .base import SoftPlusHard
from .checks import check_logits, check_weight


class LogitMSE(SoftPlusHard):
    """α · scale · mean (z − v)² + (1 − α) · CE(labels)."""

    @property
    def formula(self) -> str:
        return f"α·{self.scale:g}·mean((s − t)²) + (1 − α)·CE(s, y)"


    def __init__(self, alpha: float = 1.0, scale: float = 0.5):
        super().__init__(alpha)
        self.scale = check_weight("scale", scale)

    def soft(self, s, t):
        check_logits(s, t)
        return self.scale * F.mse_loss(s.float(), t.float(), reduction="none").mean(1).mean()

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + ("" if self.scale == 0.5 else f", scale={self.scale}")
