"""Small CIFAR networks of the later papers: He et al.'s CIFAR ResNets (3 stages of 16/32/64
channels, basic blocks), with optional auxiliary exits after each stage for self-distillation
("Be Your Own Teacher", Zhang et al. 2019), and Zagoruyko & Komodakis's wide ResNets (WRN-d-k).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register


class BasicBlock(nn.Module):
    """conv3×3-BN-ReLU-conv3×3-BN + shortcut (a 1×1 projection when the shape changes), then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class Exit(nn.Module):
    """A BYOT auxiliary classifier: a bottleneck (1×1 conv down, 3×3 conv, 1×1 conv up to the
    deepest stage's channels, with a stride that brings the map to its size), then global pooling
    and a linear layer. Returns (logits, features) with features shaped like the deepest stage's."""

    def __init__(self, c_in: int, c_out: int, stride: int, n_classes: int):
        super().__init__()
        mid = max(c_in // 2, 8)
        self.bottleneck = nn.Sequential(
            nn.Conv2d(c_in, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))
        self.fc = nn.Linear(c_out, n_classes)

    def forward(self, x):
        f = self.bottleneck(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(f, 1), 1)), f


@register("cifar_resnet_he")
class HeResNet(nn.Module):
    """He et al.'s CIFAR ResNet: a 3×3 stem, stages of ``blocks`` basic blocks with ``width``×(1, 2, 4)
    channels (16: the paper's), global pooling, a linear layer. ResNet-20 = blocks (3, 3, 3).

    ``exits=True`` (BYOT): an auxiliary :class:`Exit` after every stage but the last; ``forward``
    then returns ``[(logits, features) per exit, …, (final logits, final features)]``, shallowest
    first, in training; in eval mode it returns the final logits unless ``all_exits`` is set.
    """

    def __init__(self, blocks=(3, 3, 3), width: int = 16, n_classes: int = 10, exits: bool = False):
        super().__init__()
        blocks = [int(b) for b in blocks]
        if not blocks or any(b < 1 for b in blocks):
            raise ValueError(f"blocks must be positive counts per stage, got {blocks!r}")
        widths = [int(width) * 2 ** i for i in range(len(blocks))]
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True))
        stages, c = [], widths[0]
        for i, (n, w) in enumerate(zip(blocks, widths)):
            layers = [BasicBlock(c, w, 1 if i == 0 else 2)] + [BasicBlock(w, w) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            c = w
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(c, n_classes)
        self.exits = nn.ModuleList(
            Exit(widths[i], widths[-1], 2 ** (len(blocks) - 1 - i), n_classes) for i in range(len(blocks) - 1)
        ) if exits else None
        self.all_exits = False
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if self.exits is not None and i < len(self.exits):
                outs.append(self.exits[i](x))
        logits = self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        if self.exits is None or (not self.training and not self.all_exits):
            return logits
        return [*outs, (logits, x)]


class WideBlock(nn.Module):
    """Pre-activation basic block of a wide ResNet: BN-ReLU-conv-BN-ReLU-conv + shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c_in), nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(c_out), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = None if (c_in == c_out and stride == 1) else nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        y = self.conv2(F.relu(self.bn2(self.conv1(o))))
        return y + (x if self.shortcut is None else self.shortcut(o))


@register("wrn")
class WideResNet(nn.Module):
    """WRN-``depth``-``k`` (depth = 6n + 4): 3 groups of n pre-activation blocks, 16k/32k/64k channels."""

    def __init__(self, depth: int = 16, k: int = 4, n_classes: int = 100):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"a WRN's depth is 6n + 4, got {depth}")
        n, widths = (depth - 4) // 6, [16, 16 * k, 32 * k, 64 * k]
        self.conv = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        layers, c = [], widths[0]
        for i, w in enumerate(widths[1:]):
            for j in range(n):
                layers.append(WideBlock(c, w, 2 if (j == 0 and i > 0) else 1))
                c = w
        self.blocks = nn.Sequential(*layers)
        self.bn, self.fc = nn.BatchNorm2d(c), nn.Linear(c, n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn(self.blocks(self.conv(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
