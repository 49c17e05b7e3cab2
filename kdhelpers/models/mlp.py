"""Hinton et al.'s MNIST nets: fully connected ReLU layers with optional dropout (their max-norm
constraint is applied in training: :class:`kdhelpers.callbacks.MaxNorm`)."""
from __future__ import annotations

import torch
from torch import nn

from .registry import register


class Dropout(nn.Dropout):
    """nn.Dropout, with the mask drawn by ``rand_like`` on CPU: ``bernoulli_`` there is ~3x
    slower (measured) and was a quarter of the teacher's training time."""

    def forward(self, x):
        if not (self.training and self.p > 0 and x.is_cpu):
            return super().forward(x)
        return x * (torch.rand_like(x) >= self.p) * (1.0 / (1.0 - self.p))


@register("mlp")
class MLP(nn.Sequential):
    """``hidden`` ReLU layers, optional dropout on inputs/hidden units."""

    def __init__(self, hidden=(1200, 1200), in_features: int = 784, n_classes: int = 10,
                 dropout: float = 0.0, input_dropout: float = 0.0):
        layers: list[nn.Module] = [nn.Flatten()]
        if input_dropout:
            layers.append(Dropout(input_dropout))
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU(inplace=True)]
            if dropout:
                layers.append(Dropout(dropout))
            width = int(h)
        layers.append(nn.Linear(width, n_classes))
        super().__init__(*layers)

    @property
    def output_layer(self) -> nn.Linear:
        """The logit layer, whose bias the transfer-set chapters shift."""
        return self[-1]
