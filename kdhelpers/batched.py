"""Training many small MLPs at once: the batched ensemble behind the temperature studies.

:class:`kdhelpers.models.EnsembleMLP` stacks ``M`` same-shaped MLPs; :func:`train_ensemble` trains
them in one loop with one optimiser. The members never interact: the loss is the *sum* of the
per-member losses, so each member's gradient is its own, and Adam/SGD update every weight
element-wise, so the result equals ``M`` independent trainings (tested in ``tests/test_ensemble.py``).
Each member minimises the book's one distillation loss, :func:`kdhelpers.losses.distillation_loss`,
with its own temperature and α (α = 0: hard labels only).
"""
from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from . import dryrun
from .budget import Budget, make_optimizer, make_schedule
from .device import amp_dtype, default_device, grad_scaler, show_progress
from .losses import check_alpha, check_temperature, distillation_loss, hard_loss
from .models import EnsembleMLP
from .infra.run import current  # the run's default precision (float32 in smoke)


def _as_stack(xs, name):
    if isinstance(xs, torch.Tensor):
        return xs
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) != 1:
        raise ValueError(f"all {name} must have the same shape, got {sorted(shapes)}")
    return torch.stack(list(xs))


def train_ensemble(model: EnsembleMLP, x, y, source, budget: Budget, *, teacher_logits=None,
                   temperature=None, alpha=None, t2_scale: bool = True, seed: int = 0, device=None,
                   desc: str = "ensemble", progress: bool | None = None) -> dict:
    """Train every member of ``model`` on its own data set, in one loop, with ``budget``
    (its optimiser, learning rate, schedule, batch and epochs; fused optimiser steps).

    ``x [D, N, F]``, ``y [D, N]``: D training sets of equal size (or lists of tensors);
    ``source[m]`` is the index of member m's set. Every set gets its own shuffle per epoch
    (drawn from ``seed``), shared by the members that train on it. With ``teacher_logits
    [D, N, C]`` (the teacher of each set) member m minimises α_m·T_m²·KL + (1−α_m)·CE with its
    own ``temperature[m]`` and ``alpha[m]``; ``t2_scale=False`` drops the T² (the Keras tutorial's
    soft cross-entropy). Without a teacher every member is trained on the hard labels.
    """
    if not isinstance(budget, Budget):
        raise TypeError(f"train_ensemble takes a kd.Budget, got {type(budget).__name__}")
    device = torch.device(device) if device is not None else default_device()
    x, y = _as_stack(x, "x").to(device), _as_stack(y, "y").to(device)
    D, N = y.shape
    if x.shape[:2] != (D, N):
        raise ValueError(f"x must be [sets, examples, features] matching y {tuple(y.shape)}, got {tuple(x.shape)}")
    M = model.n_models
    src = torch.as_tensor(source, dtype=torch.long)
    if src.shape != (M,) or int(src.min()) < 0 or int(src.max()) >= D:
        raise ValueError(f"source must give each of the {M} members a set index in 0..{D - 1}")
    src = src.to(device)
    tl = None
    if teacher_logits is not None:
        tl = _as_stack(teacher_logits, "teacher_logits").to(device)
        if tl.shape[:2] != (D, N):
            raise ValueError(f"teacher_logits must be [{D}, {N}, classes], got {tuple(tl.shape)}")
        T = torch.as_tensor(temperature if temperature is not None else [1.0] * M, dtype=torch.float32)
        a = torch.as_tensor(alpha if alpha is not None else [1.0] * M, dtype=torch.float32)
        for t in T.tolist():
            check_temperature(t)
        for v in a.tolist():
            check_alpha(v)
        if T.shape != (M,) or a.shape != (M,):
            raise ValueError(f"temperature and alpha must have one value per member ({M})")
        T, a = T.to(device), a.to(device)
    elif temperature is not None or alpha is not None:
        raise ValueError("temperature/alpha need teacher_logits")
    model.to(device).train()
    # dropout masks (torch.rand_like) come from the seed, not from whatever this process ran before:
    # a model trained after a cache hit, or in another process, must come out the same
    torch.manual_seed(seed)
    opt = make_optimizer(model.parameters(), budget, fused=device.type in ("cpu", "cuda"))
    dtype = amp_dtype(device, current().precision_for(budget.precision))
    scaler = grad_scaler(device, dtype)
    if dtype is not None:  # the first matmul casts to it anyway: gather half the bytes per batch
        x = x.to(dtype)
    gen = torch.Generator().manual_seed(seed)
    batch_size = dryrun.batch_size(budget.batch_size)
    steps = math.ceil(N / batch_size)
    sched = None if budget.schedule == "constant" else make_schedule(opt, budget, budget.epochs * steps)
    history, done = [], 0
    bar = tqdm(range(budget.epochs), desc=desc, disable=not show_progress(progress), leave=False)
    for _ in bar:
        if dryrun.stop(done):
            break
        perm = torch.argsort(torch.rand(D, N, generator=gen), dim=1).to(device)
        total = torch.zeros(M, device=device)
        for s in range(steps):
            if dryrun.stop(done):
                break
            done += 1
            idx = perm[:, s * batch_size:(s + 1) * batch_size][src]  # [M, B]
            xb = x[src.unsqueeze(1), idx]
            yb = y[src.unsqueeze(1), idx]
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = model(xb)
            if tl is None:
                losses = hard_loss(out, yb)
            else:
                losses = distillation_loss(out, tl[src.unsqueeze(1), idx], yb, T, a, t2_scale=t2_scale)
            opt.zero_grad(set_to_none=True)
            scaler.scale(losses.sum()).backward()
            scaler.step(opt)
            scaler.update()
            if sched is not None:
                sched.step()
            total += losses.detach() * idx.shape[1]
        history.append((total / N).cpu())
        bar.set_postfix(loss=f"{float(history[-1].mean()):.4f}")
    model.eval()
    return {"loss": torch.stack(history)}  # [epochs, M]


@torch.no_grad()
def ensemble_logits(model: EnsembleMLP, x, source, *, batch_size: int = 2048, device=None,
                    precision: str | None = None) -> torch.Tensor:
    """Logits ``[M, N, C]`` of member m on set ``x[source[m]]`` (``x [D, N, F]``), eval mode, float32."""
    device = torch.device(device) if device is not None else default_device()
    x = _as_stack(x, "x").to(device)
    src = torch.as_tensor(source, dtype=torch.long, device=device)
    model.to(device).eval()
    dtype = amp_dtype(device, current().precision_for(precision))
    outs = []
    for i in range(0, dryrun.eval_rows(x.shape[1]), batch_size):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            outs.append(model(x[src, i:i + dryrun.eval_rows(batch_size)]).float())
    return dryrun.fill(torch.cat(outs, dim=1), x.shape[1], dim=1)


def accuracy(logits: torch.Tensor, y, source) -> torch.Tensor:
    """``[M]`` accuracies in % of ``[M, N, C]`` logits against labels ``y[source[m]]``."""
    y = _as_stack(y, "y").to(logits.device)
    src = torch.as_tensor(source, dtype=torch.long, device=logits.device)
    return 100.0 * (logits.argmax(-1) == y[src]).float().mean(1)
