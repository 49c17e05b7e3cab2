#!/usr/bin/env python
"""How fast kdhelpers distils, side by side with a tutorial-style loop and the FLOP floor.

The run: the book's MNIST distillation, an 800-800 MLP student from a 1200-1200 teacher (random
weights: only time matters), T = 20, α = 1, on all 60,000 training images, with the book's student
budget (``kb.mnist.student_budget(kb.Run(profile="cpu"))``: SGD with momentum, batch 256, cosine schedule, gradient
norm clipped at 1, 20 epochs).

1. **Tutorial loop**: what a KD tutorial writes — torchvision MNIST with per-sample ``ToTensor`` in
   a ``DataLoader``, the teacher's forward pass on every batch, float32. Two epochs are timed after a
   warm-up; its epochs all cost the same, so 20 epochs = 10 × that.
2. **kdhelpers.fit**: a real 20-epoch run (teacher logits computed once, uint8 images in memory,
   bf16 autocast where the CPU has native bf16, fused optimiser steps). Its steady-state epoch is the
   median of epochs 2–20 (the teacher's single pass is in epoch 1).
3. **FLOP floor** of one epoch: 6 × student parameters × examples at the matmul rate measured in
   this run at the student's layer shapes, in the precision kdhelpers trains in.

Prints ``speed-up`` (20-epoch tutorial / kdhelpers, target ≥ 5) and ``floor ratio`` (steady-state
epoch / floor, target ≤ 1.5), then ``--ablate`` what each speed-up measure buys on one training
step. Usage: KD_DATA_DIR=... KD_OFFLINE=1 python benchmarks/kd_epoch.py [--json out.json] [--ablate]
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode
from torchvision import datasets, transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # work from a plain checkout too
import kdhelpers as kd  # noqa: E402
import kdbook as kb
from kdhelpers.losses import DistillationLoss  # noqa: E402
from kdhelpers.models import MLP, count_params  # noqa: E402

T, ALPHA, EPOCHS = 20.0, 1.0, 20
TARGET_SPEEDUP, TARGET_FLOOR_RATIO = 5.0, 1.5
TUTORIAL_EPOCHS_TIMED = 2


def student_net() -> MLP:
    torch.manual_seed(0)  # same initial weights for every path
    return MLP(hidden=(800, 800))


def tutorial_epoch(student, teacher, loader, budget, max_batches=None) -> None:
    """Per-sample ToTensor in the DataLoader, the teacher's forward on every batch, float32."""
    student.train()
    loss_fn = DistillationLoss(T, ALPHA)
    opt = torch.optim.SGD(student.parameters(), lr=budget.lr, momentum=budget.momentum)
    for i, (x, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        with torch.no_grad():
            teacher_logits = teacher(x)
        loss = loss_fn(student(x), teacher_logits, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), budget.clip_grad_norm)
        opt.step()


def matmul_gflops(shapes, chunk_s=0.1, chunks=5, dtype=torch.float32) -> float:
    """``a @ b`` rate over the given (m, k, n) shapes; best of a few short chunks, so a momentarily
    busy CPU lowers the rate as little as possible (the floor should be optimistic)."""
    pairs = [(torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)) for m, k, n in shapes]
    flops = sum(2 * m * k * n for m, k, n in shapes)
    for a, b in pairs * 3:  # warm-up
        a @ b
    best = 0.0
    for _ in range(chunks):
        reps, start, elapsed = 0, time.perf_counter(), 0.0
        while elapsed < chunk_s:
            for a, b in pairs:
                a @ b
            reps += 1
            elapsed = time.perf_counter() - start
        best = max(best, flops * reps / elapsed / 1e9)
    return best


