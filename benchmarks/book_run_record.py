"""The record of a cold run of the whole book, from the queue log ``make reproduce`` writes.

    python benchmarks/book_run_record.py RUN_DIR [--note CHAPTER=TEXT ...] [--runner TEXT]

reads RUN_DIR/_build/reproduce/queues.tsv (each chapter's queue, start, end, exit) and RUN_DIR/results
(each chapter's training FLOPs, precisions, networks trained and loaded from the book), and writes
``benchmarks/results/book_run-cpu.json``, which ``book_cost.py --run-markdown`` renders for the
how-to-run page. Times are seconds from the first chapter's start; a chapter that started but had not
ended is left out, and listed under ``not_run`` with the chapters that never started.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "book_run-cpu.json"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_log(path: Path) -> tuple[int, list[dict]]:
    """(the first start, one row per finished chapter) from queues.tsv."""
    starts, rows = {}, []
    for line in path.read_text().splitlines():
        f = line.split("\t")
        if len(f) >= 4 and f[2] == "start":
            starts[f[1]] = (f[0], int(f[3]))
        elif len(f) >= 6 and f[2] == "end":
            lane, s = starts[f[1]]
            rows.append({"notebook": f[1], "lane": lane, "start": s, "end": int(f[3]), "exit": int(f[4])})
    if not starts:
        raise SystemExit(f"{path}: no chapter started")
    return min(s for _, s in starts.values()), rows


def record(run_dir: Path, notes: dict[str, str], runner: str) -> dict:
    t0, rows = parse_log(run_dir / "_build" / "reproduce" / "queues.tsv")
    chapters = []
    for r in rows:
        res = run_dir / "results" / f"{r['notebook']}.json"
        cost = (json.loads(res.read_text()).get("cost") or {}) if r["exit"] == 0 and res.exists() else {}
        row = {"notebook": r["notebook"], "lane": r["lane"], "start_s": r["start"] - t0, "end_s": r["end"] - t0,
               "wall_s": r["end"] - r["start"], "exit": r["exit"],
               "log": f"_build/reproduce/{r['notebook']}.log", "training_flops": cost.get("training_flops"),
               "precisions": cost.get("precisions"), "loaded_from_book": cost.get("loaded_from_book"),
               "trained_now": cost.get("trained_now")}
        if r["notebook"] in notes:
            row["note"] = notes[r["notebook"]]
        chapters.append(row)
    done = {c["notebook"] for c in chapters}
    commit = subprocess.run(["git", "-C", str(run_dir), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return {"profile": "cpu", "jobs": 2, "threads_each": 1, "wall_s": max(c["end_s"] for c in chapters),
            "started": datetime.fromtimestamp(t0, timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{cpu_model()}, {os.cpu_count()} cores, no GPU",
            "model_cache": "empty at the start (one cache for the whole run)",
            "teachers": "the book's shipped teachers, loaded from teachers/", "runner": runner, "commit": commit,
            "chapters": chapters,
            "not_run": sorted({p.stem for p in (ROOT / "notebooks").glob("*.ipynb")} - done)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--note", action="append", default=[], metavar="CHAPTER=TEXT")
    ap.add_argument("--runner", default="make reproduce ALL=1 PROFILE=cpu: two one-thread queues, one model cache")
    a = ap.parse_args()
    notes = dict(n.split("=", 1) for n in a.note)
    rec = record(a.run_dir.resolve(), notes, a.runner)
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(OUT)  # atomic
    print(f"{len(rec['chapters'])} chapters in {rec['wall_s'] / 60:.1f} min wall -> {OUT}")


if __name__ == "__main__":
    main()
