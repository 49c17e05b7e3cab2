"""The Keras ``Distiller`` example's loss, written as its code computes it.

Keras:  loss = alpha · SparseCategoricalCrossentropy(from_logits=True)(y, s)
             + (1 − alpha) · KLDivergence()(softmax(t/T), softmax(s/T)) · T²

Keras's ``KLDivergence`` clips both distributions to [1e-7, 1], sums p·log(p/q) over the classes and
averages over the batch. **Keras's alpha weights the hard term**, the opposite of Hinton's and this
book's α (the weight of the soft term): ``KerasDistillerLoss(alpha=0.1) = kd.DistillationLoss(alpha=0.9)``
at the same temperature, up to the clipping, which only bites where a softened probability falls
below 1e-7 (a logit about 16·T below the largest). So the module's ``alpha`` attribute is the book's
α = 1 − Keras's alpha, as everywhere in the book (protocol cards read it); ``keras_alpha`` is the
value passed, as in Keras.
"""
from __future__ import annotations

import math
from numbers import Real

import torch

from .base import SoftPlusHard
from .checks import check_logits, check_temperature

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), the clip of KLDivergence


def keras_kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``keras.losses.KLDivergence()(p, q)``: both clipped to [1e-7, 1], Σ p·log(p/q) over the
    classes, mean over the batch."""
    p, q = p.clamp(KERAS_EPSILON, 1.0), q.clamp(KERAS_EPSILON, 1.0)
    return (p * torch.log(p / q)).sum(-1).mean()


class KerasDistillerLoss(SoftPlusHard):
    """The Keras example's ``Distiller.compute_loss``; ``alpha`` is Keras's (the hard-label weight)."""

    formula = ("alpha·CE(s, y) + (1 − alpha)·T²·KL(clip(softmax(t/T)) ‖ clip(softmax(s/T))), clipped to "
               "[1e-7, 1]; Keras's alpha weights the hard term (alpha = 1 − α)")

    def __init__(self, alpha: float = 0.1, temperature: float = 3.0):  # the Keras example's compile() defaults
        if isinstance(alpha, bool) or not isinstance(alpha, Real) or not math.isfinite(alpha) or not 0 <= alpha <= 1:
            raise ValueError(f"alpha (Keras's: the weight of the hard-label loss) must be in [0, 1], got {alpha!r}")
        self.keras_alpha = float(alpha)
        super().__init__(1.0 - self.keras_alpha)  # the book's α: the soft term's weight
        self.temperature = check_temperature(temperature)

    def soft(self, s, t):
        check_logits(s, t)
        T = self.temperature
        p = torch.softmax(t.float() / T, dim=1)
        q = torch.softmax(s.float() / T, dim=1)
        return keras_kl_divergence(p, q) * T ** 2

    def extra_repr(self) -> str:
        return f"alpha={self.keras_alpha} (Keras's: on the hard term), temperature={self.temperature}"
