"""One loop for plain training and distillation, plus evaluation helpers.

``fit(model, data, budget, teacher=..., loss=...)`` trains; the book's ``kdbook.trained(...)`` does
the same through its model cache. ``run``, where a function takes it, is anything with ``device``,
``precision_for(p)``, ``precision_of(model)`` and ``outputs_of(teacher, data, device)`` (the book's
run object); without it a function uses the model's own precision (``model.kd_precision``, set when
it was trained) and the default device.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch import nn

from . import dryrun
from .budget import Budget, make_optimizer
from .callbacks import (CancelEpoch, CancelFit, Callback, DryRunStop, GradClip, Loop, Lookahead, MaxNorm,
                        OnEpochEnd, ProgressBar, Recorder, Schedule, Teacher, TeacherOutputCache)
from .channels_last import ChannelsLast, has_conv
from .augment import AUGMENTATIONS, batches
from .data import TensorData
from .device import amp_dtype, default_device, grad_scaler, precision_name, show_progress
from .losses import CrossEntropy


@torch.no_grad()
def predict_logits(model: nn.Module, data: TensorData, *, batch_size: int = 4096,
                   device=None, run=None) -> torch.Tensor:
    """The model's logits for every example, in eval mode, as float32 on ``device``'s side, in the
    precision the model was trained in (``run``'s record of it, else ``model.kd_precision``, else float32)."""
    device = torch.device(device) if device is not None else run.device if run is not None else default_device()
    model = model.to(device).eval()
    n = dryrun.eval_rows(len(data))
    x = data.x[:n].to(device)
    dtype = amp_dtype(device, precision_of(model, run))
    conv = x.dim() == 4 and has_conv(model)
    if conv:
        model.to(memory_format=torch.channels_last)
    outs = []
    for idx in batches(n, batch_size, shuffle=False, device=device):
        xb = data.prepare(x[idx])
        if conv:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = model(xb)
        outs.append(logits_of(out).float())
    return dryrun.fill(torch.cat(outs), len(data))


def precision_of(model: nn.Module, run=None) -> str:
    """The precision ``model`` computes in: the run's record of it, else the one it was trained in."""
    if run is not None:
        return run.precision_for(run.precision_of(model))
    return getattr(model, "kd_precision", None) or "float32"


def logits_of(out):
    """Models that also return features (feature-based KD) return ``(logits, features...)``."""
    return out[0] if isinstance(out, (tuple, list)) else out


def errors(logits: torch.Tensor, y: torch.Tensor) -> int:
    """How many argmax predictions are wrong."""
    return int((logits.argmax(1).cpu() != y.cpu()).sum())


def evaluate(model: nn.Module, data: TensorData, device=None, run=None) -> dict:
    """``{"errors": int, "n": int, "accuracy": %, "error_rate": %}`` on ``data``."""
    wrong = errors(predict_logits(model, data, device=device, run=run), data.y)
    n = len(data)
    return {"errors": wrong, "n": n, "accuracy": 100.0 * (n - wrong) / n, "error_rate": 100.0 * wrong / n}


def fit(model: nn.Module, data: TensorData, budget: Budget, *, teacher: nn.Module | None = None,
        loss: Callable | None = None, seed: int = 0, on_epoch_end: Callable | None = None,
        device=None, desc: str = "train", progress: bool | None = None, precision: str | None = None,
        run=None) -> dict:
    """Train ``model`` on ``data`` with ``budget``; with a ``teacher``, distil.

    ``loss(student_out, teacher_out, targets)`` is a module of :mod:`kdhelpers.losses` (default:
    cross-entropy on the labels); ``teacher_out`` is None without a teacher. Without augmentation
    the teacher's outputs over the transfer set are computed once and indexed per batch; with
    augmentation (or ``budget.cache_teacher=False``) the teacher runs per batch on the very inputs
    the student sees. ``on_epoch_end(epoch, model)`` runs after every epoch (counted from 1).
    ``precision``: "float32", "float16" or "auto" (bf16 autocast where the CPU has it); default: the
    budget's own, else ``run``'s, else float32. ``run`` also shares a teacher's outputs between students.
    In a dry run (``KD_DRY_RUN=1``) the loop stops after two small batches.

    The loop below is the whole of training; what else a budget, a teacher or a model asks for is a
    callback (:mod:`kdhelpers.callbacks`), called at the events named in the loop, assembled by
    :func:`callbacks_for`. Returns ``{"loss": [mean loss per epoch], "seconds", "precision", "device"}``.
    """
    loss = _checked(budget, teacher, loss)
    device = torch.device(device) if device is not None else run.device if run is not None else default_device()
    precision = precision or _precision(budget, run)
    dtype = amp_dtype(device, precision)
    augment = AUGMENTATIONS[budget.augment] if budget.augment else None
    batch_size = dryrun.batch_size(budget.batch_size)
    loop = Loop(model.to(device), data.to(device), budget, device=device, seed=seed, batch_size=batch_size,
                steps=budget.epochs * math.ceil(len(data) / batch_size),
                callbacks=callbacks_for(model, data, budget, teacher=teacher, on_epoch_end=on_epoch_end,
                                        desc=desc, progress=progress, run=run))
    loop.opt = make_optimizer(param_groups(model, budget), budget, fused=device.type in ("cpu", "cuda"))
    loop.scaler = grad_scaler(device, dtype)
    loop("before_fit")  # channels-last weights, the teacher's outputs, the model's own set-up
    try:
        for loop.epoch in range(budget.epochs):
            model.train()
            loop("before_epoch")
            try:
                for loop.idx in batches(len(data), batch_size, generator=loop.gen, device=device):
                    fit_step(loop, model, loss, augment, dtype)
            except CancelEpoch:
                pass
            loop("after_epoch")  # the epoch's loss, progress bar, on_epoch_end
    except CancelFit:
        pass
    loop("after_fit")  # Lookahead's average into the weights
    model.eval()
    model.kd_precision = precision  # evaluation computes as training did
    return {"loss": loop.history, "seconds": time.perf_counter() - loop.start,
            "precision": precision_name(device, precision), "device": str(device)}


def fit_step(loop: Loop, model: nn.Module, loss: Callable, augment, dtype) -> None:
    """One batch of :func:`fit`: the quickstart's distillation step, with the callbacks' events."""
    loop("before_batch")  # a dry loop stops here
    loop.step += 1
    xb = loop.data.x.index_select(0, loop.idx)  # 10x faster than x[idx] for a batch of images
    if augment is not None:
        xb = augment(xb, generator=loop.gen, epoch=loop.epoch, idx=loop.idx)
    loop.xb, loop.yb = loop.data.prepare(xb), loop.data.y.index_select(0, loop.idx)
    loop("before_pred")  # channels-last
    with torch.autocast(loop.device.type, dtype=dtype, enabled=dtype is not None):
        loop.out = model(loop.xb)
        loop("after_pred")  # the teacher's outputs for the batch, into loop.teacher_out
        loop.loss = loss(loop.out, loop.teacher_out, loop.yb)
    loop.opt.zero_grad(set_to_none=True)
    loop.scaler.scale(loop.loss).backward()
    loop("after_backward")  # gradient clipping
    loop.scaler.step(loop.opt)
    loop.scaler.update()
    loop("after_step")  # schedule, max-norm, Lookahead, the loss's running sum


def _precision(budget: Budget, run) -> str:
    """The budget's own precision (a source's float32), else the run's choice, else float32."""
    own = budget.precision if budget.precision in ("float32", "float16") else None
    return run.precision_for(budget.precision) if run is not None else own or "float32"


def _checked(budget: Budget, teacher, loss) -> Callable:
    """fit's budget and loss, checked; the loss defaults to cross-entropy on the labels."""
    if not isinstance(budget, Budget):
        raise TypeError(f"fit takes a kd.Budget, got {type(budget).__name__}")
    if loss is None:
        if teacher is not None:
            raise ValueError("a teacher needs a distillation loss, e.g. loss=kd.losses.DistillationLoss(T, alpha)")
        loss = CrossEntropy(budget.label_smoothing)
    if not callable(loss):
        raise TypeError(f"loss must be callable as loss(student_out, teacher_out, targets), got {loss!r}")
    return loss


def param_groups(model: nn.Module, budget: Budget):
    """What the optimiser steps: the groups a model declares with ``param_groups(lr, weight_decay)``
    (airbench's BatchNorm biases at 64× the rate, the Keras example's Adam), else every parameter
    trainable when training starts (frozen ones stay out; a model that unfreezes some later declares
    its groups)."""
    if hasattr(model, "param_groups"):
        return model.param_groups(budget.lr, budget.weight_decay)
    return [p for p in model.parameters() if p.requires_grad]


def callbacks_for(model: nn.Module, data: TensorData, budget: Budget, *, teacher: nn.Module | None = None,
                  on_epoch_end: Callable | None = None, desc: str = "train",
                  progress: bool | None = None, run=None) -> list[Callback]:
    """fit's callbacks for this model, budget and teacher, in the order they run at every event:
    channels-last, the teacher's outputs (cached over the transfer set, per mirrored view, or per
    batch), the model's own (``model.fit_callbacks()``), gradient clipping, the schedule, max-norm,
    Lookahead, the loss record, the progress bar, ``on_epoch_end``, the dry run's stop."""
    images = data.x.dim() == 4
    model_conv, teacher_conv = images and has_conv(model), images and teacher is not None and has_conv(teacher)
    views = budget.teacher_views() if teacher is not None else None  # the budget says how the teacher runs
    whole_set, mirrored = views == 1, views is not None and views > 1
    per_batch = teacher is not None and views is None
    cbs: list[Callback] = []
    if model_conv or (teacher_conv and per_batch):
        cbs.append(ChannelsLast(model=model_conv))
    if whole_set or mirrored:
        outputs = run.outputs_of if run is not None else (  # noqa: E731
            lambda t, d, dev: predict_logits(t, d, device=dev))
        cbs.append(TeacherOutputCache(teacher, outputs, mirrored=mirrored, channels_last=teacher_conv))
    elif per_batch:
        cbs.append(Teacher(teacher, channels_last=teacher_conv))
    cbs += model.fit_callbacks() if hasattr(model, "fit_callbacks") else []
    if budget.clip_grad_norm:
        cbs.append(GradClip(budget.clip_grad_norm))
    if budget.schedule != "constant":
        cbs.append(Schedule())
    if budget.max_norm:
        cbs.append(MaxNorm(budget.max_norm))
    if budget.lookahead:
        cbs.append(Lookahead())
    cbs += [Recorder(), ProgressBar(desc, show_progress(progress))]
    if on_epoch_end is not None:
        cbs.append(OnEpochEnd(on_epoch_end))
    if dryrun.enabled():
        cbs.append(DryRunStop(every_epoch=on_epoch_end is not None))
    return cbs
