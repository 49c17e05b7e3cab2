#!/usr/bin/env python
"""Time one epoch of MNIST distillation, 800-800 MLP student <- 1200-1200 MLP teacher (random: only
time matters): a typical tutorial loop (torchvision MNIST + ToTensor + DataLoader, teacher every
batch) vs kdhelpers.fit (uint8 tensors in memory, teacher logits once), against a FLOP floor of
6 * student params * samples at the matmul rate measured on this machine in the same run.
Usage: KD_DATA_DIR=... KD_OFFLINE=1 python benchmarks/kd_epoch.py [--samples 5000] [--json out.json]
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset
from torch.utils.flop_counter import FlopCounterMode
from torchvision import datasets, transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # work from a plain checkout too
import kdhelpers  # noqa: E402
from kdhelpers.losses import DistillationLoss  # noqa: E402
from kdhelpers.models import MLP, count_params  # noqa: E402

T, ALPHA, LR, MOMENTUM = 20.0, 1.0, 0.1, 0.9
TARGET_SPEEDUP, TARGET_FLOOR_RATIO = 5.0, 2.0
WARMUP_BATCHES = 3


def student_net() -> MLP:
    torch.manual_seed(0)  # same initial weights for every path
    return MLP(hidden=(800, 800))


def sync(device: torch.device) -> None:
    if device.type == "cuda":  # GPU work is asynchronous: wait before reading the clock
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def tutorial_epoch(student, teacher, loader, device, max_batches=None) -> float:
    """What a KD tutorial writes: per-sample ToTensor in the DataLoader, teacher forward every batch."""
    student.to(device).train()
    loss_fn = DistillationLoss(temperature=T, alpha=ALPHA)
    opt = torch.optim.SGD(student.parameters(), lr=LR, momentum=MOMENTUM)
    for i, (x, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        x, y = x.to(device), y.to(device)
        with torch.no_grad():
            teacher_logits = teacher(x)
        loss = loss_fn(student(x), teacher_logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def kdhelpers_epoch(student, teacher, data, args) -> dict:
    return kdhelpers.fit(student, data, teacher=teacher, temperature=T, alpha=ALPHA, epochs=1,
                         batch_size=args.batch_size, lr=LR, optimizer="sgd", schedule="constant",
                         device=args.device, progress=False)


def matmul_gflops(shapes, device, chunk_s=0.1, chunks=5, dtype=torch.float32) -> float:
    """``a @ b`` rate over the given (m, k, n) shapes in ``dtype``; best of a few short chunks, so a
    momentarily busy CPU lowers the rate as little as possible (the floor should be optimistic)."""
    pairs = [(torch.randn(m, k, device=device, dtype=dtype), torch.randn(k, n, device=device, dtype=dtype))
             for m, k, n in shapes]
    flops = sum(2 * m * k * n for m, k, n in shapes)
    for a, b in pairs * 3:  # warm-up
        a @ b
    best = 0.0
    for _ in range(chunks):
        reps, start, elapsed = 0, time.perf_counter(), 0.0
        while elapsed < chunk_s:
            for a, b in pairs:
                a @ b
            sync(device)
            reps += 1
            elapsed = time.perf_counter() - start
        best = max(best, flops * reps / elapsed / 1e9)
    return best


def counted_flops_per_sample(batch_size: int) -> float:
    """Matmul FLOPs FlopCounterMode sees in one student training step (forward + backward), per
    sample. Expect ~0.83 of 6*params: the first layer needs no input gradient (the image)."""
    student, x = student_net(), torch.rand(batch_size, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        DistillationLoss(T, ALPHA)(student(x), torch.randn(batch_size, 10)).backward()
    return counter.get_total_flops() / batch_size


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--samples", type=int, default=60000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (tutorial loop)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = p.parse_args()
    if args.threads:  # on a shared 2-core box, 1 thread can beat 2 oversubscribed ones by a lot
        torch.set_num_threads(args.threads)
    device, bs, n = torch.device(args.device), args.batch_size, args.samples
    load_before = os.getloadavg()[0]  # other jobs on the box skew every number below
    torch.manual_seed(1)
    teacher = MLP(hidden=(1200, 1200)).to(device).eval()

    # 1. tutorial loop. Dataset construction is outside the timer, as is loading for kdhelpers.
    ds = datasets.MNIST(root=str(kdhelpers.data_root()), train=True, download=False,
                        transform=transforms.ToTensor())
    if n < len(ds):
        ds = Subset(ds, torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:n].tolist())
    loader = DataLoader(ds, batch_size=bs, shuffle=True, num_workers=args.workers)
    tutorial_epoch(MLP(hidden=(800, 800)), teacher, loader, device, WARMUP_BATCHES)  # warm-up only
    student = student_net()
    t_tutorial = timed(lambda: tutorial_epoch(student, teacher, loader, device), device)

    # 2. kdhelpers.fit; its one teacher pass over the transfer set is inside the timer.
    data = kdhelpers.load_mnist(True)
    data = kdhelpers.subset(data, n) if n < len(data) else data
    kdhelpers_epoch(MLP(hidden=(800, 800)), teacher, kdhelpers.subset(data, WARMUP_BATCHES * bs), args)
    student = student_net()
    t_kd = timed(lambda: kdhelpers_epoch(student, teacher, data, args), device)

    # 3. FLOP floor from the student's own layer shapes at this batch size (forward shapes), in the
    # precision kdhelpers trains in (bf16 autocast on AMX CPUs / CUDA): a float32 floor would flatter it.
    params, params_t = count_params(student), count_params(teacher)
    dtype = kdhelpers.device.amp_dtype(device) or torch.float32
    layer_gflops = matmul_gflops([(bs, 784, 800), (bs, 800, 800)], device, dtype=dtype)
    layer_gflops_fp32 = matmul_gflops([(bs, 784, 800), (bs, 800, 800)], device)
    peak_gflops = matmul_gflops([(2048, 2048, 2048)], device, chunk_s=0.3, chunks=3, dtype=dtype)
    floor = 6 * params * n / (layer_gflops * 1e9)
    # Context only: both timed paths also run the teacher forward once per sample (2 * params_t).
    floor_with_teacher = (6 * params + 2 * params_t) * n / (layer_gflops * 1e9)
    counted = counted_flops_per_sample(bs)

    speedup, vs_floor = t_tutorial / t_kd, t_kd / floor
    ok = lambda good: "PASS" if good else "MISS"  # noqa: E731
    print(f"torch {torch.__version__} | threads {torch.get_num_threads()} | device {device} | "
          f"samples {n} | batch size {bs} | workers {args.workers} | load avg at start {load_before:.1f}")
    print(f"student {params:,} params, teacher {params_t:,} params")
    print(f"kdhelpers trains in {str(dtype).replace('torch.', '')} (autocast); the tutorial loop in float32")
    print(f"matmul {str(dtype).replace('torch.', '')}: {layer_gflops:.1f} GFLOP/s at the student's layer shapes "
          f"([{bs},784]@[784,800], [{bs},800]@[800,800]); {peak_gflops:.1f} GFLOP/s at 2048^3; "
          f"float32 at the layer shapes: {layer_gflops_fp32:.1f} GFLOP/s")
    print(f"FlopCounterMode: {counted / 1e6:.2f} MFLOP/sample per training step vs 6*params = "
          f"{6 * params / 1e6:.2f} (ratio {counted / (6 * params):.2f})")
    print(f"\n{'':38}{'value':>10}  {'target':>8}  result")
    print(f"{'tutorial loop (s)':38}{t_tutorial:10.2f}")
    print(f"{'kdhelpers.fit incl. teacher pass (s)':38}{t_kd:10.2f}")
    print(f"{'speed-up tutorial / kdhelpers':38}{speedup:9.2f}x  {'>= 5x':>8}  {ok(speedup >= TARGET_SPEEDUP)}")
    print(f"{'FLOP floor 6*P*N / layer rate (s)':38}{floor:10.2f}")
    print(f"{'kdhelpers / floor':38}{vs_floor:9.2f}x  {'<= 2x':>8}  {ok(vs_floor <= TARGET_FLOOR_RATIO)}")
    print(f"{'(context) floor + teacher fwd (s)':38}{floor_with_teacher:10.2f}")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(
            torch=torch.__version__, threads=torch.get_num_threads(), device=str(device), samples=n,
            batch_size=bs, workers=args.workers, load_avg_at_start=load_before,
            student_params=params, teacher_params=params_t,
            kdhelpers_dtype=str(dtype), layer_gflops=layer_gflops, layer_gflops_fp32=layer_gflops_fp32,
            peak_gflops=peak_gflops, counted_flops_per_sample=counted,
            rule_flops_per_sample=6 * params, tutorial_s=t_tutorial, kdhelpers_s=t_kd, speedup=speedup,
            floor_s=floor, floor_with_teacher_s=floor_with_teacher, kdhelpers_over_floor=vs_floor,
            pass_speedup=speedup >= TARGET_SPEEDUP, pass_floor=vs_floor <= TARGET_FLOOR_RATIO), indent=2) + "\n")


if __name__ == "__main__":
    main()
