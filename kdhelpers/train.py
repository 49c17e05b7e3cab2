"""One loop for plain training and distillation, plus evaluation helpers."""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from typing import Callable

from .cache import load_or_train
from .data import AUGMENTATIONS, TensorData, batches
from . import dryrun
from .device import amp_dtype, default_device, precision_name, seed_everything, show_progress
from .losses import DistillationLoss
from .models import apply_max_norm, build_model


@torch.no_grad()
def predict_logits(model: nn.Module, data: TensorData, *, batch_size: int = 4096,
                   device=None) -> torch.Tensor:
    """The model's logits for every example, in eval mode, as float32 on ``device``'s side, in the
    precision the model was trained in (``model.kd_precision``, set by :func:`trained`)."""
    device = torch.device(device) if device is not None else default_device()
    model = model.to(device).eval()
    n = dryrun.eval_rows(len(data))
    x = data.x[:n].to(device)
    dtype = amp_dtype(device, getattr(model, "kd_precision", None))
    outs = []
    for idx in batches(n, batch_size, shuffle=False, device=device):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = model(data.prepare(x[idx]))
        outs.append(logits_of(out).float())
    return dryrun.fill(torch.cat(outs), len(data))


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


def _optimizer(params, name: str, lr: float, momentum: float, weight_decay: float):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; use 'sgd', 'adam' or 'adamw'")


def _schedule(opt, name: str, lr: float, steps: int):
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    raise ValueError(f"unknown schedule {name!r}; use 'constant', 'cosine' or 'onecycle'")


def fit(model: nn.Module, data: TensorData, *, epochs: int, batch_size: int = 128, lr: float = 0.1,
        optimizer: str = "sgd", momentum: float = 0.9, weight_decay: float = 0.0,
        schedule: str = "cosine", teacher: nn.Module | None = None, temperature: float = 1.0,
        alpha: float | None = None, augment=None, max_norm: float | None = None,
        clip_grad_norm: float | None = None, seed: int = 0,
        criterion: Callable | None = None, cache_teacher: bool = True,
        on_epoch_end: Callable | None = None, precision: str | None = None,
        device=None, desc: str = "train", progress: bool | None = None) -> dict:
    """Train ``model`` on ``data``; with a ``teacher``, distil (α = soft-target weight, default 1).

    Without augmentation the teacher's logits over the transfer set are computed once and
    indexed per batch; with augmentation (or ``cache_teacher=False``, e.g. when the teacher
    returns features too) the teacher runs per batch on the inputs the student sees.

    ``criterion(student_out, teacher_out, targets)`` replaces the default loss (cross-entropy, or
    :class:`DistillationLoss` with a teacher); ``teacher_out`` is ``None`` without a teacher.
    ``on_epoch_end(epoch, model)`` runs after every epoch (epoch counts from 1), e.g. to save
    checkpoints. ``precision`` "float32" turns mixed precision off for this run (default: the
    run's, see :func:`kdhelpers.device.amp_dtype`). In a dry run (``KD_DRY_RUN=1``) the loop
    stops after two small batches (:mod:`kdhelpers.dryrun`).
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if batch_size < 1 or not lr > 0:
        raise ValueError(f"need batch_size ≥ 1 and lr > 0, got {batch_size}, {lr}")
    if isinstance(augment, str):
        if augment not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {augment!r}; known: {sorted(AUGMENTATIONS)}")
        augment = AUGMENTATIONS[augment]
    if criterion is not None:
        if alpha is not None or temperature != 1.0:
            raise ValueError("with a criterion, set temperature and weights on the criterion, not fit()")
        loss_fn = criterion
    elif teacher is not None:
        loss_fn = DistillationLoss(temperature, 1.0 if alpha is None else alpha)
    elif alpha not in (None, 0, 0.0):
        raise ValueError(f"alpha={alpha!r} (a soft-target weight) needs a teacher")
    else:
        loss_fn = lambda out, _, y: F.cross_entropy(out.float(), y)  # noqa: E731

    device = torch.device(device) if device is not None else default_device()
    dtype = amp_dtype(device, precision)
    gen = torch.Generator().manual_seed(seed)
    model.to(device)
    if device.type == "cuda" and data.x.dim() == 4 and any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
    on_dev = data.to(device)
    teacher_logits = None
    if teacher is not None:
        teacher.to(device).eval()
        if augment is None and cache_teacher:
            teacher_logits = predict_logits(teacher, on_dev, device=device)

    opt = _optimizer(model.parameters(), optimizer, lr, momentum, weight_decay)
    steps_per_epoch = math.ceil(len(data) / batch_size)
    sched = _schedule(opt, schedule, lr, epochs * steps_per_epoch)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)  # bf16 needs no scaling
    history, start, done = [], time.perf_counter(), 0
    bar = tqdm(range(epochs), desc=desc, disable=not show_progress(progress), leave=False)
    for epoch in bar:
        model.train()
        total = torch.zeros((), device=device)
        for idx in batches(len(data), dryrun.batch_size(batch_size), generator=gen, device=device):
            if dryrun.stop(done):
                break
            done += 1
            xb = on_dev.x[idx]
            if augment is not None:
                xb = augment(xb, generator=gen)
            xb, yb = data.prepare(xb), on_dev.y[idx]
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = model(xb)
                t = None
                if teacher_logits is not None:
                    t = teacher_logits[idx]
                elif teacher is not None:
                    with torch.no_grad():
                        t = teacher(xb)
                loss = loss_fn(out, t, yb)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if clip_grad_norm:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            scaler.step(opt)
            scaler.update()
            sched.step()
            if max_norm:
                apply_max_norm(model, max_norm)
            total += loss.detach() * len(idx)
        history.append(float(total) / len(data))
        bar.set_postfix(loss=f"{history[-1]:.4f}")
        if on_epoch_end is not None:
            model.eval()
            on_epoch_end(epoch + 1, model)
        if dryrun.stop(done) and on_epoch_end is None:
            break
    model.eval()
    return {"loss": history, "seconds": time.perf_counter() - start,
            "precision": precision_name(device, precision), "device": str(device)}


def trained(name: str, model_cfg: dict, data: TensorData, *, profile: str, seed: int = 0,
            teacher: nn.Module | None = None, **fit_kwargs) -> nn.Module:
    """Build, seed and :func:`fit` a model — or load it from the cache if this exact
    (model config, training config, profile, seed, data, teacher) was trained before."""
    run_only = {k: fit_kwargs.pop(k) for k in ("device", "progress", "on_epoch_end") if k in fit_kwargs}
    precision = fit_kwargs.get("precision")
    key_fit = dict(fit_kwargs)
    if key_fit.get("criterion") is not None:  # a loss module is keyed by its repr (with its settings)
        key_fit["criterion"] = repr(key_fit["criterion"])
    if teacher is not None and getattr(teacher, "kd_cache_key", None) is None:
        raise ValueError("the teacher must come from trained() so the student's cache key can name it")
    device = run_only.get("device") or default_device()
    parts = {"model": model_cfg, "fit": key_fit, "profile": profile, "seed": seed,
             "data": data.name, "n": len(data),
             "teacher": getattr(teacher, "kd_cache_key", None),
             # bf16 and float32 runs of one config are different models
             "computed_in": precision_name(device, precision)}

    def train():
        seed_everything(seed)
        model = build_model(model_cfg)
        fit(model, data, teacher=teacher, seed=seed, desc=name, **fit_kwargs, **run_only)
        return model

    model = load_or_train(name, parts, lambda: build_model(model_cfg), train,
                          meta={"device": str(device), "precision": precision_name(device, precision)})
    model.kd_precision = precision
    return model
