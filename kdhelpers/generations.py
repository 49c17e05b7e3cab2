"""Teachers and students across time: per-epoch teacher checkpoints (early-stopped teachers),
born-again generations, and deep mutual learning (two students that teach each other).

* :func:`epoch_checkpoints` trains a model once, saves it after chosen epochs into the model
  cache and returns ``{epoch: model}``; every checkpoint carries its own ``kd_cache_key``
  (``<run key>-epoch<E>``), so students distilled from it are cached under their teacher's epoch.
* :func:`born_again_chain` trains generation k + 1 from generation k; each generation is keyed
  by its teacher, so the chain is cached link by link.
* :class:`MutualPair` and :class:`MutualLoss` run deep mutual learning through the ordinary
  :func:`kdhelpers.fit` loop: the pair's forward returns both students' logits, the loss is each
  student's cross-entropy plus its KL divergence to the *detached* prediction of its peer.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .cache import atomic_save, cache_dir, cache_key
from .data import TensorData
from .device import seed_everything
from .losses import check_temperature
from .models import ARCHS, build_model
from .train import fit


# ----------------------------------------------------------------------------- per-epoch teachers

class CheckpointSaver:
    """An ``on_epoch_end`` callback: after epoch E (if E is in ``keep``, or always when ``keep`` is
    None) save ``{"key", "epoch", "state_dict"}`` to ``<folder>/<prefix>-epoch<E>.pt`` atomically."""

    def __init__(self, folder, prefix: str, key: str = "", keep: Iterable[int] | None = None):
        self.folder, self.prefix, self.key = Path(folder), prefix, key
        self.keep = None if keep is None else {int(e) for e in keep}
        self.saved: dict[int, Path] = {}

    def path(self, epoch: int) -> Path:
        return self.folder / f"{self.prefix}-epoch{epoch}.pt"

    def __call__(self, epoch: int, model: nn.Module) -> None:
        if self.keep is not None and epoch not in self.keep:
            return
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        atomic_save({"key": self.key, "epoch": epoch, "state_dict": state}, self.path(epoch))
        self.saved[epoch] = self.path(epoch)


def load_checkpoint(path, model_cfg: dict, key: str | None = None) -> nn.Module:
    """Rebuild ``model_cfg`` and load a :class:`CheckpointSaver` file into it (eval mode)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if key is not None and payload.get("key") != key:
        raise ValueError(f"{path}: checkpoint key {payload.get('key')!r} != {key!r}")
    model = build_model(model_cfg)
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def epoch_checkpoints(name: str, model_cfg: dict, data: TensorData, *, epochs: Iterable[int],
                      profile: str, seed: int = 0, **fit_kwargs) -> dict[int, nn.Module]:
    """Train ``model_cfg`` for ``max(epochs)`` epochs once, keeping the model after each epoch in
    ``epochs``; later calls load the checkpoints from the cache.

    The learning-rate schedule spans the whole run, so the epoch-E checkpoint is the same network
    at epoch E of the long run, not a network trained to completion in E epochs (the early-stopped
    teacher of Cho & Hariharan). Returns ``{epoch: model}``; each model's ``kd_cache_key`` is
    ``<key of the run>-epoch<E>``.
    """
    epochs = sorted({int(e) for e in epochs})
    if not epochs or epochs[0] < 1:
        raise ValueError(f"epochs must be positive ints, got {epochs!r}")
    if "epochs" in fit_kwargs:
        raise ValueError("pass the epochs to keep as epochs=[...]; the run lasts max(epochs)")
    if "on_epoch_end" in fit_kwargs or "criterion" in fit_kwargs:
        raise ValueError("epoch_checkpoints trains plain (cross-entropy) models with its own epoch hook")
    run_only = {k: fit_kwargs.pop(k) for k in ("device", "progress") if k in fit_kwargs}
    total = epochs[-1]
    parts = {"model": model_cfg, "fit": {**fit_kwargs, "epochs": total}, "profile": profile,
             "seed": seed, "data": data.name, "n": len(data), "checkpoints": epochs}
    key = cache_key(parts)
    saver = CheckpointSaver(cache_dir(), f"{name}-{key}", key=key, keep=epochs)

    def load_all():
        out = {}
        for e in epochs:
            model = load_checkpoint(saver.path(e), model_cfg, key)
            model.kd_cache_key, model.kd_cache_hit = f"{key}-epoch{e}", True
            out[e] = model
        return out

    if all(saver.path(e).exists() for e in epochs):
        try:
            models = load_all()
            print(f"{name}: {len(epochs)} checkpoints loaded from cache {saver.path(epochs[0]).parent}")
            return models
        except Exception as err:  # corrupt file: train again
            print(f"{name}: cached checkpoints unreadable ({type(err).__name__}: {err}); retraining")
    atomic_save({"key": key, "parts": json.dumps(parts, sort_keys=True)},
                cache_dir() / f"{name}-{key}-parts.pt")
    seed_everything(seed)
    model = build_model(model_cfg)
    fit(model, data, epochs=total, seed=seed, on_epoch_end=saver, desc=name, **fit_kwargs, **run_only)
    models = load_all()
    for m in models.values():
        m.kd_cache_hit = False
    return models


