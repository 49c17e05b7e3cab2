"""CIFAR-sized members of torchvision's ResNet and VGG families.

The networks are torchvision's own building blocks (``BasicBlock``, ``Bottleneck``,
``ResNet._make_layer``, ``vgg.make_layers``) adapted to 32×32 inputs the usual way: a 3×3 stride-1
stem without max-pool for the ResNets, and a global-pool + one linear layer head for VGG. Two
knobs (``width`` and ``layers`` / ``scale``) give smaller members of the same families.
"""
from __future__ import annotations

from torch import nn
from torchvision.models import resnet as tv_resnet
from torchvision.models import vgg as tv_vgg

from .registry import register

BLOCKS = {"basic": tv_resnet.BasicBlock, "bottleneck": tv_resnet.Bottleneck}
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


@register("cifar_resnet")
class CifarResNet(tv_resnet.ResNet):
    """torchvision's ResNet with a 3×3 stride-1 stem, no max-pool, and stage widths
    ``width·(1, 2, 4, 8)`` (64 = the standard nets). ``layers`` blocks per stage:
    ResNet18 = basic (2, 2, 2, 2), ResNet50 = bottleneck (3, 4, 6, 3). ``stem_stride=2`` (a
    cheaper member for the cpu profile) halves the resolution in the stem, quartering the FLOPs."""

    def __init__(self, block: str = "basic", layers=(2, 2, 2, 2), width: int = 64, n_classes: int = 10,
                 stem_stride: int = 1):
        if block not in BLOCKS:
            raise ValueError(f"unknown block {block!r}; use one of {sorted(BLOCKS)}")
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise ValueError(f"layers must be four positive block counts, got {layers!r}")
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride!r}")
        if int(width) < 1 or int(n_classes) < 2:
            raise ValueError(f"need width ≥ 1 and n_classes ≥ 2, got {width}, {n_classes}")
        nn.Module.__init__(self)
        blk, width = BLOCKS[block], int(width)
        # the attributes torchvision's _make_layer reads
        self._norm_layer, self.inplanes, self.dilation, self.groups, self.base_width = nn.BatchNorm2d, width, 1, 1, 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=stem_stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(blk, width, int(layers[0]))
        self.layer2 = self._make_layer(blk, 2 * width, int(layers[1]), stride=2)
        self.layer3 = self._make_layer(blk, 4 * width, int(layers[2]), stride=2)
        self.layer4 = self._make_layer(blk, 8 * width, int(layers[3]), stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * width * blk.expansion, int(n_classes))
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


@register("cifar_vgg")
class CifarVGG(tv_vgg.VGG):
    """torchvision's VGG-BN features (``make_layers`` on the VGG16 config "D", channel counts
    × ``scale``), five max-pools take 32×32 to 1×1, then one linear layer (the usual CIFAR head
    in place of the 4096-4096 ImageNet classifier)."""

    def __init__(self, cfg=tuple(VGG16_CFG), scale: float = 1.0, n_classes: int = 10):
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        if sum(c == "M" for c in cfg) != 5:
            raise ValueError("the config needs exactly five 'M' max-pools for 32×32 inputs")
        nn.Module.__init__(self)
        cfg = [c if c == "M" else max(1, round(int(c) * scale)) for c in cfg]
        self.features = tv_vgg.make_layers(cfg, batch_norm=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear([c for c in cfg if c != "M"][-1], int(n_classes))
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
