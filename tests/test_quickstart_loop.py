"""The quickstart writes the distillation step out in plain PyTorch; ``kd.fit`` must be that loop.

The test runs the notebook's own cell (tagged ``distillation-step``) and ``kd.fit`` from the same
start, on the same batches, and compares the weights they end with.
"""
import copy
import json
from pathlib import Path

import pytest
import torch

import kdhelpers as kd
import kdbook as kb

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def _written_out() -> dict:
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"]
             if "distillation-step" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "quickstart needs exactly one cell tagged 'distillation-step'"
    namespace: dict = {}
    exec("".join(cells[0]["source"]), namespace)
    return namespace


def _setup():
    g = torch.Generator().manual_seed(0)
    data = kd.TensorData(torch.randint(0, 256, (448, 1, 28, 28), dtype=torch.uint8, generator=g),
                         torch.randint(0, 10, (448,), generator=g), "random digits")
    torch.manual_seed(0)
    teacher = kd.build_model(kb.mnist.student_config(64)).eval()  # any net can give soft targets
    torch.manual_seed(1)
    student = kd.build_model(kb.mnist.student_config(30))
    return data, teacher, student


@pytest.mark.parametrize("T, alpha", [(4.0, 0.7), (20.0, 1.0)])
def test_the_written_out_epoch_equals_kd_fit(T, alpha):
    step = _written_out()
    data, teacher, by_fit = _setup()
    by_hand = copy.deepcopy(by_fit)
    start = [p.detach().clone() for p in by_fit.parameters()]
    budget = kd.Budget(epochs=1, batch_size=64, lr=0.05, momentum=0.9, schedule="constant", precision="float32")
    kd.fit(by_fit, data, budget, teacher=teacher, loss=kd.DistillationLoss(T, alpha=alpha), seed=3,
           device="cpu", progress=False)
    optimizer = torch.optim.SGD(by_hand.parameters(), lr=0.05, momentum=0.9)
    step["distill_epoch"](by_hand, teacher, data, optimizer, T, alpha, 64, generator=torch.Generator().manual_seed(3))
    moved = max((p - p0).abs().max().item() for p, p0 in zip(by_fit.parameters(), start))
    assert moved > 1e-3, "the epoch did not train"
    for (name, a), b in zip(by_fit.named_parameters(), by_hand.parameters()):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), f"{name}: max |diff| {(a - b).abs().max().item():.2e}"


def test_the_written_out_loss_is_the_package_loss():
    step = _written_out()
    g = torch.Generator().manual_seed(0)
    s, t, y = torch.randn(32, 10, generator=g), 3 * torch.randn(32, 10, generator=g), torch.randint(0, 10, (32,))
    for T in (1.0, 4.0, 20.0):
        assert torch.allclose(step["soft_target_loss"](s, t, T), kd.DistillationLoss(T, alpha=1.0)(s, t, y), rtol=1e-5)
