"""What a profile will cost, printed before a chapter trains anything.

A :class:`Plan` lists the trainings a chapter is about to run. For each it counts the training
FLOPs with ``torch.utils.flop_counter`` (forward FLOPs of one example × 3 for forward and
backward × examples × epochs, plus the teacher's forward passes) and estimates the time on this
device from a probe: a few real training steps of the same network at the same precision, whose
measured FLOP rate prices the whole job. ``kd.record`` stores the estimate beside the measured
time, so a reader sees how good the estimate was.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from kdhelpers import dryrun
from kdhelpers.device import amp_dtype, default_device, precision_name
from kdhelpers.models.registry import build_model
from .run import Run, as_run, current

# For the full profile, which is meant for a GPU: a sustained rate we assume for one modern
# data-centre GPU (about 40 % of an A100's 312 bf16 TFLOP/s). Small networks reach far less, so
# the GPU figure is a lower bound on the time.
REFERENCE_GPU_FLOPS = 125e12


def forward_flops(model: nn.Module, input_shape) -> float:
    """Forward FLOPs of one example of ``input_shape`` (a multiply-add counts 2), counted by
    ``torch.utils.flop_counter`` in eval mode."""
    model = model.eval().cpu()
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(torch.zeros(1, *input_shape))
    return float(counter.get_total_flops())


def _build(model):
    return build_model(model) if isinstance(model, dict) else model


_PROBES: dict = {}


def _logits(out) -> list:
    """Every [batch, classes] tensor of a model's output: plain logits, (logits, features), or a
    network with several exits ([exit logits...], features)."""
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _logits(o)]
    return [out] if out.dim() == 2 else []


def probe_rate(model, input_shape, batch_size: int, *, device=None, precision=None) -> float:
    """Achieved training FLOP/s of ``model`` (a config dict or a module) on ``device``: two
    warm-up SGD steps on random inputs at ``batch_size`` (capped in a dry run), then the fastest of
    at least 3 timed steps (for up to 0.25 s)."""
    device = torch.device(device) if device is not None else default_device()
    batch = max(1, dryrun.batch_size(batch_size))
    key = (repr(model), tuple(input_shape), batch, str(device), precision_name(device, precision))
    if key in _PROBES:
        return _PROBES[key]
    net = _build(model)
    per_example = forward_flops(net, input_shape)
    net = net.to(device).eval()  # one example through BatchNorm: eval mode
    x = torch.randn(batch, *input_shape, device=device)
    with torch.no_grad():
        classes = _logits(net(x[:1]))[0].shape[-1]
    net.train()
    y = torch.randint(0, classes, (batch,), device=device)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    dtype = amp_dtype(device, precision)

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = sum(nn.functional.cross_entropy(z.float(), y) for z in _logits(net(x)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(2):  # warm-up: kernel selection, allocator
        step()
    times, start = [], time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < 0.25 and len(times) < 50):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    seconds = min(times)  # the fastest step: robust to a moment of interference on a shared machine
    _PROBES[key] = 3 * per_example * batch / max(seconds, 1e-9)
    return _PROBES[key]


@dataclass
class Job:
    what: str
    model: object
    input_shape: tuple
    samples: int
    epochs: int
    count: int = 1
    batch_size: int = 128
    teacher: object = None
    teacher_per_batch: bool = False
    precision: str | None = None
    flops: float = 0.0
    seconds: float = 0.0


class Plan:
    """The trainings a chapter will run; ``show()`` prints FLOPs and a time estimate before any of
    them starts. Models loaded from the cache cost less: the estimate is for a cold run."""

    def __init__(self, run: Run | None = None, device=None):
        """``run``: the notebook's run (its profile, device and default precision), or a
        ``kd.Run(profile=...)`` to plan another profile."""
        run = as_run(run)
        self.profile, self.precision = run.profile, run.precision
        self.device = torch.device(device) if device is not None else run.device
        self.jobs: list[Job] = []

    def add(self, what: str, model, budget, *, samples: int, input_shape, count: int = 1, teacher=None) -> "Plan":
        """``count`` trainings of ``model`` (config or module) with ``budget`` (a
        :class:`kdhelpers.Budget`: its epochs, batch and precision) on ``samples`` examples of
        ``input_shape``. A ``teacher`` (config or module) runs once over the transfer set (once per
        view for a finite augmentation such as the alternating flip), or on every batch when the
        budget augments otherwise or does not cache the teacher."""
        if min(samples, count) < 1:
            raise ValueError(f"{what}: samples and count must be ≥ 1")

        precision = "float32" if budget.precision == "float32" else self.precision
        # the teacher runs once over the transfer set, once per view (an image and its mirror), or per batch
        views = budget.teacher_views()
        per_batch = views is None
        job = Job(what, model, tuple(input_shape), int(samples), budget.epochs, int(count), budget.batch_size,
                  teacher, per_batch, precision)
        job.flops = 3 * forward_flops(_build(model), job.input_shape) * job.samples * job.epochs
        rate = probe_rate(model, job.input_shape, min(job.batch_size, 256), device=self.device, precision=precision)
        job.seconds = job.flops / rate
        if teacher is not None:
            t_flops = forward_flops(_build(teacher), job.input_shape) * job.samples * (job.epochs if per_batch else views)
            t_rate = probe_rate(teacher, job.input_shape, min(job.batch_size, 256), device=self.device,
                                precision=precision)
            job.flops += t_flops
            job.seconds += t_flops / t_rate
        job.flops *= job.count
        job.seconds *= job.count
        self.jobs.append(job)
        return self

    def add_flops(self, what: str, flops: float, seconds: float, count: int = 1) -> "Plan":
        """A job priced elsewhere (e.g. a batched ensemble: its FLOPs and its own probe)."""
        job = Job(what, None, (), 0, 0, int(count))
        job.flops, job.seconds = float(flops) * count, float(seconds) * count
        self.jobs.append(job)
        return self

    @property
    def flops(self) -> float:
        return sum(j.flops for j in self.jobs)

    @property
    def seconds(self) -> float:
        return sum(j.seconds for j in self.jobs)

    def table(self):
        rows = [{"training": j.what, "runs": j.count,
                 "epochs × examples": f"{j.epochs} × {j.samples:,}" if j.samples else "",
                 "TFLOP": j.flops / 1e12, "estimate (min)": j.seconds / 60} for j in self.jobs]
        rows.append({"training": "total", "runs": sum(j.count for j in self.jobs), "epochs × examples": "",
                     "TFLOP": self.flops / 1e12, "estimate (min)": self.seconds / 60})
        return pd.DataFrame(rows).set_index("training")

    def summary(self) -> str:
        text = (f"{self.profile} profile: {self.flops / 1e12:,.1f} TFLOP of training; about "
                f"{self.seconds / 60:,.1f} min on this device ({self.device}, "
                f"{precision_name(self.device, self.precision)}) if nothing is cached")
        if self.profile == "full":
            text += f"; at least {self.flops / REFERENCE_GPU_FLOPS / 60:,.1f} min on a GPU sustaining " \
                    f"{REFERENCE_GPU_FLOPS / 1e12:.0f} TFLOP/s"
        return text

    def show(self):
        """Print the summary line and return the per-job table (a notebook displays it)."""
        current().plan = self  # the results file's cost section reads it
        print(self.summary())
        return self.table().style.format({"TFLOP": "{:,.2f}", "estimate (min)": "{:,.1f}"})


def device_rate(device) -> float:
    """Achieved training FLOP/s on ``device``: a short probe (a few steps of an 800-800 MLP at
    batch 256, in the precision the device trains in); what the "auto" profile divides by."""
    return probe_rate({"arch": "mlp", "hidden": [800, 800]}, (1, 28, 28), 256, device=device)
