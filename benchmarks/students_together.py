#!/usr/bin/env python
"""Students of one shape trained one by one (``kd.fit``) and stacked (``kd.batched.fit_together``).

``--students harvard`` (default): ``sources_harvard``'s 20-20 students with its ``cpu`` budget (Adam as
Keras has it, batch 128, float32 as published), distilled at T = 3. ``--students mnistW``: the
W-W students of ``kd.mnist`` (SGD, cosine schedule, clipping; the run's precision), distilled at
mnist_hinton's temperatures. All 60,000 MNIST training images, ``--epochs`` epochs (default 2) of
``--members`` students (default 9), from random teacher logits (only time matters). Both paths
start from the same initial weights.

Prints each path's seconds per student-epoch, the achieved TFLOP/s (training FLOPs counted by
``torch.utils.flop_counter`` on one step, times the steps) and the speed-up. One thread unless
``OMP_NUM_THREADS`` says otherwise: the book runs two one-thread jobs side by side.
Usage: KD_DATA_DIR=... KD_OFFLINE=1 OMP_NUM_THREADS=1 python benchmarks/students_together.py
       [--students harvard|keras|mnist30|mnist100|mnist300|mnist800] [--members 9] [--json out.json]
       python benchmarks/students_together.py --markdown book/students_together.md
       (the table of every benchmarks/results/students_together*.json, for the how-to-run page)
"""
import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # work from a plain checkout too
import kdhelpers as kd  # noqa: E402
import kdbook as kb
from kdhelpers.batched import fit_together  # noqa: E402
from kdbook.chapter import load  # noqa: E402
from kdbook.regression import machine  # noqa: E402

H = load("sources_harvard")  # the chapters' cells tagged `define`
K = load("keras_distiller")


def step_flops(config, data, budget) -> float:
    """Training FLOPs of one student on one full batch: forward, loss and backward."""
    model = kd.build_model(config)
    xb = data.prepare(data.x[:budget.batch_size])
    with FlopCounterMode(display=False) as counter:
        loss = torch.nn.functional.cross_entropy(model(xb), data.y[:budget.batch_size])
        loss.backward()
    return counter.get_total_flops()


RESULTS = Path(__file__).resolve().parent / "results"


def markdown_table(paths) -> str:
    """One row per recorded run: seconds per student-epoch one by one and stacked, on which machine."""
    rows = ["<!-- written by `python benchmarks/students_together.py --markdown book/students_together.md` "
            "from benchmarks/results/students_together*.json -->",
            "| students | CPU | precision | members | one by one (s per student-epoch) | together | speed-up "
            "| TFLOP/s one by one → together |",
            "|---|---|---|---:|---:|---:|---:|---|"]
    runs = [json.loads(Path(p).read_text()) for p in paths]
    order = {"harvard": 0, "keras": 1}
    for r in sorted(runs, key=lambda r: (order.get(r["students"], 2), int(r["students"][5:] or 0)
                                         if r["students"].startswith("mnist") else 0, r["machine"])):
        width = r["students"][5:]
        what = {"harvard": "Harvard 20-20", "keras": "Keras convnet 16/32"}.get(r["students"], f"MNIST {width}-{width}")
        cpu = r.get("cpu") or f"not recorded ({r['machine'].split(', ')[1]} kernels)"  # older records
        rows.append(f"| {what} | {cpu} | {r['precision']} | {r['members']} | {r['one_by_one_s_per_student_epoch']:.3f} "
                    f"| {r['together_s_per_student_epoch']:.3f} | {r['speedup']:.2f}× "
                    f"| {r['one_by_one_tflops']:.3f} → {r['together_tflops']:.3f} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", default="harvard", choices=["harvard", "keras", "mnist30", "mnist100", "mnist300", "mnist800"],
                    help="harvard: the Harvard 20-20 students (float32); keras: keras_distiller's convnet students (float32); mnistW: kd.mnist's W-W students, "
                         "distilled at T = 1…20 (the run's precision, bf16 where the CPU has it)")
    ap.add_argument("--members", type=int, default=9)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, help="the budget's batch (default: the students' own; loss_variants: 512)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path, help="write the table of the recorded results to this file, and stop")
    args = ap.parse_args()
    if args.markdown:
        args.markdown.write_text(markdown_table(sorted(RESULTS.glob("students_together*.json"))))
        print(f"wrote {args.markdown}")
        return
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    run = kb.Run(profile="cpu", device="cpu")
    train, _ = kb.mnist.datasets(run)
    if args.students == "harvard":
        config, budget, losses = H.student_config(), H.student_budget(run), [H.soft_loss()] * args.members
    elif args.students == "keras":  # keras_distiller's 16/32-filter convnet students, Adam, batch 32, float32
        config, budget, losses = K.STUDENT, K.PROTOCOL.budget("student", run), [K.book_loss()] * args.members
    else:
        config, budget = kb.mnist.student_config(int(args.students[5:])), kb.mnist.student_budget(run)
        grid = [1, 2, 2.5, 3, 4, 8, 20]  # mnist_hinton's temperatures
        losses = [kd.DistillationLoss(grid[i % len(grid)], alpha=1.0) for i in range(args.members)]
    budget = budget.replace(epochs=args.epochs, **({"batch_size": args.batch_size} if args.batch_size else {}))
    seeds = list(range(args.members))
    torch.manual_seed(0)
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))  # random logits, only time matters
    run.remember(teacher, "benchmark-teacher")  # its outputs are computed once, as the chapter's teachers' are

    def fresh():
        models = []
        for s in seeds:
            kd.seed_everything(s)
            models.append(kd.build_model(config))
        return models

    alone = fresh()
    start = time.perf_counter()
    for s, m, loss in zip(seeds, alone, losses):
        kd.fit(m, train, budget, teacher=teacher, loss=loss, seed=s,
               device="cpu", progress=False, run=run)
    one_by_one = time.perf_counter() - start
    stacked = fresh()
    start = time.perf_counter()
    fit_together(stacked, train, budget, seeds=seeds, teachers=[teacher] * len(seeds),
                 losses=losses, device=torch.device("cpu"), run=run, progress=False)
    together = time.perf_counter() - start

    flops = step_flops(config, train, budget) * math.ceil(len(train) / budget.batch_size) * args.epochs * len(seeds)
    out = {"students": args.students, "machine": f"{platform.machine()}, {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}",
           "cpu": f"{machine()['cpu']} ({torch.backends.cpu.get_cpu_capability()})",
           "members": len(seeds), "epochs": args.epochs, "threads": torch.get_num_threads(),
           "precision": kd.device.precision_name(torch.device("cpu"), run.precision_for(budget.precision)), "training_flops": flops,
           "one_by_one_s": round(one_by_one, 2), "together_s": round(together, 2),
           "one_by_one_s_per_student_epoch": round(one_by_one / len(seeds) / args.epochs, 3),
           "together_s_per_student_epoch": round(together / len(seeds) / args.epochs, 3),
           "one_by_one_tflops": round(flops / one_by_one / 1e12, 4), "together_tflops": round(flops / together / 1e12, 4),
           "speedup": round(one_by_one / together, 2)}
    for k, v in out.items():
        print(f"{k:34s} {v}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
