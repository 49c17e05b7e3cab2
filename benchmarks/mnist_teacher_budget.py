#!/usr/bin/env python
"""Choose the MNIST teacher's dropout rates and epochs on validation, not on test.

Trains the 1200-1200 teacher (jitter, max-norm, SGD on a cosine: ``kb.mnist.teacher_budget``) on
55,000 training images with each candidate, and prints its errors on the 5,000 held-out images
(the choice) and on the test set (for the record only). On 2 cores with bf16 the two candidates
took 8 and 25 minutes. Usage: KD_DATA_DIR=... KD_OFFLINE=1 python benchmarks/mnist_teacher_budget.py
"""
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import kdhelpers as kd  # noqa: E402
import kdbook as kb

CANDIDATES = {"dropout 0.3/0.1, 150 epochs": (0.3, 0.1, 150), "dropout 0.5/0.2, 300 epochs": (0.5, 0.2, 300)}


def main() -> None:
    train, test = kb.mnist.datasets(kb.Run(profile="cpu"))
    fit_set, val = kd.split(train, 5000, seed=0)
    out = {}
    for name, (drop, inp, epochs) in CANDIDATES.items():
        torch.manual_seed(0)
        model = kd.build_model({"arch": "mlp", "hidden": [1200, 1200], "dropout": drop, "input_dropout": inp})
        start = time.perf_counter()
        kd.fit(model, fit_set, kb.mnist.teacher_budget(kb.Run(profile="cpu")).replace(epochs=epochs), progress=False)
        out[name] = {"validation_errors": kd.evaluate(model, val)["errors"],
                     "test_errors": kd.evaluate(model, test)["errors"], "seconds": round(time.perf_counter() - start)}
        print(f"{name:32} validation errors {out[name]['validation_errors']:4d} (of 5,000)   "
              f"test errors {out[name]['test_errors']:4d}   {out[name]['seconds']} s", flush=True)
    print("chosen on validation:", min(out, key=lambda k: out[k]["validation_errors"]))
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