# ----------------------------------------------------------------------------- born-again networks

def born_again_chain(gen0: nn.Module, make_student: Callable[[nn.Module], nn.Module],
                     generations: int) -> list[nn.Module]:
    """``[gen0, gen1, …, gen<generations>]`` where gen k + 1 = ``make_student(gen k)``.

    ``make_student`` should train through :func:`kdhelpers.trained` (e.g. ``kd.mnist.student`` with
    ``teacher=``), so every generation's cache key names its teacher's key and the chain is
    reused link by link.
    """
    if isinstance(generations, bool) or not isinstance(generations, int) or generations < 1:
        raise ValueError(f"generations must be an int ≥ 1, got {generations!r}")
    if getattr(gen0, "kd_cache_key", None) is None:
        raise ValueError("gen0 must come from trained() so the next generation's cache key can name it")
    chain = [gen0]
    for k in range(generations):
        student = make_student(chain[-1])
        if getattr(student, "kd_cache_key", None) in (None, chain[-1].kd_cache_key):
            raise ValueError(f"generation {k + 1} has no cache key of its own; train it with trained()")
        chain.append(student)
    return chain


# ----------------------------------------------------------------------------- deep mutual learning

class MutualPair(nn.Module):
    """Two (or more) students in one module, so one :func:`fit` call trains them together.

    ``forward`` returns a tuple of logits, one per member; :func:`kdhelpers.evaluate` on the pair
    scores member 0 (``logits_of`` takes the first element), so evaluate ``pair.members[i]``
    for each student.
    """

    def __init__(self, members):
        super().__init__()
        members = list(members)
        if len(members) < 2:
            raise ValueError(f"mutual learning needs ≥ 2 members, got {len(members)}")
        self.members = nn.ModuleList(build_model(m) if isinstance(m, dict) else m for m in members)

    def forward(self, x):
        return tuple(m(x) for m in self.members)


ARCHS.setdefault("mutual_pair", MutualPair)


def mutual_loss(logits, targets, temperature: float = 1.0, weight: float = 1.0) -> torch.Tensor:
    """Σ_k [ CE(z_k, y) + weight · T² · mean_{j≠k} KL(softmax(z_j/T).detach() ‖ softmax(z_k/T)) ].

    Zhang et al. (2018): each student's loss is its own cross-entropy plus the KL divergence from
    its peer's prediction, the peer treated as a constant (detached). Summing the students' losses
    and taking one optimiser step over all parameters gives the *simultaneous* variant.
    """
    T = check_temperature(temperature)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
        raise ValueError(f"weight must be a number ≥ 0, got {weight!r}")
    if not isinstance(logits, (tuple, list)) or len(logits) < 2:
        raise ValueError("mutual_loss needs a tuple of ≥ 2 logit tensors (one per student)")
    shape = logits[0].shape
    if any(z.shape != shape for z in logits) or len(shape) != 2:
        raise ValueError(f"every student's logits must be the same [batch, classes]; "
                         f"got {[tuple(z.shape) for z in logits]}")
    if targets is None or targets.shape != shape[:1]:
        raise ValueError(f"targets must be [batch]={shape[0]}")
    logp = [F.log_softmax(z.float() / T, dim=1) for z in logits]
    total = logits[0].new_zeros((), dtype=torch.float32)
    for k, z in enumerate(logits):
        total = total + F.cross_entropy(z.float(), targets)
        if weight:
            peers = [F.kl_div(logp[k], logp[j].detach(), log_target=True, reduction="batchmean")
                     for j in range(len(logits)) if j != k]
            total = total + weight * T * T * torch.stack(peers).mean()
    return total


class MutualLoss(nn.Module):
    """A :func:`fit` criterion for :class:`MutualPair`: ``criterion(pair_out, None, targets)``."""

    def __init__(self, temperature: float = 1.0, weight: float = 1.0):
        super().__init__()
        self.temperature = check_temperature(temperature)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ValueError(f"weight must be a number ≥ 0, got {weight!r}")
        self.weight = float(weight)

    def forward(self, student_out, teacher_out=None, targets=None):
        if teacher_out is not None:
            raise ValueError("mutual learning has no teacher: the students teach each other")
        return mutual_loss(student_out, targets, self.temperature, self.weight)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, weight={self.weight}"


def mutual_pair_config(*member_cfgs: dict) -> dict:
    """Model config (for :func:`kdhelpers.trained`) of a :class:`MutualPair` of these students."""
    return {"arch": "mutual_pair", "members": [dict(c) for c in member_cfgs]}
