#!/usr/bin/env python
"""How long the CIFAR-10 chapter's cpu profile takes, from measured training speeds.

Trains each cpu-profile network of the ``cifar_resnet_vgg`` chapter through the real ``kd.fit`` path (its
budget, augmentation, precision, channels-last) for 2 epochs on a slice of the training images and
times the second, then times the teachers' forward pass (the cached per-view outputs) and the
students' test-time-augmented evaluation. From those it projects the chapter: teachers' training,
the students' (scratch seeds, the T × β grid, the best cells' extra seeds), cold and warm.

Usage: KD_DATA_DIR=... KD_OFFLINE=1 python benchmarks/cifar_speed.py [--n 6144] [--json out.json]
"""
import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # work from a plain checkout too
import kdhelpers as kd  # noqa: E402
import kdbook as kb
from kdbook.chapter import load  # noqa: E402
from kdhelpers.data import subset  # noqa: E402
from kdhelpers.device import default_device, precision_name  # noqa: E402
from kdhelpers.models import build_model  # noqa: E402
from kdhelpers.train import fit, predict_logits  # noqa: E402

cifar = load("cifar_resnet_vgg")  # the chapter's cells tagged `define`
CPU = kb.Run(profile="cpu")  # the cpu profile's networks and budgets

N_TRAIN, N_VAL, N_TEST = 45_000, 5_000, 10_000
TTA_PASSES = 6  # image, mirror, two 1-pixel translations and their mirrors
COLD_LIMIT_MIN, WARM_LIMIT_MIN = 75, 40


def epoch_seconds(model_name: str, role: str, data, teacher=None) -> float:
    """Seconds per image of the second of two epochs of kd.fit on ``data``."""
    torch.manual_seed(0)
    model = build_model(cifar.config(model_name, CPU))
    budget = replace(cifar.budget(CPU, role), epochs=2)
    stamps = [time.perf_counter()]
    loss = kd.DistillationLoss(4.0, alpha=0.5) if teacher is not None else None
    fit(model, data, budget, teacher=teacher, loss=loss, on_epoch_end=lambda e, m: stamps.append(time.perf_counter()),
        progress=False)
    return (stamps[2] - stamps[1]) / len(data)


def forward_seconds(model: torch.nn.Module, data) -> float:
    """Seconds per image of a forward pass (eval, the training precision), after a warm-up."""
    predict_logits(model, subset(data, 1024))
    start = time.perf_counter()
    predict_logits(model, data)
    return (time.perf_counter() - start) / len(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6144, help="training images per timed epoch (default 6144 = 6 steps)")
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args()
    train = subset(kd.data.cifar10_splits(CPU)[0], args.n)
    print(f"{precision_name(default_device())} on {default_device()}; {args.n} images per timed epoch; threads {torch.get_num_threads()}")

    out = {"precision": precision_name(default_device())}
    for m in cifar.TEACHERS:
        s = epoch_seconds(m, "teacher", train)
        out[f"{m}_train_img_s"] = 1 / s
        out[f"{m}_epoch_s"] = s * N_TRAIN
    s = epoch_seconds("resnet_student", "student", train)
    out["student_scratch_img_s"], out["student_epoch_s"] = 1 / s, s * N_TRAIN
    torch.manual_seed(0)
    teacher = build_model(cifar.config("vgg_teacher", CPU))
    kb.current().remember(teacher, "benchmark-teacher")
    s = epoch_seconds("resnet_student", "student", train, teacher=teacher)
    out["student_kd_img_s"], out["student_kd_epoch_s"] = 1 / s, s * N_TRAIN
    for m in cifar.TEACHERS:
        torch.manual_seed(0)
        out[f"{m}_forward_img_s"] = 1 / forward_seconds(build_model(cifar.config(m, CPU)).eval(), train)
    torch.manual_seed(0)
    out["student_forward_img_s"] = 1 / forward_seconds(build_model(cifar.config("resnet_student", CPU)).eval(), train)

    tb, sb = cifar.budget(CPU, "teacher"), cifar.budget(CPU, "student")
    n_scratch, n_grid, n_best_extra = 3, 16, 2 * 2
    teachers_s = sum(out[f"{m}_epoch_s"] * tb.epochs for m in cifar.TEACHERS)
    views_s = sum(2 * N_TRAIN / out[f"{m}_forward_img_s"] for m in cifar.TEACHERS)  # image + mirror
    teacher_eval_s = sum(TTA_PASSES * (N_VAL + N_TEST) / out[f"{m}_forward_img_s"] for m in cifar.TEACHERS)
    students = n_scratch * out["student_epoch_s"] * sb.epochs + (n_grid + n_best_extra) * out["student_kd_epoch_s"] * sb.epochs
    student_eval_s = (n_scratch + n_grid + n_best_extra) * TTA_PASSES * (N_VAL + N_TEST) / out["student_forward_img_s"]
    out |= {"teachers_train_min": teachers_s / 60, "teacher_views_min": views_s / 60,
            "students_train_min": students / 60, "eval_min": (teacher_eval_s + student_eval_s) / 60}
    out["cold_min"] = (teachers_s + views_s + students + teacher_eval_s + student_eval_s) / 60
    out["warm_min"] = (teacher_eval_s + student_eval_s) / 60  # every network cached: evaluation only
    out["warm_students_min"] = (views_s + students + student_eval_s + teacher_eval_s) / 60  # teachers cached

    for m in cifar.TEACHERS:
        print(f"{m:9s} teacher: {out[f'{m}_train_img_s']:6.0f} img/s training "
              f"({out[f'{m}_epoch_s']:.0f} s per 45k epoch, {tb.epochs} epochs), {out[f'{m}_forward_img_s']:6.0f} img/s forward")
    print(f"student  scratch: {out['student_scratch_img_s']:6.0f} img/s ({out['student_epoch_s']:.0f} s/epoch); "
          f"distilled: {out['student_kd_img_s']:6.0f} img/s ({out['student_kd_epoch_s']:.0f} s/epoch), {sb.epochs} epochs")
    print(f"projected chapter: teachers {out['teachers_train_min']:.1f} min + views {out['teacher_views_min']:.1f} "
          f"+ {n_scratch + n_grid + n_best_extra} students {out['students_train_min']:.1f} + evaluation {out['eval_min']:.1f}")
    print(f"cold {out['cold_min']:.1f} min (limit {COLD_LIMIT_MIN}); teachers cached {out['warm_students_min']:.1f} min "
          f"(limit {WARM_LIMIT_MIN}); everything cached {out['warm_min']:.1f} min")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
