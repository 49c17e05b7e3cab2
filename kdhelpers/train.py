"""One loop for plain training and distillation, plus evaluation helpers.

``fit(model, data, budget, teacher=..., loss=...)`` trains; ``trained(...)`` does the same through
the model cache, keyed by everything that determines the result.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from . import dryrun
from .budget import Budget, make_optimizer, make_schedule
from .infra.cache import load_or_train  # up into the infrastructure: trained() goes through the model cache
from .data import AUGMENTATIONS, VIEW_AUGMENTATIONS, TensorData, alternating_flip_mask, batches
from .device import amp_dtype, default_device, grad_scaler, precision_name, seed_everything, show_progress
from .losses import CrossEntropy
from .models import apply_max_norm, build_model


def _precision(budget_or_model) -> str | None:
    """None (the run's default), "float32" (a source's protocol as published) or "float16"."""
    p = getattr(budget_or_model, "precision", None) or getattr(budget_or_model, "kd_precision", None)
    return p if p in ("float32", "float16") else None


@torch.no_grad()
def predict_logits(model: nn.Module, data: TensorData, *, batch_size: int = 4096,
                   device=None) -> torch.Tensor:
    """The model's logits for every example, in eval mode, as float32 on ``device``'s side, in the
    precision the model was trained in (``model.kd_precision``, set by :func:`trained`)."""
    device = torch.device(device) if device is not None else default_device()
    model = model.to(device).eval()
    n = dryrun.eval_rows(len(data))
    x = data.x[:n].to(device)
    dtype = amp_dtype(device, _precision(model))
    conv = x.dim() == 4 and _has_conv(model)
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


def _has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def logits_of(out):
    """Models that also return features (feature-based KD) return ``(logits, features...)``."""
    return out[0] if isinstance(out, (tuple, list)) else out


def errors(logits: torch.Tensor, y: torch.Tensor) -> int:
    """How many argmax predictions are wrong."""
    return int((logits.argmax(1).cpu() != y.cpu()).sum())


def evaluate(model: nn.Module, data: TensorData, device=None) -> dict:
    """``{"errors": int, "n": int, "accuracy": %, "error_rate": %}`` on ``data``."""
    wrong = errors(predict_logits(model, data, device=device), data.y)
    n = len(data)
    return {"errors": wrong, "n": n, "accuracy": 100.0 * (n - wrong) / n, "error_rate": 100.0 * wrong / n}


class Lookahead:
    """airbench's Lookahead: every 5 steps, an exponential average of the weights (and BatchNorm
    statistics) moves towards them with weight 1 − 0.95⁵·(step/steps)³ and is copied back into
    them; at the end the average replaces the weights."""

    def __init__(self, model: nn.Module):
        self.ema = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def step(self, model: nn.Module, step: int, steps: int) -> None:
        if step % 5 == 0:
            self._update(model, 0.95 ** 5 * (step / steps) ** 3)

    @torch.no_grad()
    def finish(self, model: nn.Module) -> None:
        self._update(model, 1.0)

    def _update(self, model, decay: float) -> None:
        state = model.state_dict()
        for k, avg in self.ema.items():
            avg.lerp_(state[k], 1 - decay)
            state[k].copy_(avg)


def clip_grad_norm(params, max_norm: float) -> torch.Tensor:
    """Scale the gradients so their total L2 norm is at most ``max_norm``; returns the norm before.

    The same scaling as ``torch.nn.utils.clip_grad_norm_`` (coefficient max_norm / (norm + 1e-6)),
    but the gradients are only rewritten when it is below 1: 0.26 instead of 0.61 ms per step for
    an 800-800 MLP on a 2-core CPU (measured), a sixth of its whole training step.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if not norm.is_cpu:  # on a GPU, multiply always rather than wait for the norm (torch's way)
        torch._foreach_mul_(grads, torch.clamp(max_norm / (norm + 1e-6), max=1.0))
    elif norm + 1e-6 > max_norm:
        torch._foreach_mul_(grads, max_norm / (norm + 1e-6))
    return norm


_TEACHER_OUTPUTS: dict = {}  # (teacher key, data, device, precision) -> logits, for the students of one teacher


