"""CIFAR-10 with torchvision's ResNet and VGG families: models, budgets and cost measurements.

The networks are torchvision's own building blocks (``BasicBlock``, ``Bottleneck``,
``ResNet._make_layer``, ``vgg.make_layers``) adapted to 32×32 inputs the usual way: a 3×3 stride-1
stem without max-pool for the ResNets, and a global-pool + one linear layer head for VGG. Two
knobs (``width`` and ``layers`` / ``scale``) give smaller members of the same families for the
``cpu`` profile; ``full`` uses the standard sizes. Every profile runs the same code.
"""
from __future__ import annotations

import statistics
import time

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet
from torchvision.models import vgg as tv_vgg

from .data import TensorData, load_cifar10, split, subset
from .models import ARCHS, count_params
from .profiles import pick, resolve_profile
from .train import trained

MODELS = ("resnet50", "vgg16", "resnet18")
TEACHERS = ("resnet50", "vgg16")
BLOCKS = {"basic": tv_resnet.BasicBlock, "bottleneck": tv_resnet.Bottleneck}
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


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


ARCHS.update({"cifar_resnet": CifarResNet, "cifar_vgg": CifarVGG})

STANDARD = {
    "resnet18": {"arch": "cifar_resnet", "block": "basic", "layers": [2, 2, 2, 2], "width": 64},
    "resnet50": {"arch": "cifar_resnet", "block": "bottleneck", "layers": [3, 4, 6, 3], "width": 64},
    "vgg16": {"arch": "cifar_vgg", "scale": 1.0},
}
# cpu profile: smaller members of the same families (same blocks; one block per stage, a quarter
# of the channels, and for the ResNets a stride-2 stem), sized so the whole grid runs on 2 CPU cores
REDUCED = {
    "resnet18": {"arch": "cifar_resnet", "block": "basic", "layers": [1, 1, 1, 1], "width": 16, "stem_stride": 2},
    "resnet50": {"arch": "cifar_resnet", "block": "bottleneck", "layers": [1, 1, 1, 1], "width": 16,
                 "stem_stride": 2},
    "vgg16": {"arch": "cifar_vgg", "scale": 0.25},
}
TINY = {  # smoke: only checks that the code runs
    "resnet18": {"arch": "cifar_resnet", "block": "basic", "layers": [1, 1, 1, 1], "width": 4, "stem_stride": 2},
    "resnet50": {"arch": "cifar_resnet", "block": "bottleneck", "layers": [1, 1, 1, 1], "width": 4,
                 "stem_stride": 2},
    "vgg16": {"arch": "cifar_vgg", "scale": 1 / 16},
}


def _check_model(model: str) -> str:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; use one of {MODELS}")
    return model


def config(model: str, profile: str) -> dict:
    """The config dict of ``model`` ("resnet50", "vgg16", "resnet18") in ``profile``."""
    table = pick(profile, smoke=TINY, cpu=REDUCED, full=STANDARD)
    return dict(table[_check_model(model)])


def describe(cfg: dict) -> str:
    """A one-line description of a config, for tables and notes."""
    if cfg["arch"] == "cifar_resnet":
        stem = ", stride-2 stem" if cfg.get("stem_stride", 1) == 2 else ""
        return f"ResNet, {cfg['block']} blocks {list(cfg['layers'])}, width {cfg['width']}{stem}"
    return f"VGG16-BN layout, channels × {cfg['scale']:g}"


def sizes(profile: str) -> dict:
    """How many training/validation/test images each profile uses (validation is held out of
    the training images and only picks the best KD setting)."""
    return pick(profile, smoke={"train": 256, "val": 128, "test": 256},
                cpu={"train": 4_000, "val": 1_000, "test": 5_000},
                full={"train": 45_000, "val": 5_000, "test": 10_000})


def datasets(profile: str) -> tuple[TensorData, TensorData, TensorData]:
    """(train, val, test): a random validation split of the CIFAR-10 training images, a subset
    of the rest for training, and (a subset of) the test set."""
    n = sizes(profile)
    full_train, test = load_cifar10(True), load_cifar10(False)
    rest, val = split(full_train, n["val"], seed=0)
    return subset(rest, n["train"], seed=0), val, subset(test, n["test"], seed=0)


def data_label(data: TensorData) -> str:
    """"CIFAR-10 (JPEG copy)" for the offline JPEG copy, else "CIFAR-10"."""
    return "CIFAR-10 (JPEG copy)" if data.name.startswith("cifar10-jpeg") else "CIFAR-10"


