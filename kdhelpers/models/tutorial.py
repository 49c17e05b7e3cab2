"""The PyTorch "Knowledge Distillation Tutorial"'s CIFAR-10 networks: ``DeepNN`` (teacher,
1.19 M parameters) and ``LightNN`` (student, 0.27 M), and a view of a trained teacher as
``(logits, feature map)`` for the hidden-representation losses.

Models return their logits, or ``(logits, features)`` when built with ``hidden=...`` (the
training mode of the feature variants); evaluation uses the first element.
"""
from __future__ import annotations

import hashlib

import torch
from torch import nn

from .mlp import Dropout
from .registry import register

HIDDEN_MODES = (None, "flat", "map", "regressor")


def _check_hidden(hidden, allowed) -> None:
    if hidden not in allowed:
        raise ValueError(f"hidden must be one of {allowed}, got {hidden!r}")


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """On CPU, oneDNN convolutions in channels-last layout train these nets 1.4x (DeepNN) to 1.8x
    (LightNN) faster (measured, bf16, 2 cores); the weights are created channels-last too."""
    return x.contiguous(memory_format=torch.channels_last) if x.is_cpu and x.dim() == 4 else x


@register("tutorial_deepnn")
class DeepNN(nn.Module):
    """The tutorial's teacher: four 3×3 convs (128-64-64-32), two max-pools, 2048-512-10 classifier.

    ``hidden=None`` → logits; ``"flat"`` → ``(logits, flattened features [B, 2048])``;
    ``"map"`` → ``(logits, feature map [B, 32, 8, 8])``.
    """

    def __init__(self, n_classes: int = 10, hidden: str | None = None):
        super().__init__()
        _check_hidden(hidden, (None, "flat", "map"))
        self.hidden = hidden
        self.features = nn.Sequential(
            nn.Conv2d(3, 128, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(128, 64, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(64, 64, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(64, 32, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(2048, 512), nn.ReLU(), Dropout(0.1), nn.Linear(512, n_classes))
        self.to(memory_format=torch.channels_last)

    def forward_with(self, x: torch.Tensor, hidden: str | None):
        fmap = self.features(_channels_last(x))
        flat = torch.flatten(fmap, 1)
        logits = self.classifier(flat)
        if hidden is None:
            return logits
        return logits, (flat if hidden == "flat" else fmap)

    def forward(self, x):
        return self.forward_with(x, self.hidden)


@register("tutorial_lightnn")
class LightNN(nn.Module):
    """The tutorial's student: two 3×3 convs (16-16), two max-pools, 1024-256-10 classifier.

    ``hidden="flat"`` → ``(logits, [B, 1024])`` (cosine variant); ``"map"`` → ``(logits, [B, 16, 8, 8])``;
    ``"regressor"`` adds the FitNets regressor ``Conv(16, 32, 3, p=1)`` and returns
    ``(logits, regressor(feature map) [B, 32, 8, 8])``. The regressor is used for training only.
    """

    def __init__(self, n_classes: int = 10, hidden: str | None = None):
        super().__init__()
        _check_hidden(hidden, HIDDEN_MODES)
        self.hidden = hidden
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(1024, 256), nn.ReLU(), Dropout(0.1), nn.Linear(256, n_classes))
        if hidden == "regressor":
            self.regressor = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.to(memory_format=torch.channels_last)

    def forward(self, x):
        fmap = self.features(_channels_last(x))
        flat = torch.flatten(fmap, 1)
        logits = self.classifier(flat)
        if self.hidden is None:
            return logits
        if self.hidden == "flat":
            return logits, flat
        if self.hidden == "map":
            return logits, fmap
        return logits, self.regressor(fmap)




def _digest(x: torch.Tensor) -> tuple:
    """An exact key for an input batch: its bytes, shape, dtype, device and the autocast state."""
    cpu = x.detach().contiguous().cpu()
    raw = cpu.view(torch.uint8) if cpu.dtype == torch.bfloat16 else cpu
    return (tuple(x.shape), str(x.dtype), str(x.device), torch.is_autocast_enabled(x.device.type),
            str(torch.get_autocast_dtype(x.device.type)), hashlib.sha1(raw.numpy().tobytes()).hexdigest())


class TeacherFeatures(nn.Module):
    """A trained :class:`DeepNN` seen as ``(logits, feature map)``, sharing its weights.

    ``output="tuple"`` → ``(logits, [B, 32, 8, 8])``; ``"packed"`` → one tensor
    ``[B, n_classes + 2048]`` (logits, then the flattened map) that :func:`kdhelpers.fit` caches
    once per transfer set like logits; ``"logits"`` → the logits alone (plain KD).

    ``memo`` (a dict, shared between wrappers of one teacher) remembers the outputs for
    byte-identical input batches seen in eval mode without gradients — the fixed, unshuffled
    batches in which ``fit`` precomputes a teacher — so the 12 students of a chapter pay for one
    teacher pass over the transfer set, not one each. It is only a memo of an exact, deterministic
    computation. Students key their cache on it through ``run.alias(wrapper, of=teacher)``.
    """

    OUTPUTS = ("tuple", "packed", "logits")

    def __init__(self, teacher: DeepNN, output: str = "tuple", memo: dict | None = None):
        super().__init__()
        if not isinstance(teacher, DeepNN):
            raise ValueError(f"TeacherFeatures wraps a DeepNN, got {type(teacher).__name__}")
        if output not in self.OUTPUTS:
            raise ValueError(f"output must be one of {self.OUTPUTS}, got {output!r}")
        self.teacher, self.output, self.memo = teacher, output, memo

    def _packed(self, x):
        logits, fmap = self.teacher.forward_with(x, "map")
        return torch.cat([logits, fmap.flatten(1).to(logits.dtype)], dim=1)

    def forward(self, x):
        if self.memo is not None and not torch.is_grad_enabled() and not self.teacher.training:
            key = _digest(x)
            if key not in self.memo:
                self.memo[key] = self._packed(x)
            packed = self.memo[key]
        else:
            packed = self._packed(x)
        n = self.teacher.classifier[-1].out_features
        if self.output == "packed":
            return packed
        if self.output == "logits":
            return packed[:, :n]
        return packed[:, :n], packed[:, n:].view(x.shape[0], 32, 8, 8)

    def extra_repr(self) -> str:
        return f"output={self.output!r}, memo={self.memo is not None}"
