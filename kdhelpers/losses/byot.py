"""Be Your Own Teacher (Zhang et al. 2019): a network distils its deepest exit into shallower ones.

For the exits i = 1 … K−1 (shallow) and K (the deepest), with logits z_i, features F_i:
loss = CE(z_K, y) + Σ_{i<K} [ (1 − α)·CE(z_i, y) + α·T²·KL(softmax(z_K/T) ‖ softmax(z_i/T))
                               + λ·‖F_i − F_K‖² ]
with the deepest exit's outputs detached where they teach. The paper's weights are not in the
report this book follows; the defaults (α = 0.3, λ = 0.03, T = 3) are those of the public BYOT
implementations.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_alpha, check_temperature, check_weight


class BYOTLoss(nn.Module):
    """``loss(exits, None, y)`` with ``exits = [(logits, features), …]``, shallowest first."""

    formula = "CE(z_K, y) + Σᵢ (1 − α)·CE(zᵢ, y) + α·T²·KL(softmax(z_K/T) ‖ softmax(zᵢ/T)) + λ·‖Fᵢ − F_K‖²"

    def __init__(self, temperature: float = 3.0, alpha: float = 0.3, feature_weight: float = 0.03):
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.alpha = check_alpha(alpha)
        self.feature_weight = check_weight("feature_weight", feature_weight)

    def forward(self, exits, teacher_out=None, targets=None):
        if teacher_out is not None:
            raise ValueError("BYOT has no teacher: the deepest exit teaches the others")
        if not isinstance(exits, (list, tuple)) or len(exits) < 2 or not all(len(e) == 2 for e in exits):
            raise ValueError("BYOTLoss needs [(logits, features), ...] from a network with exits (exits=True)")
        if targets is None:
            raise ValueError("BYOTLoss needs the labels")
        T, a = self.temperature, self.alpha
        (z_k, f_k), shallow = exits[-1], exits[:-1]
        loss = F.cross_entropy(z_k.float(), targets)
        teacher = F.log_softmax(z_k.detach().float() / T, dim=1)
        for z, f in shallow:
            loss = loss + (1 - a) * F.cross_entropy(z.float(), targets)
            loss = loss + a * T * T * F.kl_div(F.log_softmax(z.float() / T, dim=1), teacher, log_target=True,
                                               reduction="batchmean")
            if self.feature_weight:
                loss = loss + self.feature_weight * F.mse_loss(f.float(), f_k.detach().float())
        return loss

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}, feature_weight={self.feature_weight}"
