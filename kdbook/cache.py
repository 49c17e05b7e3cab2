"""Trained models cached on disk, keyed by everything that determines them."""
from __future__ import annotations

import hashlib
import json
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from kdhelpers import dryrun
from kdhelpers.io import atomic_save, atomic_write_text, cache_dir  # noqa: F401  (the one copy)
from . import teachers
from .run import Run, as_run

CACHE_FORMAT = 1  # bump when training code changes what a config produces


def cache_key(parts: dict) -> str:
    """A stable hash of a JSON-able description (model config, training config, profile, seed, data).
    Dry runs (``KD_DRY_RUN=1``) get keys of their own, so their stand-in models never load as real ones."""
    extra = {"dry_run": True} if dryrun.enabled() else {}
    try:
        text = json.dumps({**parts, **extra, "format": CACHE_FORMAT}, sort_keys=True)
    except TypeError as err:
        raise TypeError(f"cache key parts must be JSON-able (use named augmentations, not functions): {err}") from None
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _load_or_make(name: str, parts: dict, field: str, make: Callable[[], tuple], load: Callable,
                  what: str, meta: dict | None = None, run: Run | None = None,
                  shipped: Callable[[str], tuple | None] | None = None, seconds: float | None = None) -> tuple:
    """The one cache protocol: ``load(payload[field])`` from ``<cache>/<name>-<key>.pt`` if it is
    there and sound; else ``shipped(key) -> (result, stored, entry)``, the book's own file for this
    key (:mod:`kdbook.teachers`; one trained in another precision keeps its own key, which
    is then the one returned), copied into the cache; otherwise ``make() -> (result,
    stored)`` and save ``stored`` atomically, with the seconds it took, the commit, and ``meta``
    (device, precision; ``make`` may add to it, e.g. a training curve); ``seconds``, when given, is
    the training time to record instead (a model trained together with others: its share). Returns ``(result, key,
    hit, meta)``. A corrupt or mismatched cache file warns and is made again. Every call is entered
    in the run's ledger (``run.ledger``: key -> name, seconds, device, precision), which
    ``kd.record`` sums into the run's cold compute cost."""
    ledger = as_run(run).ledger
    key = cache_key(parts)
    path = cache_dir() / f"{name}-{key}.pt"
    if path.exists():
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if payload.get("key") != key:
                raise ValueError(f"key {payload.get('key')!r} != {key!r}")
            result = load(payload[field])
            # the file name is enough for a reader; the folder is this machine's business
            print(f"{name}: loaded from the model cache ({path.name})")
            stored_meta = payload.get("meta") or {}
            ledger.setdefault(key, {"name": name, "hit": True, "seconds": payload.get("seconds"),
                                    **{k: v for k, v in stored_meta.items() if k != "history"}})
            return result, key, True, stored_meta
        except Exception as err:
            warnings.warn(f"cached {what} {path.name} is corrupt or unreadable "
                          f"({type(err).__name__}: {err}); making it again", RuntimeWarning, stacklevel=3)
    book = shipped(key) if shipped is not None else None
    if book is not None:
        result, stored, entry = book
        if entry["key"] != key:  # the book's teacher trained in another precision: it keeps its own key
            print(f"{name}: this machine computes in {parts.get('computed_in')}; the book's teacher was "
                  f"trained in {entry['parts'].get('computed_in')} and is used as it is")
            key, parts = entry["key"], entry["parts"]
            path = cache_dir() / f"{name}-{key}.pt"
        stored_meta = {"device": entry.get("device"), "precision": entry.get("precision"),
                       "commit": entry.get("commit"), "from_book": True,
                       **({"history": entry["history"]} if entry.get("history") else {})}
        atomic_save({"key": key, "parts": json.dumps(parts, sort_keys=True), field: stored,
                     "seconds": entry.get("training_s"), "meta": stored_meta}, path)
        print(f"{name}: loaded from the book's teachers ({entry['file']})")
        ledger.setdefault(key, {"name": name, "hit": True, "seconds": entry.get("training_s"),
                                **{k: v for k, v in stored_meta.items() if k != "history"}})
        return result, key, True, stored_meta
    start = time.perf_counter()
    result, stored = make()
    seconds = round(time.perf_counter() - start if seconds is None else seconds, 2)
    meta = {**(meta or {}), "commit": _commit()}  # provenance: the shipped teachers' manifest names it
    atomic_save({"key": key, "parts": json.dumps(parts, sort_keys=True), field: stored,
                 "seconds": seconds, "meta": dict(meta or {})}, path)
    ledger[key] = {"name": name, "hit": False, "seconds": seconds,
                   **{k: v for k, v in (meta or {}).items() if k != "history"}}
    return result, key, False, dict(meta or {})


