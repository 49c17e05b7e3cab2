"""Fast CIFAR-10 networks after Keller Jordan's airbench (2024, "94 % on CIFAR-10 in 3.29 seconds").

Every trick is named where it is used:

* **patch whitening**: the first layer is a frozen 2×2 convolution whose 24 filters are the
  eigenvectors of the training images' 2×2-patch covariance, scaled to unit variance (and their
  negatives); computed from 5,000 training images by :meth:`AirbenchNet.data_init`;
* **identity ("Dirac") initialisation** of every convolution's first channels, so each block
  starts close to passing its input through;
* **BatchNorm with frozen scales and trained biases** (eps 1e-12, momentum 0.6), the biases
  trained at 64× the learning rate (:meth:`param_groups`);
* a **scaled output** (× 1/9) and no bias in the last layer;
* the whitening layer's bias trains for the first 3 epochs only (:meth:`epoch_start`).

:func:`kdhelpers.fit` calls :meth:`~AirbenchNet.data_init` and :meth:`~AirbenchNet.epoch_start` through
the model's own callback (:class:`AirbenchHooks`, from :meth:`AirbenchNet.fit_callbacks`).

Label smoothing, Lookahead, the alternating flip and test-time augmentation are training and
evaluation choices: :class:`kdhelpers.Budget` (``label_smoothing``, ``lookahead``,
``augment="alternating_flip_translate"``) and :func:`kdhelpers.chapters.cifar_resnet_vgg.tta_logits`.

:class:`AirbenchNet` is the VGG-style net (conv-pool-BN-GELU-conv-BN-GELU groups);
``residual=True`` adds a residual pair of convolutions to each group, ResNet-9 style (Page 2018).
"""
from __future__ import annotations

import torch
from torch import nn

from ..callbacks import Callback
from .registry import register


class BatchNorm(nn.BatchNorm2d):
    """airbench's BatchNorm: eps 1e-12, running statistics with momentum 0.6 (torch: 0.4), the
    scale frozen at 1, the bias trained."""

    def __init__(self, num_features: int, momentum: float = 0.6):
        super().__init__(num_features, eps=1e-12, momentum=1 - momentum)
        self.weight.requires_grad = False


class Conv(nn.Conv2d):
    """3×3 "same" convolution without bias, Dirac-initialised on its first ``in_channels`` outputs."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, padding="same", bias: bool = False):
        super().__init__(c_in, c_out, kernel_size=kernel_size, padding=padding, bias=bias)

    def reset_parameters(self):
        super().reset_parameters()
        if self.bias is not None:
            self.bias.data.zero_()
        w = self.weight.data
        torch.nn.init.dirac_(w[:w.size(1)])


class ConvGroup(nn.Module):
    """conv → max-pool 2 → BN → GELU → conv → BN → GELU, and with ``residual`` a further
    x + GELU(BN(conv(GELU(BN(conv(x)))))) at the pooled resolution."""

    def __init__(self, c_in: int, c_out: int, residual: bool = False):
        super().__init__()
        self.conv1, self.pool, self.norm1 = Conv(c_in, c_out), nn.MaxPool2d(2), BatchNorm(c_out)
        self.conv2, self.norm2 = Conv(c_out, c_out), BatchNorm(c_out)
        self.activ = nn.GELU()
        self.res = nn.Sequential(Conv(c_out, c_out), BatchNorm(c_out), nn.GELU(),
                                 Conv(c_out, c_out), BatchNorm(c_out), nn.GELU()) if residual else None

    def forward(self, x):
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        x = self.activ(self.norm2(self.conv2(x)))
        return x if self.res is None else x + self.res(x)


class Mul(nn.Module):
    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


@register("airbench")
class AirbenchNet(nn.Sequential):
    """airbench94's network at ``widths`` (64, 256, 256: the 94 % net); ``residual`` for the
    ResNet-style family member."""

    WHITEN_KERNEL = 2

    def __init__(self, widths=(64, 256, 256), residual: bool = False, n_classes: int = 10,
                 scaling_factor: float = 1 / 9):
        w1, w2, w3 = (int(w) for w in widths)
        whiten_width = 2 * 3 * self.WHITEN_KERNEL ** 2
        super().__init__(
            Conv(3, whiten_width, self.WHITEN_KERNEL, padding=0, bias=True), nn.GELU(),
            ConvGroup(whiten_width, w1, residual), ConvGroup(w1, w2, residual), ConvGroup(w2, w3, residual),
            nn.MaxPool2d(3), nn.Flatten(), nn.Linear(w3, n_classes, bias=False), Mul(scaling_factor))
        self[0].weight.requires_grad = False  # the whitening filters are set from data, never trained

    @torch.no_grad()
    def data_init(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Patch whitening: the eigenvectors of the 2×2-patch covariance of ``images`` (normalised,
        [N, 3, H, W]; airbench uses 5,000 training images), scaled by 1/√(eigenvalue + eps), and their negatives."""
        k = self.WHITEN_KERNEL
        c = images.shape[1]
        patches = images.float().unfold(2, k, 1).unfold(3, k, 1).transpose(1, 3).reshape(-1, c * k * k)
        cov = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(cov, UPLO="U")
        eigenvalues, eigenvectors = eigenvalues.flip(0).view(-1, 1, 1, 1), eigenvectors.T.reshape(c * k * k, c, k, k).flip(0)
        scaled = eigenvectors / torch.sqrt(eigenvalues + eps)
        self[0].weight.data[:] = torch.cat((scaled, -scaled)).to(self[0].weight.dtype)

    def epoch_start(self, epoch: int) -> None:
        """Train the whitening layer's bias for the first 3 epochs only (epochs count from 0)."""
        self[0].bias.requires_grad = epoch < 3

    def fit_callbacks(self) -> list[Callback]:
        """What :func:`kdhelpers.fit` does for this net besides training it: :class:`AirbenchHooks`."""
        return [AirbenchHooks()]

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """BatchNorm biases at 64× the learning rate with the same absolute decay per step (airbench's
        ``bias_scaler``); every other trainable parameter at ``lr``."""
        norm = [m.bias for m in self.modules() if isinstance(m, BatchNorm)]
        norm_ids = {id(p) for p in norm}
        # frozen for good: the whitening filters and BatchNorm scales; the whitening bias is switched by epoch_start
        other = [p for p in self.parameters() if id(p) not in norm_ids and (p.requires_grad or p is self[0].bias)]
        return [{"params": norm, "lr": 64 * lr, "weight_decay": weight_decay / 64},
                {"params": other, "lr": lr, "weight_decay": weight_decay}]


class AirbenchHooks(Callback):
    """The net's hooks in :func:`kdhelpers.fit`: patch whitening from the first 5,000 training images
    before the first epoch (:meth:`AirbenchNet.data_init`), the whitening bias switched at the start of
    every epoch (:meth:`AirbenchNet.epoch_start`)."""

    def before_fit(self, run):
        run.model.data_init(run.data.prepare(run.data.x[:5000]))

    def before_epoch(self, run):
        run.model.epoch_start(run.epoch)
