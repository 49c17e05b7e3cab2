"""Batches and augmentations: the index batches :func:`kdhelpers.fit` draws, and the image
augmentations a :class:`kdhelpers.Budget` names (``augment="jitter"``, ``"crop_flip"``, ...).

Each augmentation maps a batch ``[N, C, H, W]`` to a batch of the same shape, with its randomness
from the ``generator`` it is given, so a seeded fit draws the same images every time.
"""
from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F

def batches(n: int, batch_size: int, *, shuffle: bool = True,
            generator: torch.Generator | None = None, device=None) -> Iterator[torch.Tensor]:
    """Index tensors covering ``range(n)`` in chunks of ``batch_size``."""
    idx = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    idx = idx.to(device) if device is not None else idx
    yield from idx.split(batch_size)


def jitter(x: torch.Tensor, max_shift: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate every image of a batch by its own random (dy, dx) ∈ [-max_shift, max_shift]²,
    filling with zeros — Hinton et al.'s "jittered by up to two pixels", as one gather."""
    if x.dim() != 4:
        raise ValueError(f"jitter expects a [N, C, H, W] batch, got shape {tuple(x.shape)}")
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    p = int(max_shift)
    padded = F.pad(x, (p, p, p, p))
    dy = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]   # [N, H, 1]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]   # [N, 1, W]
    out = padded[torch.arange(n, device=x.device)[:, None, None], :, rows, cols]  # [N, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


def crop_flip(x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard CIFAR augmentation on a batch: random crop after zero-padding, random h-flip."""
    x = jitter(x, padding, generator)
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def _reflect(i: torch.Tensor, n: int) -> torch.Tensor:
    """Reflect indices into 0..n-1 without repeating the edge (numpy's "reflect")."""
    i = i.abs()
    return torch.where(i > n - 1, 2 * (n - 1) - i, i)


def translate_reflect(x: torch.Tensor, r: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate every image by its own random (dy, dx) ∈ [-r, r]², filling the border by
    reflection (airbench's translate: a crop of the reflect-padded image), as one gather."""
    n, _, h, w = x.shape
    dy = torch.randint(-r, r + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(-r, r + 1, (n,), generator=generator).to(x.device)
    rows = _reflect(dy[:, None] + torch.arange(h, device=x.device), h)[:, :, None]  # [N, H, 1]
    cols = _reflect(dx[:, None] + torch.arange(w, device=x.device), w)[:, None, :]  # [N, 1, W]
    return x[torch.arange(n, device=x.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2).contiguous()


def alternating_flip_mask(idx: torch.Tensor, epoch: int) -> torch.Tensor:
    """airbench's derandomised flip: each image gets a fixed random flip (a hash of its index),
    inverted every other epoch, so over any two epochs every image is seen both ways."""
    base = ((idx.long() * 2654435761) % 4294967296) >= 2147483648  # the top bit of a multiplicative hash
    return base ^ bool(epoch % 2)


def alternating_flip(x, generator=None, *, epoch: int = 0, idx=None):
    flip = alternating_flip_mask(idx, epoch).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def alternating_flip_translate(x, generator=None, *, epoch: int = 0, idx=None):
    return translate_reflect(alternating_flip(x, epoch=epoch, idx=idx), 2, generator)


# name -> augment(batch, generator, epoch=, idx=): idx are the batch's indices into the data set
AUGMENTATIONS = {"jitter": lambda x, generator=None, **_: jitter(x, 2, generator),
                 "crop_flip": lambda x, generator=None, **_: crop_flip(x, 4, generator),
                 "alternating_flip": alternating_flip,
                 "alternating_flip_translate": alternating_flip_translate}
# augmentations with finitely many views of each image: a teacher's outputs can be cached per view
VIEW_AUGMENTATIONS = {"alternating_flip": 2}