def _commit() -> str | None:
    """The repository's HEAD (with ``+modified`` if kdhelpers has uncommitted changes), or None."""
    import subprocess

    try:
        here = Path(__file__).resolve().parents[1]
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=here, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "kdhelpers", "kdbook"], capture_output=True,
                               text=True, cwd=here, timeout=10)
        return (head.stdout.strip() + ("+modified" if dirty.stdout.strip() else "")) if head.returncode == 0 else None
    except Exception:
        return None


def load_or_train(name: str, parts: dict, build: Callable[[], nn.Module], train: Callable,
                  meta: dict | None = None, checkpoints=None, run: Run | None = None,
                  precision: str | None = None, seconds: float | None = None):
    """Load ``<cache>/<name>-<key>.pt`` into ``build()``; if absent or corrupt, ``train()`` and save it.

    The run (default: the current one) remembers each returned model's cache key (so students can
    key on their teacher), whether it was a hit, its stored curve and ``precision``. With ``checkpoints`` (epochs to keep), ``train(keep)`` gets a callback
    ``keep(epoch, model)`` to call after every epoch; the kept weights are stored together in the
    one cache file, and the result is ``{epoch: model}``, each keyed ``<key>-epoch<E>``.
    """
    def load(state):
        model = build()
        model.load_state_dict(state)
        return model

    def snapshot(model):
        return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    if checkpoints is None:
        def make():
            model = train()
            return model, snapshot(model)

        def shipped(key):
            found = teachers.load_shipped(name, key, build, cache_dir(), parts=parts, key_of=cache_key)
            return None if found is None else (found[0], snapshot(found[0]), found[1])

        model, key, hit, stored = _load_or_make(name, parts, "state_dict", make, load, "model", meta, run, shipped,
                                                seconds)
        as_run(run).remember(model, key, hit=hit, history=stored.get("history"), precision=precision)
        return model.eval()

    epochs = sorted({int(e) for e in checkpoints})
    if not epochs or epochs[0] < 1:
        raise ValueError(f"checkpoints must be positive epochs, got {checkpoints!r}")

    def make_all():
        kept = {}
        train(lambda epoch, model: kept.__setitem__(epoch, snapshot(model)) if epoch in epochs else None)
        missing = [e for e in epochs if e not in kept]
        if missing:
            raise RuntimeError(f"{name}: training ended before checkpoint epochs {missing}")
        return {e: load(kept[e]) for e in epochs}, {str(e): kept[e] for e in epochs}

    def load_all(states):
        return {e: load(states[str(e)]) for e in epochs}

    models, key, hit, _ = _load_or_make(name, {**parts, "checkpoints": epochs}, "checkpoints", make_all,
                                        load_all, "checkpoints", meta, run)
    for e, model in models.items():
        as_run(run).remember(model, f"{key}-epoch{e}", hit=hit, precision=precision)
        model.eval()
    return models


def load_or_compute(name: str, parts: dict, compute: Callable[[], object], meta: dict | None = None,
                    run: Run | None = None):
    """Like :func:`load_or_train` for anything ``torch.save`` can store (tensors, dicts of numbers):
    experiments that train many small models at once cache their results this way."""
    def make():
        value = compute()
        return value, value

    return _load_or_make(name, parts, "value", make, lambda value: value, "result", meta, run)[0]
