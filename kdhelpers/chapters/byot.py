"""Be Your Own Teacher (Zhang et al. 2019): self-distillation inside one network.

A CIFAR ResNet gets an auxiliary classifier after every stage but the last
(:class:`kdhelpers.models.HeResNet` with ``exits=True``); each exit learns from the labels, from the
deepest exit's soft targets and from its features (:class:`kdhelpers.losses.BYOTLoss`). A short
report quotes ResNet50 on CIFAR-10: 87.5 → 90.5 %.

* ``cpu``: ResNet-8 (one basic block per stage, 16/32/64 channels) on the CIFAR-10 JPEG copy,
  45,000 training / 5,000 validation / 10,000 test images, against the same network without exits.
* ``full``: ResNet-18 (blocks 2, 2, 2, 2; 64 … 512 channels) as in the paper, 200 epochs.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..budget import Budget
from ..data import TensorData
from ..data import cifar10_splits as datasets  # (train, val, test): 45,000 / 5,000 / 10,000 (smoke: 512 / 256 / 512)
from ..losses import BYOTLoss
from ..train import predict_logits
from kdbook.train import trained_as
from kdbook.protocol import Card, Protocol, describe
from kdbook.run import Run
from kdbook.references import Ref

# The short report's numbers (ResNet50 on CIFAR-10, one run): cited by the hypotheses and the results overview
REFERENCES = {"byot_baseline_acc": Ref(87.5, "short report", "ResNet50 on CIFAR-10, one run", "%"),
              "byot_deepest_acc": Ref(90.5, "short report", unit="%")}
# the results overview's rows: (experiment, reference, metric key, unit)
HEADLINES = [("Network without exits", str(REFERENCES["byot_baseline_acc"]), "byot_baseline_acc", "%"),
             ("… with exits, self-distilled: deepest exit", str(REFERENCES["byot_deepest_acc"]), "byot_deepest_acc", "%")]
# the metric keys the chapter must record (tests/test_notebooks.py)
METRIC_KEYS = {f"byot_{k}_acc{s}" for k in ("baseline", "deepest", "exit1", "ensemble") for s in ("", "_std")}

REPORT = "a short report on Be Your Own Teacher"


def _resnet(blocks: list, width: int, exits: bool) -> dict:
    return {"arch": "cifar_resnet_he", "blocks": blocks, "width": width, "exits": exits}


def _budget(epochs: int, lr: float, schedule: str, **more) -> Budget:
    """SGD with momentum and weight decay 5e-4, batch 128, crop + flip."""
    return Budget(epochs=epochs, batch_size=128, lr=lr, weight_decay=5e-4, schedule=schedule, augment="crop_flip",
                  **more)


# One network, trained twice on the same budget: with exits and BYOT's loss ("student"), and without
# exits on the labels ("baseline"). ResNet-8 (one basic block per stage, 16 channels in smoke and cpu)
# on the laptop budget, one-cycle: 4 epochs, since six ResNet-8 runs (three with exits) take ~6 min per
# epoch on one CPU thread (measured); ResNet-18 (blocks 2, 2, 2, 2; 64 … 512 channels) as in the paper in
# ``full``, with the paper's ÷10 steps over 200 epochs.
# Not narrower in smoke: a strided 1×1 shortcut with fewer than 16 input channels, channels-last, crashes
# or hangs oneDNN's float32 backward on AVX2 and AVX-512 CPUs (oneDNN issue 6035; tests/test_conv_shapes.py).
_BLOCKS_WIDTH = {"smoke": ([1, 1, 1], 16), "cpu": ([1, 1, 1], 16), "full": ([2, 2, 2, 2], 64)}
_BUDGET = {"smoke": _budget(1, 0.1, "onecycle"), "cpu": _budget(4, 0.2, "onecycle"),
           "full": _budget(200, 0.1, "multistep", milestones=(67, 134))}
PROTOCOL = Protocol(
    data="CIFAR-10 (JPEG copy): 45,000 training, 5,000 validation, 10,000 test images",
    models={role: {p: _resnet(*bw, exits) for p, bw in _BLOCKS_WIDTH.items()}
            for role, exits in (("student", True), ("baseline", False))},
    budgets={"student": _BUDGET, "baseline": _BUDGET}, loss=BYOTLoss(), input_shape=(3, 32, 32))


def config(run: Run, exits: bool) -> dict:
    """The protocol's network with exits (BYOT) or without (the baseline)."""
    return PROTOCOL.model("student" if exits else "baseline", run)


def budget(run: Run) -> Budget:
    """The protocol's budget, the same with and without exits: one-cycle on the laptop budget, the
    paper's ÷10 steps over 200 epochs in ``full``."""
    return PROTOCOL.budget("student", run)


def network(run: Run, seed: int, *, exits: bool, transfer: TensorData) -> nn.Module:
    """The network trained with BYOT (``exits=True``) or plainly on the labels (the baseline)."""
    role = "student" if exits else "baseline"
    return trained_as(PROTOCOL, role, "byot" if exits else "byot-baseline", transfer, run=run, seed=seed,
                      loss=copy.deepcopy(PROTOCOL.loss) if exits else None)


@torch.no_grad()
def exit_logits(model: nn.Module, data: TensorData, run: Run | None = None) -> list[torch.Tensor]:
    """Logits of every exit over ``data``, shallowest first (the deepest is ``predict_logits``'s)."""
    class Exit(nn.Module):
        def __init__(self, k):
            super().__init__()
            self.k, self.net = k, model

        def forward(self, x):
            return self.net(x)[self.k][0]

    model.all_exits = True
    try:
        n = len(model.exits) + 1
        return [predict_logits(Exit(k).eval(), data, run=run) for k in range(n)]
    finally:
        model.all_exits = False


# why this chapter's protocol differs from the report's, row by row (the card shows those that differ)
DEVIATIONS = {
    "data": "offline, the JPEG copy of CIFAR-10; a validation split held out",
    "student": "ResNet50 with exits is days of CPU; the cpu profile uses ResNet-8 (full: ResNet-18, the paper's)",
    "seeds": "three seeds", "selection": "the last epoch, so no test-set choice flatters it",
    "epochs": "the cpu profile trains 4 epochs with a one-cycle rate, so the six networks fit the chapter's "
              "30 minutes on 2 CPU cores (full: Zhang et al.'s 200)"}


def card(run: Run):
    """The short report's protocol beside :data:`PROTOCOL` in the run's profile."""
    p = run.profile
    loss = PROTOCOL.loss
    published = describe(data="CIFAR-10", student="ResNet50 cut into 4 sections, a shallow classifier after each "
                         "(bottleneck + fully connected)", loss=loss.formula, weights="not stated", temperature="not stated",
                         seeds="one run", selection="best accuracy", epochs="not stated (Zhang et al.: 200)",
                         not_stated=("optimiser", "learning rate", "schedule", "batch", "augmentation"))
    ours = PROTOCOL.column(run, teacher=None, loss=loss.formula, temperature=f"{loss.temperature:g}",
                           weights=f"α = {loss.alpha:g} on the deepest exit's soft targets, λ = {loss.feature_weight:g} "
                                   "on the feature hint (the public BYOT implementations' values)",
                           selection="last epoch; the baseline is the same network without exits, same budget")
    return Card.versus(REPORT, published, ours, run, deviations=DEVIATIONS,
                       title=f"Self-distillation: {REPORT}, and this chapter")
