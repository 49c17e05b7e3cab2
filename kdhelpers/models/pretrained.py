"""torchvision's ImageNet networks with a new head, optionally with their pretrained weights (the
UNSW report fine-tuned ImageNet-pretrained ResNet50 and VGG16 on CIFAR-10).

The weights come from torchvision's own download (``torch.hub``'s cache,
``$TORCH_HOME/hub/checkpoints``). Offline (``KD_OFFLINE=1``) without them, building the network
fails at once, naming the file to put there. A dry run (``KD_DRY_RUN=1``) never downloads: it
loads the file if it is there and otherwise uses random weights, online or not, and says so.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torchvision
from torch import nn

from .. import dryrun
from .registry import register


def weights_file(name: str) -> tuple[object, Path]:
    """torchvision's default ImageNet weights of ``name`` and where ``torch.hub`` keeps them."""
    weights = torchvision.models.get_model_weights(name).DEFAULT
    return weights, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _offline() -> bool:
    return os.environ.get("KD_OFFLINE", "0").strip().lower() in ("1", "true", "yes")


@register("torchvision")
class TorchvisionNet(nn.Module):
    """``torchvision.models.<name>`` (e.g. "resnet50", "vgg16", "resnet18") with its last layer
    replaced by a ``n_classes`` linear layer; ``pretrained`` loads the ImageNet weights first."""

    def __init__(self, name: str, pretrained: bool = False, n_classes: int = 10):
        super().__init__()


        if name not in torchvision.models.list_models(torchvision.models):
            raise ValueError(f"unknown torchvision classification model {name!r}")
        self.net = torchvision.models.get_model(name, weights=None)
        if pretrained:
            weights, path = weights_file(name)
            if dryrun.enabled() and not path.exists():
                # a dry run checks the code path: no 100-500 MB download for it, online or not
                print(f"DRY RUN: no ImageNet weights for {name} at {path.name}; random weights instead")
            elif path.exists() or not _offline():
                try:
                    self.net.load_state_dict(weights.get_state_dict(progress=False, check_hash=False))
                except Exception as err:  # no network, a truncated file, ...
                    raise FileNotFoundError(self._missing(name, weights, path)) from err
            else:
                raise FileNotFoundError(self._missing(name, weights, path))
        head = self.net.fc if hasattr(self.net, "fc") else self.net.classifier[-1]
        new = nn.Linear(head.in_features, n_classes)
        if hasattr(self.net, "fc"):
            self.net.fc = new
        else:
            self.net.classifier[-1] = new

    @staticmethod
    def _missing(name, weights, path) -> str:
        return (f"the ImageNet-pretrained weights of {name} ({weights}) are not at {path}, and downloading is "
                f"{'disabled (KD_OFFLINE=1)' if _offline() else 'not possible'}. Download {weights.url} "
                f"and put it there (or set TORCH_HOME to a folder whose hub/checkpoints has it).")

    def forward(self, x):
        return self.net(x)
