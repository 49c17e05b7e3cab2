"""No chapter network has the convolution shape that oneDNN's CPU backward gets wrong.

oneDNN issue 6035 (open): the float32 backward-weights pass of a 1×1 convolution with stride > 1, on a
channels-last input with fewer input channels than the kernel's channel block (8 on AVX2, 16 on
AVX-512), writes past its workspace: a segmentation fault, a hang, or silently wrong weight gradients,
depending on the CPU and the thread count. ``kd.fit`` trains convolutional networks channels-last on
the CPU, so such a layer anywhere in a chapter's networks (a ResNet's strided shortcut on a narrow
stage) breaks the chapter on some machines: a 4-channel smoke ResNet-8 hung `make test` on an AMD
EPYC with AVX2 only. Every chapter network, in every profile, keeps its strided 1×1 convolutions at 16
input channels or more.
"""
import subprocess
import sys

import pytest
import torch
from torch import nn

from kdhelpers.channels_last import ONEDNN_SAFE_CHANNELS, narrow_strided_1x1
from kdbook.chapter import define_cells, load
from kdbook.protocol import Protocol
from kdhelpers.models import build_model

from conftest import ROOT

SAFE_CHANNELS = ONEDNN_SAFE_CHANNELS  # the widest channel block among the CPU kernels (AVX-512)


def _configs(obj, where, depth=0):
    """Every model config ({"arch": ...}) reachable from ``obj``, with where it was found."""
    if depth > 6:
        return
    if isinstance(obj, Protocol):
        yield from _configs(obj.models, where, depth + 1)
    elif isinstance(obj, dict):
        if "arch" in obj:
            yield where, obj
        else:
            for k, v in obj.items():
                yield from _configs(v, f"{where}.{k}", depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _configs(v, f"{where}[{i}]", depth + 1)


def chapter_configs() -> dict[str, dict]:
    """Every model config of a chapter: in its notebook's cells tagged `define`."""
    found = {}
    modules = {nb.stem: load(nb.stem) for nb in sorted((ROOT / "notebooks").glob("*.ipynb")) if define_cells(nb)}
    for chapter, module in modules.items():
        for name, obj in vars(module).items():
            if not name.startswith("__"):
                for where, cfg in _configs(obj, f"{chapter}.{name}"):
                    found.setdefault(repr(sorted(cfg.items(), key=str)), (where, cfg))
    return dict(found.values())


def risky_convs(model: nn.Module) -> list[str]:
    return narrow_strided_1x1(model)


def test_the_scan_finds_the_chapters_networks():
    configs = chapter_configs()
    assert len(configs) >= 20, sorted(configs)
    assert any(w.startswith("byot.") for w in configs) and any(w.startswith("cifar_resnet_vgg.") for w in configs)


def test_no_chapter_network_has_a_narrow_strided_1x1_convolution():
    bad = {}
    for where, cfg in chapter_configs().items():
        cfg = {**cfg, "pretrained": False} if "pretrained" in cfg else cfg  # the shape, not the weights (offline)
        found = risky_convs(build_model(cfg))
        if found:
            bad[where] = found
    assert not bad, ("strided 1×1 convolutions with fewer than 16 input channels (oneDNN issue 6035: a crash, "
                     f"hang or wrong gradients in the CPU backward, channels-last); widen them: {bad}")


def test_the_guard_catches_the_shape_it_is_for():
    narrow = build_model({"arch": "cifar_resnet_he", "blocks": [1, 1, 1], "width": 4, "exits": False})
    assert risky_convs(narrow) and not risky_convs(
        build_model({"arch": "cifar_resnet_he", "blocks": [1, 1, 1], "width": 16, "exits": False}))


@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
                    reason="the faulty kernels are oneDNN's x86 AVX2 / AVX-512 ones")
def test_the_width_the_chapters_use_trains_channels_last():
    """A child process (a crash must not take pytest with it), one thread, time-limited (the bug can
    hang): a 16-channel strided 1×1 shortcut's backward runs and gives the contiguous layout's
    gradients."""
    code = (
        "import torch; torch.set_num_threads(1); torch.manual_seed(0)\n"
        "c = torch.nn.Conv2d(16, 32, 1, stride=2, bias=False)\n"
        "x = torch.randn(32, 16, 32, 32)\n"
        "c(x).square().sum().backward(); g = c.weight.grad.clone(); c.weight.grad = None\n"
        "c = c.to(memory_format=torch.channels_last)\n"
        "c(x.contiguous(memory_format=torch.channels_last)).square().sum().backward()\n"
        "assert torch.allclose(c.weight.grad, g, rtol=1e-4, atol=1e-3), (c.weight.grad - g).abs().max()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
                    reason="the faulty kernels are oneDNN's x86 AVX2 / AVX-512 ones")
def test_fit_trains_a_narrow_resnet_contiguous_and_says_why():
    """A reader's own narrow ResNet (an exercise that shrinks a chapter's) must not crash or hang kd.fit:
    it trains contiguous, with a warning naming the layers. A child process, as above."""
    code = (
        "import warnings, torch; torch.set_num_threads(1)\n"
        "import kdhelpers as kd\n"
        "model = kd.build_model({'arch': 'cifar_resnet_he', 'blocks': [1, 1, 1], 'width': 4, 'exits': False})\n"
        "data = kd.TensorData(torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8), torch.randint(0, 10, (64,)), name='noise', mean=(0.5,) * 3, std=(0.25,) * 3)\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    kd.fit(model, data, kd.Budget(epochs=2, batch_size=32, lr=0.01, optimizer='sgd'), device='cpu')\n"
        "said = [str(w.message) for w in caught if 'oneDNN issue 6035' in str(w.message)]\n"
        "assert said and 'stages.1.0.shortcut.0: 4 → 8' in said[0], [str(w.message) for w in caught]\n"
        "assert all(p.is_contiguous() for p in model.parameters())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"rc {out.returncode}: {out.stderr[-2000:]}"
