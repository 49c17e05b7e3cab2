#!/usr/bin/env python
"""How fast the CIFAR chapter's networks evaluate at different batch sizes on a CPU, and whether the
logits depend on the batch size.

``cifar_resnet_vgg`` evaluates every model with test-time augmentation (six passes over the
validation or test set), so evaluation is most of its replay. ``predict_logits`` defaults to
batches of 4096; this measures 256, 512, 1024 and 4096 for the ``cpu`` profile's three networks
(untrained, random images: only time and equality matter), in the run's precision (bf16 autocast
on a CPU with native bf16), channels-last, one thread unless ``OMP_NUM_THREADS`` says otherwise.
Prints images per second per batch size and whether every batch size gives bit-for-bit the logits
of batch 4096.
Usage: OMP_NUM_THREADS=1 python benchmarks/cifar_eval_batch.py [--n 8192] [--json out.json]
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # work from a plain checkout too
import kdhelpers as kd  # noqa: E402
import kdbook as kb
from kdbook.chapter import load  # noqa: E402
from kdhelpers.data import TensorData  # noqa: E402
from kdhelpers.train import predict_logits  # noqa: E402
from kdhelpers.device import precision_name  # noqa: E402
from kdbook.cache import atomic_write_text  # noqa: E402
from kdbook.regression import machine  # noqa: E402

cifar = load("cifar_resnet_vgg")  # the chapter's cells tagged `define`; registers airbench

BATCHES = (256, 512, 1024, 4096)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=8192, help="images per pass")
    p.add_argument("--json", type=Path, help="also write the figures here")
    a = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    run = kb.setup("cifar_eval_batch", "cpu", 0)
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.randint(0, 256, (a.n, 3, 32, 32), dtype=torch.uint8, generator=g),
                      torch.randint(0, 10, (a.n,), generator=g), "random", (0.49, 0.48, 0.45), (0.25, 0.24, 0.26))
    out = {"machine": machine(), "threads": torch.get_num_threads(),
           "torch": torch.__version__, "precision": precision_name(run.device, run.precision), "n": a.n, "networks": {}}
    for name, cfg in cifar.FAST.items():
        torch.manual_seed(0)
        model = kd.build_model(cfg).eval()
        predict_logits(model, data, batch_size=512, run=run)  # warm-up: oneDNN's kernels for these shapes
        rows, reference = {}, predict_logits(model, data, batch_size=4096, run=run)
        for bs in BATCHES:
            start = time.perf_counter()
            logits = predict_logits(model, data, batch_size=bs, run=run)
            seconds = time.perf_counter() - start
            rows[bs] = {"images_per_s": round(a.n / seconds, 1), "same_logits_as_4096": bool(torch.equal(logits, reference))}
            print(f"{name:15s} batch {bs:5d}: {a.n / seconds:8.0f} images/s, logits identical to batch 4096: "
                  f"{rows[bs]['same_logits_as_4096']}", flush=True)
        out["networks"][name] = rows
    if a.json:
        atomic_write_text(a.json, json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
