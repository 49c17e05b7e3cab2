"""One loop for plain training and distillation, plus evaluation helpers.

``fit(model, data, budget, teacher=..., loss=...)`` trains; ``trained(...)`` does the same through
the model cache, keyed by everything that determines the result.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch import nn

from . import dryrun
from .budget import Budget, make_optimizer
from .callbacks import (CancelEpoch, CancelFit, Callback, ChannelsLast, DryRunStop, GradClip, Loop, Lookahead,
                        MaxNorm, OnEpochEnd, ProgressBar, Recorder, Schedule, Teacher, TeacherOutputCache, has_conv)
from .infra.cache import load_or_train  # up into the infrastructure: trained() goes through the model cache
from .infra.run import Run, as_run  # and the run object carries the profile, precision and model records
from .data import AUGMENTATIONS, TensorData, batches
from .device import amp_dtype, default_device, grad_scaler, precision_name, seed_everything, show_progress
from .losses import CrossEntropy
from .models import build_model


@torch.no_grad()
def predict_logits(model: nn.Module, data: TensorData, *, batch_size: int = 4096,
                   device=None, run: Run | None = None) -> torch.Tensor:
    """The model's logits for every example, in eval mode, as float32 on ``device``'s side, in the
    precision the model was trained in (what :func:`trained` told the run), else the run's."""
    run = as_run(run)
    device = torch.device(device) if device is not None else run.device
    model = model.to(device).eval()
    n = dryrun.eval_rows(len(data))
    x = data.x[:n].to(device)
    dtype = amp_dtype(device, run.precision_for(run.precision_of(model)))
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


def logits_of(out):
    """Models that also return features (feature-based KD) return ``(logits, features...)``."""
    return out[0] if isinstance(out, (tuple, list)) else out


def errors(logits: torch.Tensor, y: torch.Tensor) -> int:
    """How many argmax predictions are wrong."""
    return int((logits.argmax(1).cpu() != y.cpu()).sum())


def evaluate(model: nn.Module, data: TensorData, device=None, run: Run | None = None) -> dict:
    """``{"errors": int, "n": int, "accuracy": %, "error_rate": %}`` on ``data``."""
    wrong = errors(predict_logits(model, data, device=device, run=run), data.y)
    n = len(data)
    return {"errors": wrong, "n": n, "accuracy": 100.0 * (n - wrong) / n, "error_rate": 100.0 * wrong / n}


def teacher_outputs(run: Run, teacher: nn.Module, data: TensorData, device) -> torch.Tensor:
    """The teacher's outputs over a whole transfer set, computed once per (cached) teacher and data
    set in the run (``run.teacher_outputs``): every student of a chapter distilled from one teacher
    shares them (a CNN teacher's pass over 60,000 images costs a minute on a CPU)."""
    key = run.key_of(teacher)
    if key is None:
        return predict_logits(teacher, data, device=device, run=run)
    # a wrapper (e.g. a teacher seen as logits + features) shares its teacher's key but not its outputs
    memo_key = (key, type(teacher).__name__, teacher.extra_repr(), data.name, len(data), str(device),
                str(amp_dtype(device, run.precision_for(run.precision_of(teacher)))), dryrun.enabled())
    memo = run.teacher_outputs
    if memo_key not in memo:
        if len(memo) >= 8:  # a few teachers' worth (60k × 10 floats = 2.4 MB each)
            memo.pop(next(iter(memo)))
        memo[memo_key] = predict_logits(teacher, data, device=device, run=run)
    return memo[memo_key]


def fit(model: nn.Module, data: TensorData, budget: Budget, *, teacher: nn.Module | None = None,
        loss: Callable | None = None, seed: int = 0, on_epoch_end: Callable | None = None,
        device=None, desc: str = "train", progress: bool | None = None, run: Run | None = None) -> dict:
    """Train ``model`` on ``data`` with ``budget``; with a ``teacher``, distil.

    ``loss(student_out, teacher_out, targets)`` is a module of :mod:`kdhelpers.losses` (default:
    cross-entropy on the labels); ``teacher_out`` is None without a teacher. Without augmentation
    the teacher's outputs over the transfer set are computed once and indexed per batch; with
    augmentation (or ``budget.cache_teacher=False``) the teacher runs per batch on the very inputs
    the student sees. ``on_epoch_end(epoch, model)`` runs after every epoch (counted from 1).
    ``run``: the notebook's run (default :func:`kdhelpers.infra.run.current`): its precision, and
    its record of the teacher.
    In a dry run (``KD_DRY_RUN=1``) the loop stops after two small batches.

    The loop below is the whole of training; what else a budget, a teacher or a model asks for is a
    callback (:mod:`kdhelpers.callbacks`), called at the events named in the loop, assembled by
    :func:`callbacks_for`. Returns ``{"loss": [mean loss per epoch], "seconds", "precision", "device"}``.
    """
    loss, run = _checked(budget, teacher, loss), as_run(run)
    device = torch.device(device) if device is not None else run.device
    precision = run.precision_for(budget.precision)
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
                    loop("before_batch")  # a dry loop stops here
                    loop.step += 1
                    xb = loop.data.x.index_select(0, loop.idx)  # 10x faster than x[idx] for a batch of images
                    if augment is not None:
                        xb = augment(xb, generator=loop.gen, epoch=loop.epoch, idx=loop.idx)
                    loop.xb, loop.yb = data.prepare(xb), loop.data.y.index_select(0, loop.idx)
                    loop("before_pred")  # channels-last
                    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                        loop.out = model(loop.xb)
                        loop("after_pred")  # the teacher's outputs for the batch, into loop.teacher_out
                        loop.loss = loss(loop.out, loop.teacher_out, loop.yb)
                    loop.opt.zero_grad(set_to_none=True)
                    loop.scaler.scale(loop.loss).backward()
                    loop("after_backward")  # gradient clipping
                    loop.scaler.step(loop.opt)
                    loop.scaler.update()
                    loop("after_step")  # schedule, max-norm, Lookahead, the loss's running sum
            except CancelEpoch:
                pass
            loop("after_epoch")  # the epoch's loss, progress bar, on_epoch_end
    except CancelFit:
        pass
    loop("after_fit")  # Lookahead's average into the weights
    model.eval()
    return {"loss": loop.history, "seconds": time.perf_counter() - loop.start,
            "precision": precision_name(device, precision), "device": str(device)}


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
                  progress: bool | None = None, run: Run | None = None) -> list[Callback]:
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
        outputs = lambda t, d, dev: teacher_outputs(as_run(run), t, d, dev)  # noqa: E731
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