def _teacher_outputs(teacher: nn.Module, data: TensorData, device) -> torch.Tensor:
    """The teacher's outputs over a whole transfer set, computed once per (cached) teacher and data
    set in this process: every student of a chapter distilled from one teacher shares them (a CNN
    teacher's pass over 60,000 images costs a minute on a CPU)."""
    key = getattr(teacher, "kd_cache_key", None)
    if key is None:
        return predict_logits(teacher, data, device=device)
    # a wrapper (e.g. a teacher seen as logits + features) shares its teacher's key but not its outputs
    memo_key = (key, type(teacher).__name__, teacher.extra_repr(), data.name, len(data), str(device),
                str(amp_dtype(device, _precision(teacher))), dryrun.enabled())
    if memo_key not in _TEACHER_OUTPUTS:
        if len(_TEACHER_OUTPUTS) >= 8:  # a few teachers' worth (60k × 10 floats = 2.4 MB each)
            _TEACHER_OUTPUTS.pop(next(iter(_TEACHER_OUTPUTS)))
        _TEACHER_OUTPUTS[memo_key] = predict_logits(teacher, data, device=device)
    return _TEACHER_OUTPUTS[memo_key]


def fit(model: nn.Module, data: TensorData, budget: Budget, *, teacher: nn.Module | None = None,
        loss: Callable | None = None, seed: int = 0, on_epoch_end: Callable | None = None,
        device=None, desc: str = "train", progress: bool | None = None) -> dict:
    """Train ``model`` on ``data`` with ``budget``; with a ``teacher``, distil.

    ``loss(student_out, teacher_out, targets)`` is a module of :mod:`kdhelpers.losses` (default:
    cross-entropy on the labels); ``teacher_out`` is None without a teacher. Without augmentation
    the teacher's outputs over the transfer set are computed once and indexed per batch; with
    augmentation (or ``budget.cache_teacher=False``) the teacher runs per batch on the very inputs
    the student sees. ``on_epoch_end(epoch, model)`` runs after every epoch (counted from 1).
    In a dry run (``KD_DRY_RUN=1``) the loop stops after two small batches.
    """
    if not isinstance(budget, Budget):
        raise TypeError(f"fit takes a kd.Budget, got {type(budget).__name__}")
    if loss is None:
        if teacher is not None:
            raise ValueError("a teacher needs a distillation loss, e.g. loss=kd.losses.DistillationLoss(T, alpha)")
        loss = CrossEntropy(budget.label_smoothing)
    if not callable(loss):
        raise TypeError(f"loss must be callable as loss(student_out, teacher_out, targets), got {loss!r}")
    augment = AUGMENTATIONS[budget.augment] if budget.augment else None

    device = torch.device(device) if device is not None else default_device()
    dtype = amp_dtype(device, _precision(budget))
    gen = torch.Generator().manual_seed(seed)
    model.to(device)
    # convolutions run 1.4-1.9x faster channels-last, on CUDA and on a CPU's oneDNN alike (measured)
    conv = data.x.dim() == 4 and _has_conv(model)
    if conv:
        model.to(memory_format=torch.channels_last)
    on_dev = data.to(device)
    teacher_out, teacher_views, teacher_conv = None, None, False
    if teacher is not None:
        teacher.to(device).eval()
        teacher_conv = data.x.dim() == 4 and _has_conv(teacher)
        if teacher_conv:
            teacher.to(memory_format=torch.channels_last)
        if augment is None and budget.cache_teacher:
            teacher_out = _teacher_outputs(teacher, on_dev, device)
        elif budget.augment in VIEW_AUGMENTATIONS and budget.cache_teacher:
            # finitely many views (an image and its mirror): the teacher's outputs for each, once
            flipped = replace(on_dev, x=on_dev.x.flip(-1), name=f"{data.name}|mirrored")
            teacher_views = (_teacher_outputs(teacher, on_dev, device), _teacher_outputs(teacher, flipped, device))

    if hasattr(model, "data_init"):  # a data-dependent initialisation (airbench's patch whitening)
        model.data_init(data.prepare(on_dev.x[:5000]))
    # parameters frozen for good (requires_grad False from the start) stay out; a model that unfreezes
    # some per epoch (epoch_start) keeps them all
    params = [p for p in model.parameters() if p.requires_grad or hasattr(model, "epoch_start")]
    groups = model.param_groups(budget.lr, budget.weight_decay) if hasattr(model, "param_groups") else params
    # fused: one kernel for the whole optimiser step instead of one per parameter (0.18 → 0.11 ms per
    # step for an 800-800 MLP on a 2-core CPU, measured)
    opt = make_optimizer(groups, budget, fused=device.type in ("cpu", "cuda"))
    lookahead = Lookahead(model) if budget.lookahead else None
    batch_size = dryrun.batch_size(budget.batch_size)
    steps_per_epoch = math.ceil(len(data) / batch_size)
    sched = None if budget.schedule == "constant" else make_schedule(opt, budget, budget.epochs * steps_per_epoch)
    scaler = grad_scaler(device, dtype)
    history, start, done = [], time.perf_counter(), 0
    bar = tqdm(range(budget.epochs), desc=desc, disable=not show_progress(progress), leave=False)
    for epoch in bar:
        model.train()
        if hasattr(model, "epoch_start"):
            model.epoch_start(epoch)
        total = torch.zeros((), device=device)
        for idx in batches(len(data), batch_size, generator=gen, device=device):
            if dryrun.stop(done):
                break
            done += 1
            xb = on_dev.x.index_select(0, idx)  # 10x faster than x[idx] for a batch of images
            if augment is not None:
                xb = augment(xb, generator=gen, epoch=epoch, idx=idx)
            xb, yb = data.prepare(xb), on_dev.y.index_select(0, idx)
            if conv or (teacher_conv and teacher_out is None):
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = model(xb)
                t = None
                if teacher_out is not None:
                    t = teacher_out.index_select(0, idx)
                elif teacher_views is not None:
                    t = torch.where(alternating_flip_mask(idx, epoch)[:, None].to(device),
                                    teacher_views[1].index_select(0, idx), teacher_views[0].index_select(0, idx))
                elif teacher is not None:
                    with torch.no_grad():
                        t = teacher(xb)
                value = loss(out, t, yb)
            opt.zero_grad(set_to_none=True)
            scaler.scale(value).backward()
            if budget.clip_grad_norm:
                scaler.unscale_(opt)
                clip_grad_norm(params, budget.clip_grad_norm)
            scaler.step(opt)
            scaler.update()
            if sched is not None:
                sched.step()
            if budget.max_norm:
                apply_max_norm(model, budget.max_norm)
            if lookahead is not None:
                lookahead.step(model, done, budget.epochs * steps_per_epoch)
            total += value.detach() * len(idx)
        history.append(float(total) / len(data))
        bar.set_postfix(loss=f"{history[-1]:.4f}")
        if on_epoch_end is not None:
            model.eval()
            on_epoch_end(epoch + 1, model)
        if dryrun.stop(done) and on_epoch_end is None:
            break
    if lookahead is not None:
        lookahead.finish(model)
    model.eval()
    return {"loss": history, "seconds": time.perf_counter() - start,
            "precision": precision_name(device, _precision(budget)), "device": str(device)}


