"""The Toronto report's distillation loss, exactly as its code computed it (a defect, kept on purpose
for the faithful rerun).

Its teacher and student both end in a softmax, and their *probabilities* p are fed where logits
belong. Its soft targets are exp((p_t − max p_t)/T) / Σ_{size-1 axis} exp(max p_t / T), which is
exp((p_t − 2·max p_t)/T): not normalised (total mass ≈ 1.6 at T = 1, ≈ 9.7 at T = 64). The loss:
α · T² · mean CE(soft targets, softmax(p_s/T)) + (1 − α) · CE(softmax(p_s), y), each CE taking a
softmax of probabilities. With probabilities squeezed into [0, 1] the soft targets are nearly
uniform at every T, which is why its T × α grid barely moves.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import SoftPlusHard
from .checks import check_logits, check_temperature


class TorontoLoss(SoftPlusHard):
    formula = "α·T²·CE(exp((p_t − 2·max p_t)/T), softmax(p_s/T)) + (1 − α)·CE(softmax(p_s), y), p = probabilities"

    def __init__(self, temperature: float, alpha: float):
        super().__init__(alpha)
        self.temperature = check_temperature(temperature)

    def soft(self, s, t):
        check_logits(s, t)
        T = self.temperature
        t = t.float()
        top = t.max(dim=1, keepdim=True).values
        targets = torch.exp((t - top) / T) / torch.exp(top / T)  # the report's normaliser sums over one value
        return T * T * -(targets * F.log_softmax(s.float() / T, dim=1)).sum(1).mean()

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"
