"""Channels-last convolutions, and the one oneDNN bug that rules them out on a CPU.

:func:`kdhelpers.fit` adds :class:`ChannelsLast` for a convolutional model on image batches.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

from .callbacks import Callback


def has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


# oneDNN issue 6035 (open): the float32 backward-weights pass of a 1×1 convolution with stride > 1 on a
# channels-last input with fewer input channels than its kernel's channel block (8 on AVX2, 16 on AVX-512)
# writes past its workspace: a crash, a hang or silently wrong weight gradients. Contiguous inputs are safe.
ONEDNN_SAFE_CHANNELS = 16


def narrow_strided_1x1(model: nn.Module) -> list[str]:
    """The layers of ``model`` that oneDNN issue 6035 breaks channels-last on a CPU: 1×1 convolutions
    with stride > 1 and fewer than 16 input channels, as "name: in → out"."""
    return [f"{name}: {m.in_channels} → {m.out_channels}" for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and max(m.stride) > 1
            and m.in_channels < ONEDNN_SAFE_CHANNELS]


class ChannelsLast(Callback):
    """Convolutions run 1.4-1.9x faster channels-last, on CUDA and on a CPU's oneDNN alike (measured):
    the model's weights (``model=True``) and every batch (for the student, or for a convolutional
    teacher that runs on the student's batches). On a CPU, a model with a layer that oneDNN issue 6035
    breaks channels-last (:func:`narrow_strided_1x1`) trains contiguous instead, with a warning."""

    def __init__(self, model: bool = True):
        self.model, self.off = model, False

    def before_fit(self, loop):
        risky = narrow_strided_1x1(loop.model) if torch.device(loop.device).type == "cpu" else []
        self.off = bool(risky)
        if risky:
            warnings.warn(f"training {type(loop.model).__name__} contiguous, not channels-last: on a CPU, oneDNN's "
                          f"backward of a strided 1×1 convolution with fewer than {ONEDNN_SAFE_CHANNELS} input "
                          f"channels crashes, hangs or gives wrong gradients channels-last (oneDNN issue 6035): "
                          f"{', '.join(risky)}; widen those layers to train faster", RuntimeWarning, stacklevel=2)
        elif self.model:
            loop.model.to(memory_format=torch.channels_last)

    def before_pred(self, loop):
        if not self.off:
            loop.xb = loop.xb.contiguous(memory_format=torch.channels_last)