def cache_parts(run: Run, model_cfg: dict, data: TensorData, budget: Budget, *, seed: int, teacher, loss,
                device, track: TensorData | None = None) -> tuple[dict, dict]:
    """What keys a trained model in the cache (model config, budget, loss, profile, seed, data,
    teacher's key, precision), and the meta stored beside it (device, precision)."""
    precision = run.precision_for(budget.precision)
    parts = {"model": model_cfg, "budget": budget.parts(), "loss": None if loss is None else repr(loss),
             "profile": run.profile, "seed": seed, "data": data.name, "n": len(data),
             "teacher": run.key_of(teacher) if teacher is not None else None,
             # bf16 and float32 runs of one config are different models
             "computed_in": precision_name(device, precision)}
    if track is not None:
        parts["track"] = f"{track.name}|{len(track)}"
    return parts, {"device": str(device), "precision": precision_name(device, precision)}


def trained(name: str, model_cfg: dict, data: TensorData, budget: Budget, *, run: Run | None = None,
            seed: int = 0, teacher: nn.Module | None = None, loss: nn.Module | None = None, checkpoints=None,
            track: TensorData | None = None, device=None, progress: bool | None = None):
    """Build, seed and :func:`fit` a model — or load it from the cache if this exact (model config,
    budget, loss, profile, seed, data, teacher, precision) was trained before.

    ``run``: the notebook's run (default :func:`kdhelpers.infra.run.current`); its profile keys the
    cache, its ledger records the model, and it remembers the model's key (a student's key names its
    teacher's: ``run.key_of(teacher)``), precision and curve. ``checkpoints=[E, ...]`` keeps the
    model after each of those epochs of the one run and returns ``{epoch: model}`` (the early-stopped
    teachers of a chapter), cached together. ``track``: a data set whose accuracy is measured after
    every epoch; the curve is cached with the model: ``run.history_of(model)`` (accuracies in %).
    """
    run = as_run(run)
    if teacher is not None and run.key_of(teacher) is None:
        raise ValueError("the teacher must come from trained() in this run, so the student's cache key can name it")
    if loss is not None and not (isinstance(loss, nn.Module) and (loss.extra_repr() or type(loss).__name__)):
        raise ValueError("loss must be a kd.losses module (its repr, with its settings, keys the cache)")
    device = torch.device(device) if device is not None else run.device
    parts, meta = cache_parts(run, model_cfg, data, budget, seed=seed, teacher=teacher, loss=loss, device=device,
                              track=track)

    def train(keep=None):
        seed_everything(seed)
        model = build_model(model_cfg)
        history = []

        def hook(epoch, m):
            if track is not None:
                # a dry run stops training after 2 batches but still ends every epoch: measure once
                history.append(history[-1] if dryrun.enabled() and history else
                               evaluate(m, track, device=device, run=run)["accuracy"])
            if keep is not None:
                keep(epoch, m)

        fit(model, data, budget, teacher=teacher, loss=loss, seed=seed, device=device, desc=name,
            on_epoch_end=hook if (track is not None or keep is not None) else None, progress=progress, run=run)
        if track is not None:
            meta["history"] = history
        return model

    return load_or_train(name, parts, lambda: build_model(model_cfg), train, meta=meta, checkpoints=checkpoints,
                         run=run, precision=budget.precision)


def trained_as(protocol, role: str, name: str, data: TensorData, *, run: Run | None = None, seed: int = 0,
               budget: Budget | None = None, **kwargs):
    """:func:`trained` for the network ``role`` of a chapter's protocol record
    (:class:`kdhelpers.infra.protocol.Protocol`): its config and budget (or ``budget``) in the run's
    profile, so the record keys the cache. ``kwargs``: the rest of :func:`trained`'s."""
    run = as_run(run)
    return trained(name, protocol.model(role, run), data, budget or protocol.budget(role, run), run=run, seed=seed,
                   **kwargs)
