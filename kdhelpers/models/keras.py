"""The sources' Keras and TensorFlow networks, rebuilt in PyTorch as published.

Faithful in what changes results: Keras's default initialisation (Glorot-uniform kernels, zero
biases, :func:`glorot_`, which the Keras example's networks on their chapter's page use too), and
output layers that end in a softmax where a source's code did (the Toronto report's networks;
``softmax_output=True``). Flattening order (Keras flattens height-width-channels, PyTorch
channels-height-width) only permutes a dense layer's inputs, which a random initialisation does
not see.
"""
from __future__ import annotations

import torch
from torch import nn

from .mlp import Dropout
from .registry import register


def glorot_(module: nn.Module, kernel_std: float | None = None) -> nn.Module:
    """Keras's defaults on every Linear/Conv2d of ``module``: Glorot-uniform kernels (or a normal
    with ``kernel_std``), zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            if kernel_std is None:
                nn.init.xavier_uniform_(m.weight)
            else:
                nn.init.normal_(m.weight, 0.0, kernel_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


class SoftmaxOutput(nn.Module):
    """A final softmax, as in a Keras ``Dense(10, activation="softmax")``: the network then outputs
    probabilities, and a source that fed them to a loss "from logits" applied a second softmax."""

    def forward(self, x):
        return torch.softmax(x.float(), dim=-1)


@register("keras_mlp")
class KerasMLP(nn.Sequential):
    """A Keras ``Sequential`` of ``Dense(h, relu)`` layers (dropout after each hidden layer if
    ``dropout``), then ``Dense(n_classes)``. ``kernel_std``: a normal initialiser for the hidden
    kernels (the Harvard teacher's N(0, 0.01)); ``logit_bias``: {class: value} set on the output
    layer's bias before training (the Harvard tutorial's bias protocol)."""

    def __init__(self, hidden=(20, 20), in_features: int = 784, n_classes: int = 10, dropout: float = 0.0,
                 kernel_std: float | None = None, logit_bias: dict | None = None, softmax_output: bool = False):
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [glorot_(nn.Linear(width, int(h)), kernel_std), nn.ReLU()]
            if dropout:
                layers.append(Dropout(dropout))
            width = int(h)
        layers.append(glorot_(nn.Linear(width, n_classes)))
        if logit_bias:
            with torch.no_grad():
                for cls, value in dict(logit_bias).items():
                    layers[-1].bias[int(cls)] = float(value)
        if softmax_output:
            layers.append(SoftmaxOutput())
        super().__init__(*layers)

    @property
    def output_layer(self) -> nn.Linear:
        return [m for m in self if isinstance(m, nn.Linear)][-1]


@register("harvard_cnn")
class HarvardCNN(nn.Sequential):
    """The Harvard tutorial's CNN teacher: Conv2D(128, 3×3, same, relu) ×2 → MaxPool(2×2) →
    Dropout(0.25) → Flatten → Dense(10). (Its channels-first input under Keras's default
    channels-last setting is ambiguous; this is the two-dimensional reading.)"""

    def __init__(self, channels: int = 128, n_classes: int = 10):
        super().__init__(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), Dropout(0.25), nn.Flatten(),
            nn.Linear(channels * 14 * 14, n_classes))
        glorot_(self)


@register("toronto_cnn")
class TorontoCNN(nn.Sequential):
    """The Toronto report's CNN teacher: Conv2D(32, 3×3, relu) → MaxPool(2×2, stride 1) →
    Conv2D(64, 3×3, relu) → MaxPool(2×2) → Flatten → Dropout(0.5) → Dense(128, relu) →
    Dropout(0.5) → Dense(10), with a final softmax if ``softmax_output`` (as the report's code had)."""

    def __init__(self, n_classes: int = 10, softmax_output: bool = False):
        layers = [nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2, stride=1),
                  nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                  Dropout(0.5), nn.Linear(64 * 11 * 11, 128), nn.ReLU(), Dropout(0.5), nn.Linear(128, n_classes)]
        if softmax_output:
            layers.append(SoftmaxOutput())
        super().__init__(*layers)
        glorot_(self)
