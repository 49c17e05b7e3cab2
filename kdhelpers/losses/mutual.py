"""Deep mutual learning (Zhang et al. 2018): students that teach each other, with no teacher.

For student k: (1 − α) · CE(z_k, y) + α · T² · mean_{j≠k} KL(softmax(z_j/T).detach() ‖ softmax(z_k/T)),
summed over the students. The peers are constants (detached) in each student's loss, and one
optimiser step over all parameters gives the simultaneous variant. Zhang et al.'s CE + KL is
α = 0.5 up to a factor 2, which the learning rate absorbs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_alpha, check_temperature


def mutual_loss(logits, targets, temperature: float = 1.0, alpha: float = 0.5) -> torch.Tensor:
    T, a = check_temperature(temperature), check_alpha(alpha)
    if not isinstance(logits, (tuple, list)) or len(logits) < 2:
        raise ValueError("mutual_loss needs a tuple of ≥ 2 logit tensors (one per student)")
    shape = logits[0].shape
    if any(z.shape != shape for z in logits) or len(shape) != 2:
        raise ValueError(f"every student's logits must be the same [batch, classes]; "
                         f"got {[tuple(z.shape) for z in logits]}")
    if targets is None or targets.shape != shape[:1]:
        raise ValueError(f"targets must be [batch]={shape[0]}")
    logp = [F.log_softmax(z.float() / T, dim=1) for z in logits]
    total = logits[0].new_zeros((), dtype=torch.float32)
    for k, z in enumerate(logits):
        total = total + (1 - a) * F.cross_entropy(z.float(), targets)
        if a:
            peers = [F.kl_div(logp[k], logp[j].detach(), log_target=True, reduction="batchmean")
                     for j in range(len(logits)) if j != k]
            total = total + a * T * T * torch.stack(peers).mean()
    return total


class MutualLoss(nn.Module):
    """A :func:`kdhelpers.fit` loss for :class:`kdhelpers.models.MutualPair`: ``loss(pair_out, None, y)``."""

    formula = "Σₖ (1 − α)·CE(zₖ, y) + α·T²·KL(softmax(z_peer/T) ‖ softmax(zₖ/T))"


    def __init__(self, temperature: float = 1.0, alpha: float = 0.5):
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.alpha = check_alpha(alpha)

    def forward(self, student_out, teacher_out=None, targets=None):
        if teacher_out is not None:
            raise ValueError("mutual learning has no teacher: the students teach each other")
        return mutual_loss(student_out, targets, self.temperature, self.alpha)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"
