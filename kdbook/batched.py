"""Many students of one shape through the model cache: :func:`trained_together` is
:func:`kdbook.trained` for a list of requests, whose missing members train as one stacked network
(:func:`kdhelpers.batched.fit_together`)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import torch
from torch import nn

from kdhelpers.batched import fit_together
from kdhelpers.budget import Budget
from kdhelpers.data import TensorData
from kdhelpers.device import seed_everything
from kdhelpers.models import build_model
from .cache import cache_dir, cache_key, load_or_train
from .run import Run, as_run
from .train import cache_parts


@dataclass(eq=False)
class Request:
    """One network for :func:`trained_together`: what :func:`kdhelpers.train.trained` takes."""
    name: str
    model_cfg: dict
    data: TensorData
    budget: Budget
    seed: int = 0
    teacher: nn.Module | None = None
    loss: nn.Module | None = None


def _why_not_together(model: nn.Module, budget: Budget) -> str | None:
    """Why ``model`` under ``budget`` cannot train in a stack (None: it can). The stacked step is
    fit's step with its schedule and per-member gradient clipping; the other callbacks fit would
    add (augmentation, max-norm, Lookahead, a per-batch teacher, a model's own) are out."""
    for what, present in (("augmentation", budget.augment), ("max-norm", budget.max_norm),
                          ("Lookahead", budget.lookahead), ("a per-batch teacher", budget.cache_teacher is False)):
        if present:
            return what
    if hasattr(model, "param_groups") or hasattr(model, "fit_callbacks"):
        return f"{type(model).__name__}'s own parameter groups or callbacks"
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) or (isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0):
            return f"{type(m).__name__} (its batch statistics or random masks are not per member)"
    return None


def _group_key(r: Request, parts: dict) -> str:
    shape = {k: v for k, v in r.model_cfg.items() if k != "logit_bias"}  # an initial bias: same shape
    return json.dumps([shape, parts["budget"], parts["data"], parts["n"], parts["computed_in"]], sort_keys=True)


def trained_together(requests: list[Request], *, run: Run | None = None, device=None,
                     progress: bool | None = None) -> list[nn.Module]:
    """:func:`kdhelpers.train.trained` for many small networks: each is keyed, cached and recorded
    as ``trained`` would (its key adds ``"trainer": "together"``: the stacked matmuls sum in another
    order, so the weights agree with a lone run only to float rounding, tested in
    ``tests/test_batched_students.py``); the missing ones that share a shape, budget, transfer set
    and precision train together (:func:`fit_together`), each recorded with its share of the time.

    It pays for narrow networks, whose steps are too small to keep a core busy: about 2× for 20-20 and
    30-30 MLPs on MNIST. For 300-300 in bf16 it was slower (0.74×) on a CPU with AMX, whose batched
    matmul lags its single one (``benchmarks/students_together.py``): measure before stacking wide nets."""
    run = as_run(run)
    device = torch.device(device) if device is not None else run.device
    plans = []
    for r in requests:
        if r.teacher is not None and run.key_of(r.teacher) is None:
            raise ValueError("a teacher must come from trained() in this run, so the student's cache key can name it")
        parts, meta = cache_parts(run, r.model_cfg, r.data, r.budget, seed=r.seed, teacher=r.teacher, loss=r.loss,
                                  device=device)
        plans.append((r, {**parts, "trainer": "together"}, meta))
    groups: dict = {}
    for i, (r, parts, _) in enumerate(plans):
        if not (cache_dir() / f"{r.name}-{cache_key(parts)}.pt").exists():
            groups.setdefault(_group_key(r, parts), []).append(i)
    made: dict = {}
    for members in groups.values():
        reqs = [plans[i][0] for i in members]
        models = []
        for r in reqs:
            seed_everything(r.seed)  # trained()'s initialisation, member by member
            models.append(build_model(r.model_cfg))
        why = _why_not_together(models[0], reqs[0].budget)
        if why is not None:
            raise ValueError(f"{reqs[0].name}: cannot train in a stack with {why}; use kd.trained")
        start = time.perf_counter()
        fit_together(models, reqs[0].data, reqs[0].budget, seeds=[r.seed for r in reqs],
                     teachers=[r.teacher for r in reqs], losses=[r.loss for r in reqs], device=device,
                     precision=run.precision_for(reqs[0].budget.precision), outputs=run.outputs_of,
                     desc=f"{reqs[0].name} ×{len(reqs)}", progress=progress)
        share = (time.perf_counter() - start) / len(reqs)
        made.update({i: (m, share) for i, m in zip(members, models)})
    out = []
    for i, (r, parts, meta) in enumerate(plans):
        def train(r=r):  # only if the cache file went bad since: train this one alone, in a stack of one
            seed_everything(r.seed)
            model = build_model(r.model_cfg)
            fit_together([model], r.data, r.budget, seeds=[r.seed], teachers=[r.teacher], losses=[r.loss],
                         device=device, precision=run.precision_for(r.budget.precision),
                         outputs=run.outputs_of, progress=progress)
            return model
        model, share = made.get(i, (None, None))
        out.append(load_or_train(r.name, parts, lambda r=r: build_model(r.model_cfg),
                                 train if model is None else (lambda model=model: model), meta=dict(meta),
                                 run=run, precision=r.budget.precision, seconds=share))
    return out
