#!/usr/bin/env python
"""The whole book's cold reproduction time (``make reproduce PROFILE=cpu``, every chapter), from the
committed ``results/*.json``: each chapter's cold cost is its run's wall time plus the recorded
training time of every network it loaded from the model cache (``kdhelpers.infra.results._cost``), so the
figure holds even when the committed runs were warm. A network shared by chapters (the MNIST
teacher) counts in every chapter that loads it, so the total is an upper bound on one cold
``make reproduce``. Prints each chapter's share and, for a run that trained everything itself (none
loaded), its achieved rate: its cost plan's training FLOPs (``cost.training_flops``) over its wall
time, in TFLOP/s. (A plan does not always list the teachers a chapter loads, so no rate is given
for warm runs.)
Usage: python benchmarks/book_cost.py
"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    rows = []
    for path in sorted((ROOT / "results").glob("*.json")):
        r = json.loads(path.read_text())
        cost = r.get("cost") or {}
        rows.append((path.stem, r.get("profile"), cost.get("cold_time_s") or r.get("wall_time_s") or 0.0,
                     cost.get("loaded_training_s") or 0.0, cost.get("estimate_s"), ", ".join(cost.get("precisions", [])),
                     cost.get("training_flops")))
    total = sum(r[2] for r in rows)
    print(f"{'chapter':24} {'profile':7} {'cold min':>8} {'share':>6} {'of it loaded':>12} {'estimate':>9} "
          f"{'PFLOP':>6} {'TFLOP/s':>7}  precision")
    for name, profile, cold, loaded, est, prec, flops in sorted(rows, key=lambda r: -r[2]):
        est_text = f"{est / 60:8.1f}" if est else "       —"
        rate = f"{flops / cold / 1e12:7.3f}" if flops and cold and not loaded else "      —"
        pflop = f"{flops / 1e15:6.3f}" if flops else "     —"
        print(f"{name:24} {profile or '?':7} {cold / 60:8.1f} {cold / total:6.1%} {loaded / 60:11.1f}m {est_text}m "
              f"{pflop} {rate}  {prec}")
    print(f"whole book, cold: {total / 60:.1f} min ({total / 3600:.2f} h) over {len(rows)} chapters "
          "(shared teachers counted in every chapter that loads them: an upper bound)")


if __name__ == "__main__":
    main()
