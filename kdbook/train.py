"""Training through the model cache: :func:`trained` is :func:`kdhelpers.fit` plus a cache keyed by
everything that determines the result (model config, budget, loss, profile, seed, data, teacher,
precision), and the run's record of every model (its key, its precision, its curve)."""
from __future__ import annotations

import torch
from torch import nn

from kdhelpers import dryrun
from kdhelpers.budget import Budget
from kdhelpers.data import TensorData
from kdhelpers.device import precision_name, seed_everything
from kdhelpers.models import build_model
from kdhelpers.train import evaluate, fit
from .cache import load_or_train
from .run import Run, as_run


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

    ``run``: the notebook's run (default :func:`kdbook.run.current`); its profile keys the
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
    (:class:`kdbook.protocol.Protocol`): its config and budget (or ``budget``) in the run's
    profile, so the record keys the cache. ``kwargs``: the rest of :func:`trained`'s."""
    run = as_run(run)
    return trained(name, protocol.model(role, run), data, budget or protocol.budget(role, run), run=run, seed=seed,
                   **kwargs)
