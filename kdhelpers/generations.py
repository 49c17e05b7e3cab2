"""Teachers and students across time: per-epoch teacher checkpoints (early-stopped teachers) and
born-again generations. Mutual learning's pair and loss are :class:`kdhelpers.models.MutualPair`
and :class:`kdhelpers.losses.MutualLoss`.

* :func:`epoch_checkpoints` trains a model once and keeps it after chosen epochs, through the
  model cache like every other model (:func:`kdhelpers.trained` with ``checkpoints=``); every
  checkpoint carries its own ``kd_cache_key`` (``<run key>-epoch<E>``), so students distilled from
  it are cached under their teacher's epoch.
* :func:`born_again_chain` trains generation k + 1 from generation k; each generation is keyed by
  its teacher, so the chain is cached link by link.
"""
from __future__ import annotations

from typing import Callable, Iterable

from torch import nn

from .budget import Budget
from .data import TensorData
from .train import trained


def epoch_checkpoints(name: str, model_cfg: dict, data: TensorData, budget: Budget, *, epochs: Iterable[int],
                      profile: str, seed: int = 0) -> dict[int, nn.Module]:
    """Train ``model_cfg`` for ``max(epochs)`` epochs once (``budget`` with that many epochs),
    keeping the model after each epoch in ``epochs``; later calls load them from the cache.

    The learning-rate schedule spans the whole run, so the epoch-E checkpoint is the same network
    at epoch E of the long run, not a network trained to completion in E epochs.
    """
    epochs = sorted({int(e) for e in epochs})
    if not epochs or epochs[0] < 1:
        raise ValueError(f"epochs must be positive ints, got {epochs!r}")
    return trained(name, model_cfg, data, budget.replace(epochs=epochs[-1]), profile=profile, seed=seed,
                   checkpoints=epochs)


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
