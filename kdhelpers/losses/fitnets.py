"""A FitNets-style hint (Romero et al. 2015) as in the PyTorch KD tutorial: a regressor maps the
student's feature map onto the teacher's, α · MSE(regressor(s), t) + (1 − α) · CE. The regressor
belongs to the student (``LightNN(hidden="regressor")``) and is used for training only."""
from __future__ import annotations

import torch.nn.functional as F

from .hidden import HiddenPlusCE


class FeatureMapMSELoss(HiddenPlusCE):
    student_features = "regressor"
    formula = "α·MSE(regressor(map_s), map_t) + (1 − α)·CE(s, y)"

    def hidden_loss(self, s, t):
        if t.dim() == 2:  # packed teacher output: restore the map's shape
            if t.shape[1] != s[0].numel():
                raise ValueError(f"teacher features of size {t.shape[1]} do not fit the student's "
                                 f"regressed map {tuple(s.shape[1:])}")
            t = t.view_as(s)
        if s.shape != t.shape:
            raise ValueError(f"regressed student map {tuple(s.shape)} != teacher map {tuple(t.shape)}")
        return F.mse_loss(s, t)
