"""Mixed precision by what the hardware has: bf16 only where it is native (CUDA compute capability
8.0+, a CPU with AMX or AVX512-BF16), else fp16 with a gradient scaler on CUDA, else float32."""
import pytest
import torch

import kdhelpers as kd
import kdbook as kb
from kdhelpers import device as D


@pytest.fixture
def amp_on(monkeypatch):
    monkeypatch.setenv("KD_AMP", "1")


@pytest.mark.parametrize("gpu, capability, expected", [("T4", (7, 5), torch.float16), ("V100", (7, 0), torch.float16),
                                                        ("A100", (8, 0), torch.bfloat16), ("H100", (9, 0), torch.bfloat16)])
def test_cuda_precision_follows_the_compute_capability(amp_on, monkeypatch, gpu, capability, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    # current torch reports bf16 "supported" on a T4 too, through slow emulation: it must not decide
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    cuda = torch.device("cuda")
    assert D.amp_dtype(cuda) is expected, gpu
    assert D.precision_name(cuda) == f"{str(expected).removeprefix('torch.')} autocast"
    assert D.amp_dtype(cuda, "float32") is None  # a source's protocol as published stays float32


@pytest.mark.parametrize("native, expected", [(True, torch.bfloat16), (False, None)])
def test_cpu_precision_is_bf16_only_with_native_bf16(amp_on, monkeypatch, native, expected):
    monkeypatch.setattr(D, "cpu_has_native_bf16", lambda: native)
    assert D.amp_dtype(torch.device("cpu")) is expected
    assert D.precision_name("cpu") == ("float32" if expected is None else "bfloat16 autocast")


def test_kd_amp_0_and_the_smoke_default_turn_it_off(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    monkeypatch.setenv("KD_AMP", "0")
    assert D.amp_dtype("cuda") is None and D.amp_dtype("cuda", "float16") is None
    monkeypatch.setenv("KD_AMP", "1")
    smoke = kb.Run(profile="smoke", device="cpu")  # what kb.setup(..., "smoke") makes
    assert smoke.precision == "float32" and D.amp_dtype("cuda", smoke.precision_for(None)) is None
    assert D.amp_dtype("cuda", smoke.precision_for("float16")) is torch.float16  # a budget's own wins


def test_a_bad_precision_fails_at_once():
    with pytest.raises(ValueError, match="precision"):
        kd.Budget(epochs=1, precision="bf16")
    with pytest.raises(ValueError, match="precision"):
        D.amp_dtype("cpu", "half")


def test_fp16_with_a_gradient_scaler_trains_on_the_cpu(amp_on, monkeypatch):
    """The path a T4 takes (fp16 autocast, GradScaler), run here so it is not first run on a user's GPU."""
    scaled = []

    class Counting(torch.amp.GradScaler):
        def scale(self, outputs):
            scaled.append(self.is_enabled())
            return super().scale(outputs)

    monkeypatch.setattr(torch.amp, "GradScaler", Counting)
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (256,), generator=g)
    x = torch.randint(0, 40, (256, 1, 4, 4), generator=g, dtype=torch.uint8)
    x.view(256, -1)[torch.arange(256), y] = 255
    data = kd.TensorData(x, y, name="fp16-toy")
    model = kd.build_model({"arch": "mlp", "hidden": [32], "in_features": 16})
    before = [p.detach().clone() for p in model.parameters()]
    budget = kd.Budget(epochs=3, batch_size=32, lr=1e-2, optimizer="adam", schedule="constant", precision="float16")
    out = kd.fit(model, data, budget, device="cpu", seed=0)
    assert out["precision"] == "float16 autocast"
    assert scaled and all(scaled), "every step went through an enabled gradient scaler"
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert out["loss"][-1] < out["loss"][0], out["loss"]
    assert kd.evaluate(model, data, device="cpu")["accuracy"] > 50


def test_fp16_batched_ensemble_trains_through_its_scaler(amp_on):
    from kdhelpers.batched import train_ensemble
    from kdhelpers.models import EnsembleMLP

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 200, 8, generator=g), torch.randint(0, 3, (2, 200), generator=g)
    x[..., 0] += 3 * y
    model = EnsembleMLP(4, [16], 8, 3, init_seeds=[0, 1, 2, 3])
    budget = kd.Budget(epochs=4, batch_size=50, lr=1e-2, optimizer="adam", schedule="constant", precision="float16")
    loss = train_ensemble(model, x, y, [0, 0, 1, 1], budget, device="cpu")["loss"]
    assert torch.isfinite(loss).all() and (loss[-1] < loss[0]).all()
