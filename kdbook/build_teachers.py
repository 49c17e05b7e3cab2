"""Not a chapter: the teachers the book ships, and ``make teachers``, which retrains and exports them.

:data:`SHIPPED` names, per chapter, how its notebook makes its teachers (the same calls, with the
notebook's default seed), so the exported files carry the cache keys the chapters ask for. The
mechanism (manifest, sha256, loading order) is :mod:`kdbook.teachers`.

Shipped: every teacher whose training takes minutes, within the 80 MB bound. Not shipped, and
retrained by the chapters that use them (minutes each on 2 cores, and 129 MB together):
``sources_unsw_toronto``'s three UNSW teachers (29 MB, 7 min), ``early_stopping_kd``'s checkpointed
teacher run (28 MB, 6 min) and ``fake_data_temperature``'s synthetic teachers (their outputs, 72 MB, 8 min).

    python -m kdbook.build_teachers [--out teachers]   # make teachers
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Callable

import torch

from kdbook import mnist
from kdbook import teachers as shipping
from kdbook.cache import cache_dir
from kdbook.run import Run, activate


def _mnist(run):
    return [mnist.teacher("1200-1200", run, 0)]


def _harvard(run):
    from kdbook.chapter import load
    H = load("sources_harvard")
    return [H.teacher(arch, run, s) for arch in ("dense", "cnn") for s in H.PROTOCOL.seed_list(run, 0)]


def _toronto(run):
    from kdbook.chapter import load
    S = load("sources_unsw_toronto")
    return [S.teacher("toronto", run, S.PROTOCOL.seed_list(run, 0)[0])]


def _keras(run):
    from kdbook.chapter import load
    return [load("keras_distiller").train_teacher(run, 0)]


def _deepnn(run):
    from kdbook.chapter import load
    fk = load("cifar_feature_kd")
    return [fk.train_teacher(run, 0, fk.datasets(run)[0])]


def _cifar(run):
    from kdbook.chapter import load
    from kdhelpers.data import cifar10_splits
    cifar = load("cifar_resnet_vgg")
    train, val, _ = cifar10_splits(run)
    return [cifar.teacher(m, run, 0, transfer=train, track=val) for m in cifar.TEACHERS]


def _reverse(run):
    from kdbook.chapter import load
    R = load("self_reverse_online")
    rev = R.setting(run, 0)
    return [R.teacher(rev, run, s) for s in rev.seeds]


# chapter -> its teachers, made as its notebook makes them (mnist_hinton's teacher also serves
# quickstart, mnist_omit3, mnist_only78, temperature and loss_variants)
SHIPPED: dict[str, Callable[[Run], list]] = {
    "mnist_hinton": _mnist, "sources_harvard": _harvard, "sources_unsw_toronto": _toronto,
    "keras_distiller": _keras, "cifar_feature_kd": _deepnn, "cifar_resnet_vgg": _cifar,
    "self_reverse_online": _reverse,
}


def _parts(name: str, key: str) -> dict:
    """What the cache key hashes (model, budget, data, ...), as the cache stored it: for the manifest."""
    payload = torch.load(cache_dir() / f"{name}-{key}.pt", map_location="cpu", weights_only=True)
    return json.loads(payload["parts"])


def _made(profile: str) -> list[dict]:
    """Each shipped teacher, made by its chapter's recipe, with what the manifest records of it."""
    models = []
    for chapter, make in SHIPPED.items():
        run = activate(Run(profile=profile))
        start = time.perf_counter()
        made = make(run)
        print(f"{chapter}: {len(made)} teacher(s) in {time.perf_counter() - start:.0f} s")
        for model in made:
            info = run.info(model)
            entry = run.ledger[info.key]
            models.append({"name": entry["name"], "key": info.key, "model": model, "chapter": chapter,
                           "seconds": entry["seconds"], "device": entry.get("device"),
                           "precision": entry.get("precision"), "commit": entry.get("commit"),
                           "parts": _parts(entry["name"], info.key), "history": info.history})
    return models


def build(out: Path, profile: str = "cpu") -> dict:
    """Make every shipped teacher (from the model cache when it holds them, else by training), then
    export them to ``out`` with a new manifest. ``make teachers`` runs this with an empty cache."""
    before = os.environ.get("KD_TEACHERS")
    os.environ["KD_TEACHERS"] = "0"  # never read the files being rewritten
    try:
        models = _made(profile)
    finally:
        if before is None:
            os.environ.pop("KD_TEACHERS")
        else:
            os.environ["KD_TEACHERS"] = before
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2]).stdout.strip() or None
    payload = shipping.export(models, out, head)
    print(f"{len(models)} teachers, {payload['total_bytes'] / 1e6:.1f} MB, written to {out}")
    return payload


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=shipping.repo_dir())
    ap.add_argument("--profile", default="cpu")
    args = ap.parse_args(argv)
    build(args.out, args.profile)


if __name__ == "__main__":
    main()
