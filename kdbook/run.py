"""The run: what one notebook run decides once, in one object every helper is handed.

``run = kd.setup("mnist_hinton", profile, seed)`` resolves the profile, the device and the precision,
and returns a :class:`Run`. The chapter's helpers take it (``kd.mnist.student(800, run, seed)``); the
training loop, the model cache and the results file read from it:

* ``profile``, ``seed``, ``device``, ``precision`` (the run's default: ``"float32"`` in the smoke
  profile, else ``"auto"``), ``dry_run`` (``KD_DRY_RUN=1``);
* ``ledger``: every model the run trained or loaded from the cache, with its training time (the
  results file's cold cost);
* ``models``: what the run knows of each model it trained or loaded: its cache key (a student's key
  names its teacher's), whether it came from the cache, its training curve, its precision;
* ``teacher_outputs``: a teacher's outputs over a transfer set, computed once for all its students;
* ``plan``: the chapter's cost plan, once shown.

Code that is not handed a run (a test, a benchmark, a helper deep in the loop) uses :func:`current`:
the run :func:`activate`\\ d last (``kd.setup`` does it), else a default ``cpu`` run of this process.
"""
from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field

import torch
from torch import nn

from kdhelpers import dryrun
from kdhelpers.device import amp_dtype, check_precision, default_device
from kdhelpers.train import predict_logits
from .profiles import pick, resolve_profile


@dataclass
class Trained:
    """What the run knows of one model: its cache ``key``, whether it was a cache ``hit``, its
    per-epoch ``history`` (when tracked) and the ``precision`` its budget asked for (None: the run's)."""
    key: str | None
    hit: bool = False
    history: list | None = None
    precision: str | None = None


@dataclass(eq=False)
class Run:
    notebook: str = "session"
    profile: str = "cpu"
    seed: int = 0
    device: torch.device = field(default_factory=default_device)
    precision: str | None = None  # None: float32 in the smoke profile (same numbers on every CPU), else "auto"
    dry_run: bool = field(default_factory=dryrun.enabled)
    started: float = field(default_factory=time.time)
    plan: object = None
    ledger: dict = field(default_factory=dict, repr=False)
    teacher_outputs: dict = field(default_factory=dict, repr=False)
    models: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary, repr=False)

    def __post_init__(self):
        self.profile = resolve_profile(self.profile)
        self.device = torch.device(self.device)
        if self.precision is None:
            self.precision = "float32" if self.profile == "smoke" else "auto"
        check_precision(self.precision)

    def pick(self, *, smoke, cpu, full):
        """The value for this run's profile: ``run.pick(smoke=1, cpu=20, full=60)``."""
        return pick(self.profile, smoke=smoke, cpu=cpu, full=full)

    def seeds(self, first: int | None = None, *, smoke: int = 2, cpu: int = 3, full: int = 3) -> list[int]:
        """The seeds a comparison runs, from ``first`` (default: the run's seed)."""
        first = self.seed if first is None else first
        return list(range(first, first + self.pick(smoke=smoke, cpu=cpu, full=full)))

    def precision_for(self, precision: str | None = None) -> str:
        """A budget's or model's own precision ("float32": a source's protocol as published,
        "float16"), else the run's (float32 in the smoke profile, so its numbers match on every CPU)."""
        return precision if precision in ("float32", "float16") else self.precision

    # ------------------------------------------------------------------ what the run knows of a model
    def remember(self, model: nn.Module, key: str | None, *, hit: bool = False, history=None,
                 precision: str | None = None) -> nn.Module:
        self.models[model] = Trained(key, hit, history, precision)
        model.kd_precision = self.precision_for(precision)  # kd.evaluate computes as training did
        return model

    def alias(self, wrapper: nn.Module, of: nn.Module, suffix: str = "") -> nn.Module:
        """Let ``wrapper`` (a view of a trained teacher, e.g. its logits and features) key students
        as its teacher does, with ``suffix`` when it computes something else."""
        info = self.info(of)
        return self.remember(wrapper, None if info.key is None else info.key + suffix, hit=info.hit,
                             precision=info.precision)

    def info(self, model: nn.Module) -> Trained:
        return self.models.get(model) or Trained(None)

    def key_of(self, model: nn.Module) -> str | None:
        """The model's cache key, or None for a model this run did not get from the cache."""
        return self.info(model).key

    def history_of(self, model: nn.Module) -> list | None:
        """The accuracy after every epoch (in %) of a model trained with ``track=``."""
        return self.info(model).history

    def precision_of(self, model: nn.Module) -> str | None:
        return self.info(model).precision

    def outputs_of(self, teacher: nn.Module, data, device) -> torch.Tensor:
        """The teacher's outputs over a whole transfer set, computed once per cached teacher and data
        set in this run: every student distilled from one teacher shares them (a CNN teacher's pass
        over 60,000 images costs a minute on a CPU). ``kdhelpers.fit(..., run=run)`` asks for them."""
        key = self.key_of(teacher)
        if key is None:
            return predict_logits(teacher, data, device=device, run=self)
        # a wrapper (e.g. a teacher seen as logits + features) shares its teacher's key but not its outputs
        memo_key = (key, type(teacher).__name__, teacher.extra_repr(), data.name, len(data), str(device),
                    str(amp_dtype(device, self.precision_for(self.precision_of(teacher)))), dryrun.enabled())
        memo = self.teacher_outputs
        if memo_key not in memo:
            if len(memo) >= 8:  # a few teachers' worth (60k × 10 floats = 2.4 MB each)
                memo.pop(next(iter(memo)))
            memo[memo_key] = predict_logits(teacher, data, device=device, run=self)
        return memo[memo_key]

    def __getstate__(self):
        # to a worker process (kd.parallel): the settings, not this process's models and memos
        state = dict(self.__dict__)
        state.update(plan=None, ledger={}, teacher_outputs={}, models=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.models = weakref.WeakKeyDictionary()


_CURRENT: Run | None = None


def activate(run: Run) -> Run:
    """Make ``run`` the one :func:`current` returns (``kd.setup`` calls this)."""
    global _CURRENT
    if not isinstance(run, Run):
        raise TypeError(f"activate takes a kd.Run, got {type(run).__name__}")
    _CURRENT = run
    return run


def current() -> Run:
    """The active run; outside a notebook, a default ``cpu`` run made once for this process."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = Run()
    return _CURRENT


def as_run(run) -> Run:
    """``run`` itself, or :func:`current` for None. A profile string is refused with a hint: the
    helpers take the run object, which carries the profile."""
    if run is None:
        return current()
    if isinstance(run, Run):
        return run
    raise TypeError(f"expected the run object from kd.setup(...), got {run!r}"
                    + ("; pass `run`, not `run.profile`" if isinstance(run, str) else ""))
