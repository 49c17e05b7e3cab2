"""``M`` same-shaped MLPs trained as one module: the batched ensemble of the temperature studies.

One tiny network leaves a 2-core CPU idle, so :class:`EnsembleMLP` stacks ``M`` MLPs into
``[M, in, out]`` weight tensors and runs them with batched matmuls (``torch.baddbmm``);
:func:`kdhelpers.batched.train_ensemble` trains them in one loop.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register


@register("ensemble_mlp")
class EnsembleMLP(nn.Module):
    """``M`` ReLU MLPs of identical shape with weights stacked as ``[M, in, out]``.

    ``forward(x)`` takes ``x`` as ``[M, B, in]`` (member m sees ``x[m]``) or ``[B, in]`` (all see the
    same batch) and returns logits ``[M, B, classes]``. Member ``m`` is initialised like
    ``nn.Linear`` (uniform ±1/√fan_in for weights and biases) from its own generator seeded with
    ``init_seeds[m]``, so a member's start does not depend on who else is in the ensemble.
    Dropout (if any) follows every hidden ReLU, as in :class:`kdhelpers.models.MLP`.
    """

    def __init__(self, n_models: int, hidden, in_features: int, n_classes: int, *,
                 dropout: float = 0.0, init_seeds=None, init: str = "torch"):
        super().__init__()
        hidden = [int(h) for h in hidden]
        if n_models < 1 or in_features < 1 or n_classes < 1 or any(h < 1 for h in hidden):
            raise ValueError(f"need n_models, in_features, n_classes and widths ≥ 1; got "
                             f"{n_models}, {in_features}, {n_classes}, {hidden}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if init not in ("torch", "glorot"):
            raise ValueError(f"init must be 'torch' (nn.Linear's) or 'glorot' (Keras's), got {init!r}")
        init_seeds = list(range(n_models)) if init_seeds is None else [int(s) for s in init_seeds]
        if len(init_seeds) != n_models:
            raise ValueError(f"{len(init_seeds)} init seeds for {n_models} models")
        self.n_models, self.dropout, self.dims = n_models, float(dropout), [in_features, *hidden, n_classes]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        pairs = list(zip(self.dims[:-1], self.dims[1:]))
        ws = [torch.empty(n_models, a, b) for a, b in pairs]
        bs = [torch.empty(n_models, b) for _, b in pairs]
        for m, s in enumerate(init_seeds):
            gen = torch.Generator().manual_seed(s)
            for (a, o), w, b in zip(pairs, ws, bs):
                if init == "torch":  # nn.Linear: U(±1/√fan_in) for weights and biases
                    bound = 1 / math.sqrt(a)
                    w[m].uniform_(-bound, bound, generator=gen)
                    b[m].uniform_(-bound, bound, generator=gen)
                else:  # Keras Dense: Glorot-uniform kernel, zero bias
                    bound = math.sqrt(6 / (a + o))
                    w[m].uniform_(-bound, bound, generator=gen)
                    b[m].zero_()
        for w, b in zip(ws, bs):
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.n_models, -1, -1)
        if x.dim() != 3 or x.shape[0] != self.n_models or x.shape[2] != self.dims[0]:
            raise ValueError(f"input must be [{self.n_models}, batch, {self.dims[0]}] or "
                             f"[batch, {self.dims[0]}], got {tuple(x.shape)}")
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b.unsqueeze(1).to(x.dtype), x, w.to(x.dtype))
            if i < last:
                x = F.relu(x)
                if self.training and self.dropout > 0:
                    x = x * (torch.rand_like(x) >= self.dropout) * (1.0 / (1.0 - self.dropout))
        return x

    @classmethod
    def from_linears(cls, mlps, dropout: float = 0.0) -> "EnsembleMLP":
        """Stack MLPs given as sequences of ``nn.Linear`` layers (e.g. ``kd.models.MLP``)."""
        layer_lists = [[m for m in mlp.modules() if isinstance(m, nn.Linear)] for mlp in mlps]
        if not layer_lists or not layer_lists[0]:
            raise ValueError("need at least one MLP with nn.Linear layers")
        dims = [layer_lists[0][0].in_features] + [l.out_features for l in layer_lists[0]]
        if any([l.in_features for l in ls] + [ls[-1].out_features] != dims for ls in layer_lists):
            raise ValueError("all MLPs must have the same layer sizes")
        ens = cls(len(layer_lists), dims[1:-1], dims[0], dims[-1], dropout=dropout)
        with torch.no_grad():
            for i in range(len(dims) - 1):
                ens.weights[i].copy_(torch.stack([ls[i].weight.t() for ls in layer_lists]))
                ens.biases[i].copy_(torch.stack([ls[i].bias for ls in layer_lists]))
        return ens

    def member(self, m: int) -> nn.Sequential:
        """Member ``m`` as a plain ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU`` (a copy)."""
        if not 0 <= m < self.n_models:
            raise ValueError(f"member {m} out of range 0..{self.n_models - 1}")
        layers = []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            lin = nn.Linear(w.shape[1], w.shape[2])
            with torch.no_grad():
                lin.weight.copy_(w[m].t())
                lin.bias.copy_(b[m])
            layers += [lin, nn.ReLU()] if i < len(self.weights) - 1 else [lin]
        return nn.Sequential(*layers)