def budget(profile: str, role: str = "student") -> dict:
    """kd.fit settings: SGD + momentum 0.9, weight decay 5e-4, one-cycle schedule, batched
    random-crop + flip augmentation. ``role`` is "teacher" or "student": same recipe, teachers
    get more epochs. ``full`` (not run here) is sized for one GPU: ResNet18 in ~30 one-cycle
    epochs is the fast-CIFAR regime that reaches ~94 %; 20 distilled students + 3 baselines +
    2 teachers at these budgets fit in about 4 GPU hours (an estimate, not a measurement)."""
    if role not in ("teacher", "student"):
        raise ValueError(f"role must be 'teacher' or 'student', got {role!r}")
    common = {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 5e-4, "schedule": "onecycle",
              "augment": "crop_flip"}
    # cpu: 8 teacher / 3 student epochs left the teachers ~6 points above the student and showed no
    # KD gain; 30 / 10 gave teachers of 57 and 68 % over a 50 % student and a ~2-point KD gain.
    epochs = pick(profile, smoke={"teacher": 1, "student": 1}, cpu={"teacher": 30, "student": 10},
                  full={"teacher": 60, "student": 30})[role]
    return {**common, "epochs": epochs, **pick(profile, smoke={"batch_size": 128, "lr": 0.1},
                                                  cpu={"batch_size": 128, "lr": 0.1},
                                                  full={"batch_size": 256, "lr": 0.2})}


def teacher(model: str, profile: str, seed: int = 0, *, data: TensorData | None = None, **overrides) -> nn.Module:
    """A trained ``model`` ("resnet50" or "vgg16") on the profile's training images (cached)."""
    if model not in TEACHERS:
        raise ValueError(f"teachers are {TEACHERS}, got {model!r}")
    profile = resolve_profile(profile)
    data = datasets(profile)[0] if data is None else data
    return trained(f"cifar-{model}", config(model, profile), data, profile=profile, seed=seed,
                   **{**budget(profile, "teacher"), **overrides})


def student(profile: str, seed: int = 0, *, teacher: nn.Module | None = None, temperature: float = 1.0,
            beta: float | None = None, data: TensorData | None = None, **overrides) -> nn.Module:
    """A ResNet18(-family) student: from scratch without ``teacher``; else distilled with soft
    weight ``beta`` (kd.fit's ``alpha``) at ``temperature``, the teacher run on every augmented batch."""
    profile = resolve_profile(profile)
    kw = {**budget(profile, "student"), **overrides}
    if teacher is not None:
        if beta is None:
            raise ValueError("give the soft-target weight beta for a distilled student")
        kw.update(temperature=temperature, alpha=beta)
    elif beta not in (None, 0, 0.0) or temperature != 1.0:
        raise ValueError("temperature/beta need a teacher")
    data = datasets(profile)[0] if data is None else data
    kind = "kd" if teacher is not None else "scratch"
    return trained(f"cifar-resnet18-{kind}", config("resnet18", profile), data, profile=profile, seed=seed,
                   teacher=teacher, **kw)


# --------------------------------------------------------------------------- cost
def gflops(model: nn.Module, image_size: int = 32) -> float:
    """Forward GFLOPs for one 3×size×size image, counted by ``torch.utils.flop_counter``
    (a multiply-add counts 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = model.eval().cpu()
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(torch.zeros(1, 3, image_size, image_size))
    return counter.get_total_flops() / 1e9


def latency_ms(model: nn.Module, batch: int, *, reps: int = 5, warmup: int = 1, image_size: int = 32) -> float:
    """Median wall-clock ms of one forward pass on the CPU (eval mode, ``inference_mode``,
    float32), after ``warmup`` untimed passes."""
    if batch < 1 or reps < 1 or warmup < 0:
        raise ValueError(f"need batch ≥ 1, reps ≥ 1, warmup ≥ 0; got {batch}, {reps}, {warmup}")
    model = model.eval().cpu()
    x = torch.randn(batch, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.inference_mode():
        for i in range(warmup + reps):
            start = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


def cost(cfg: dict, *, big_batch: int, reps: int) -> dict:
    """Parameters, GFLOPs and CPU latency (batch 1 and ``big_batch``) of an untrained ``cfg``
    (weights do not change the cost)."""
    from .models import build_model

    torch.manual_seed(0)
    model = build_model(cfg)
    return {"params": count_params(model), "gflops": gflops(model),
            "latency_ms_b1": latency_ms(model, 1, reps=reps),
            "latency_ms_big": latency_ms(model, big_batch, reps=max(1, reps // 2))}