def trained(name: str, model_cfg: dict, data: TensorData, budget: Budget, *, profile: str, seed: int = 0,
            teacher: nn.Module | None = None, loss: nn.Module | None = None, checkpoints=None,
            track: TensorData | None = None, device=None, progress: bool | None = None):
    """Build, seed and :func:`fit` a model — or load it from the cache if this exact (model config,
    budget, loss, profile, seed, data, teacher, precision) was trained before.

    ``checkpoints=[E, ...]`` keeps the model after each of those epochs of the one run and returns
    ``{epoch: model}`` (the early-stopped teachers of a chapter), cached together. ``track``: a data
    set whose accuracy is measured after every epoch; the curve is cached with the model and comes
    back as ``model.kd_history`` (a list of accuracies in %, one per epoch).
    """
    if teacher is not None and getattr(teacher, "kd_cache_key", None) is None:
        raise ValueError("the teacher must come from trained() so the student's cache key can name it")
    if loss is not None and not (isinstance(loss, nn.Module) and (loss.extra_repr() or type(loss).__name__)):
        raise ValueError("loss must be a kd.losses module (its repr, with its settings, keys the cache)")
    device = torch.device(device) if device is not None else default_device()
    precision = _precision(budget)
    parts = {"model": model_cfg, "budget": budget.parts(), "loss": None if loss is None else repr(loss),
             "profile": profile, "seed": seed, "data": data.name, "n": len(data),
             "teacher": getattr(teacher, "kd_cache_key", None),
             # bf16 and float32 runs of one config are different models
             "computed_in": precision_name(device, precision)}
    if track is not None:
        parts["track"] = f"{track.name}|{len(track)}"
    meta = {"device": str(device), "precision": precision_name(device, precision)}

    def train(keep=None):
        seed_everything(seed)
        model = build_model(model_cfg)
        history = []

        def hook(epoch, m):
            if track is not None:
                # a dry run stops training after 2 batches but still ends every epoch: measure once
                history.append(history[-1] if dryrun.enabled() and history else
                               evaluate(m, track, device=device)["accuracy"])
            if keep is not None:
                keep(epoch, m)

        fit(model, data, budget, teacher=teacher, loss=loss, seed=seed, device=device, desc=name,
            on_epoch_end=hook if (track is not None or keep is not None) else None, progress=progress)
        if track is not None:
            meta["history"] = history
        return model

    out = load_or_train(name, parts, lambda: build_model(model_cfg), train, meta=meta, checkpoints=checkpoints)
    for m in (out.values() if isinstance(out, dict) else [out]):
        m.kd_precision = budget.precision
    return out
