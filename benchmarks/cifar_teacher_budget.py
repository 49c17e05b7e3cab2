#!/usr/bin/env python
"""How many epochs the CIFAR-10 teachers of the cpu profile need for the 92 % target.

Trains (or loads from the model cache) the VGG-style and ResNet-style teachers of
the ``cifar_resnet_vgg`` chapter with airbench94's 10 epochs and with the chapter's 20, on the 45,000 training
images, and prints their test-time-augmented accuracy on the 5,000 held-out images and on the test
set, with the training time from the cache's record. The chapter's own run trains the 20-epoch
teachers with the same cache keys, so after this script it loads them.
Writes ``benchmarks/results/cifar_teacher_budget.json``, which the chapter shows.
Usage: KD_DATA_DIR=... KD_OFFLINE=1 python benchmarks/cifar_teacher_budget.py
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kdbook.chapter import load  # noqa: E402
from kdbook.cache import atomic_write_text  # noqa: E402
import kdhelpers as kd  # noqa: E402
import kdbook as kb

cifar = load("cifar_resnet_vgg")  # the chapter's cells tagged `define`
EPOCHS = (10, 20)


def main() -> None:
    run = kb.Run(profile="cpu")
    train, val, test = kd.data.cifar10_splits(run)
    out = {}
    for epochs in EPOCHS:
        budget = cifar.budget(run, "teacher").replace(epochs=epochs)
        for m in cifar.TEACHERS:
            before = set(run.ledger)
            t = cifar.teacher(m, run, 0, transfer=train, budget=budget, track=val)
            entry = next((run.ledger[k] for k in run.ledger if k not in before), {})
            name = f"{m} ({cifar.NAMES[m]}), {epochs} epochs"
            out[name] = {"validation_tta": cifar.accuracy(t, val), "test_tta": cifar.accuracy(t, test),
                         "test_plain": cifar.accuracy(t, test, tta=False), "train_seconds": entry.get("seconds"),
                         "precision": entry.get("precision")}
            r = out[name]
            print(f"{name:48} validation {r['validation_tta']:.2f} %   test {r['test_tta']:.2f} % "
                  f"(no TTA {r['test_plain']:.2f} %)   trained in {r['train_seconds'] or 0:.0f} s, {r['precision']}",
                  flush=True)
    path = Path(__file__).resolve().parent / "results" / "cifar_teacher_budget.json"
    path.parent.mkdir(exist_ok=True)
    atomic_write_text(path, json.dumps(out, indent=1) + "\n")
    print(f"wrote {path.relative_to(path.parents[2])}")


if __name__ == "__main__":
    main()
