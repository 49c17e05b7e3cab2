"""The PyTorch KD tutorial's cosine loss on flattened hidden representations.

α · mean(1 − cos(s, pool(t))) + (1 − α) · CE. The teacher's flattened features are average-pooled
in groups of D_t / D_s to the student's size (the tutorial's ``avg_pool1d(·, 2)``, 2048 → 1024);
this equals ``nn.CosineEmbeddingLoss`` with target 1. The tutorial's weights 0.25 / 0.75 are
α = 0.25.
"""
from __future__ import annotations

import torch.nn.functional as F

from .hidden import HiddenPlusCE


class CosineHiddenLoss(HiddenPlusCE):
    student_features = "flat"
    formula = "α·(1 − cos(h_s, pool(h_t))) + (1 − α)·CE(s, y)"

    def hidden_loss(self, s, t):
        s, t = s.flatten(1), t.flatten(1)
        if s.shape[0] != t.shape[0] or t.shape[1] % s.shape[1]:
            raise ValueError(f"teacher features {tuple(t.shape)} cannot be pooled to the student's "
                             f"{tuple(s.shape)} (need the same batch and a whole-number ratio)")
        k = t.shape[1] // s.shape[1]
        if k > 1:
            t = F.avg_pool1d(t.unsqueeze(1), k).squeeze(1)
        return (1 - F.cosine_similarity(s, t, dim=1)).mean()