def counted_flops_per_sample(batch_size: int) -> float:
    """Matmul FLOPs FlopCounterMode sees in one student training step, per sample (~0.83 of 6·P:
    the first layer needs no input gradient)."""
    student, x = student_net(), torch.rand(batch_size, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        DistillationLoss(T, ALPHA)(student(x), torch.randn(batch_size, 10)).backward()
    return counter.get_total_flops() / batch_size


def ablate(bs: int, dtype) -> list[tuple[str, float]]:
    """ms per training step of the student at batch ``bs``, one measure changed at a time."""
    x8 = torch.randint(0, 256, (60000, 1, 28, 28), dtype=torch.uint8)
    idx, t, y = torch.randperm(60000)[:bs], torch.randn(bs, 10), torch.randint(0, 10, (bs,))
    loss_fn = DistillationLoss(T, ALPHA)

    def per_call(fn, n=200):
        for _ in range(20):
            fn()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n * 1e3

    def step_fn(amp, fused, clip=True):
        s = student_net()
        opt = torch.optim.SGD(s.parameters(), lr=0.01, momentum=0.9, fused=fused)
        x = x8.index_select(0, idx).float().div_(255)

        def step():
            with torch.autocast("cpu", dtype=dtype, enabled=amp):
                loss = loss_fn(s(x), t, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(s.parameters(), 1.0)
            opt.step()
        return step

    rows = [("batch gather x[idx] (uint8 images)", per_call(lambda: x8[idx])),
            ("batch gather x.index_select(0, idx)", per_call(lambda: x8.index_select(0, idx))),
            ("train step, float32, foreach SGD", per_call(step_fn(False, False))),
            (f"train step, {str(dtype).replace('torch.', '')} autocast, foreach SGD", per_call(step_fn(True, False))),
            (f"train step, {str(dtype).replace('torch.', '')} autocast, fused SGD", per_call(step_fn(True, True))),
            ("  … without gradient clipping", per_call(step_fn(True, True, clip=False)))]
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--ablate", action="store_true", help="also time one training step per speed-up measure")
    p.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    budget = kb.mnist.student_budget(kb.Run(profile="cpu"))
    assert budget.epochs == EPOCHS, budget
    bs = budget.batch_size
    load_before = os.getloadavg()[0]  # other jobs on the box skew every number below
    torch.manual_seed(1)
    teacher = MLP(hidden=(1200, 1200)).eval()
    kb.current().remember(teacher, "benchmark-teacher")

    # 1. tutorial loop; dataset construction is outside the timer, as is loading for kdhelpers
    ds = datasets.MNIST(root=str(kd.data_root()), train=True, download=False, transform=transforms.ToTensor())
    n = len(ds)
    loader = DataLoader(ds, batch_size=bs, shuffle=True, num_workers=0)
    tutorial_epoch(MLP(hidden=(800, 800)), teacher, loader, budget, max_batches=3)  # warm-up only
    student = student_net()
    start = time.perf_counter()
    for _ in range(TUTORIAL_EPOCHS_TIMED):
        tutorial_epoch(student, teacher, loader, budget)
    t_tutorial_epoch = (time.perf_counter() - start) / TUTORIAL_EPOCHS_TIMED
    t_tutorial = EPOCHS * t_tutorial_epoch

    # 2. a real 20-epoch kdhelpers.fit, epochs timed by its epoch hook
    data = kd.load_mnist(True)
    kd.fit(MLP(hidden=(800, 800)), kd.subset(data, 3 * bs), budget.replace(epochs=1), teacher=teacher,
           loss=DistillationLoss(T, ALPHA), device="cpu", progress=False)  # warm-up
    stamps = []
    start = time.perf_counter()
    kd.fit(student_net(), data, budget, teacher=teacher, loss=DistillationLoss(T, ALPHA), device="cpu",
           progress=False, on_epoch_end=lambda e, m: stamps.append(time.perf_counter()))
    t_kd = stamps[-1] - start
    epochs = [b - a for a, b in zip([start] + stamps[:-1], stamps)]
    steady = statistics.median(epochs[1:])

    # 3. the FLOP floor, in the precision kdhelpers trains in
    params, params_t = count_params(student), count_params(teacher)
    dtype = kd.device.amp_dtype("cpu") or torch.float32
    layer_gflops = matmul_gflops([(bs, 784, 800), (bs, 800, 800)], dtype=dtype)
    layer_gflops_fp32 = matmul_gflops([(bs, 784, 800), (bs, 800, 800)])
    peak_gflops = matmul_gflops([(2048, 2048, 2048)], chunk_s=0.3, chunks=3, dtype=dtype)
    floor = 6 * params * n / (layer_gflops * 1e9)
    counted = counted_flops_per_sample(bs)

    speedup, floor_ratio = t_tutorial / t_kd, steady / floor
    ok = lambda good: "PASS" if good else "MISS"  # noqa: E731
    name = str(dtype).replace("torch.", "")
    print(f"torch {torch.__version__} | threads {torch.get_num_threads()} | cpu | {n} examples | batch {bs} | "
          f"{EPOCHS} epochs | load avg at start {load_before:.1f}")
    print(f"student {params:,} params, teacher {params_t:,} params; kdhelpers trains in {name} "
          f"(autocast), the tutorial loop in float32")
    print(f"matmul {name}: {layer_gflops:.0f} GFLOP/s at the student's layer shapes ([{bs},784]@[784,800], "
          f"[{bs},800]@[800,800]), {peak_gflops:.0f} at 2048³; float32 at the layer shapes {layer_gflops_fp32:.0f}")
    print(f"FlopCounterMode: {counted / 1e6:.2f} MFLOP per sample per training step vs 6·params = "
          f"{6 * params / 1e6:.2f} (ratio {counted / (6 * params):.2f})")
    print(f"\n{'':46}{'value':>9}  {'target':>7}  result")
    print(f"{'tutorial loop, one epoch (s)':46}{t_tutorial_epoch:9.2f}")
    print(f"{'tutorial loop, 20 epochs (s, 10 × 2 timed)':46}{t_tutorial:9.1f}")
    print(f"{'kdhelpers.fit, 20 epochs incl. teacher pass (s)':46}{t_kd:9.1f}")
    print(f"{'speed-up (20 epochs: tutorial / kdhelpers)':46}{speedup:8.2f}x  {'>= 5x':>7}  {ok(speedup >= TARGET_SPEEDUP)}")
    print(f"{'kdhelpers steady-state epoch (s, median 2-20)':46}{steady:9.3f}")
    print(f"{'FLOP floor of an epoch, 6·P·N / rate (s)':46}{floor:9.3f}")
    print(f"{'floor ratio (steady-state epoch / floor)':46}{floor_ratio:8.2f}x  {'<= 1.5x':>7}  "
          f"{ok(floor_ratio <= TARGET_FLOOR_RATIO)}")
    rows = ablate(bs, dtype) if args.ablate else []
    if rows:
        print(f"\nwhat each measure buys, one student training step at batch {bs} (ms):")
        for label, ms in rows:
            print(f"  {label:52}{ms:8.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(
            torch=torch.__version__, threads=torch.get_num_threads(), examples=n, batch_size=bs, epochs=EPOCHS,
            load_avg_at_start=load_before, student_params=params, teacher_params=params_t, kdhelpers_dtype=name,
            layer_gflops=layer_gflops, layer_gflops_fp32=layer_gflops_fp32, peak_gflops=peak_gflops,
            counted_flops_per_sample=counted, tutorial_epoch_s=t_tutorial_epoch, tutorial_20_s=t_tutorial,
            kdhelpers_20_s=t_kd, kdhelpers_epochs_s=epochs, steady_epoch_s=steady, floor_s=floor,
            speedup=speedup, floor_ratio=floor_ratio, ablation_ms=dict(rows),
            pass_speedup=speedup >= TARGET_SPEEDUP, pass_floor=floor_ratio <= TARGET_FLOOR_RATIO), indent=2) + "\n")


if __name__ == "__main__":
    main()
