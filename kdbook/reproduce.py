"""``make reproduce``: execute chapters in place with papermill, both cores busy.

Small networks leave a core idle, so chapters run two at a time, one thread each (measured here: two
one-thread jobs train 1.7x as many MLP steps as one two-thread job), longest first by the cold cost
their last run recorded, less the training of the book's shipped teachers they load (unless
``KD_TEACHERS=0``), so the last to start is a short one. The run's timing, per chapter wall
time and training FLOPs, goes to ``benchmarks/results/reproduce-<profile>.json``; each chapter's
queue, start and end to ``_build/reproduce/queues.tsv``, which ``benchmarks/book_run_record.py`` reads.

Command line (the Makefile calls it)::

    python -m kdbook.reproduce --profile cpu [--jobs 2] NOTEBOOK ...
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from . import teachers
from .cache import atomic_write_text


def recorded_cost(nb: Path, results: Path, shipped: dict | None = None) -> float:
    """The cold cost the chapter's last recorded run took (0 when unknown), less the recorded training
    time of the ``shipped`` teachers (manifest entries by key) its notebook names, which it loads
    instead of training: the queue's order. Without that, a chapter whose teacher took an hour once
    queues before one that trains for an hour every time."""
    path = results / f"{nb.stem}.json"
    if not path.exists():
        return 0.0
    cost = json.loads(path.read_text()).get("cost") or {}
    cold = float(cost.get("cold_time_s") or cost.get("wall_time_s") or 0.0)
    if shipped and nb.exists():
        text = nb.read_text()
        cold -= sum(e["training_s"] for e in shipped.values() if f"{e['name']}-{e['key']}" in text)
    return max(cold, 0.0)


_TSV_LOCK = threading.Lock()


def _tsv(log_dir: Path, *fields) -> None:
    """One line of ``queues.tsv`` (queue, chapter, start|end, epoch seconds[, exit, wall])."""
    with _TSV_LOCK, open(log_dir / "queues.tsv", "a") as f:
        f.write("\t".join(str(x) for x in fields) + "\n")


def drop_injected(nb: Path) -> None:
    """Remove papermill's injected parameters cell from an executed notebook: committed, it would set
    the profile for everyone who opens the notebook (Colab's ``auto`` would never choose)."""
    import nbformat

    try:
        book = nbformat.read(str(nb), as_version=4)
    except Exception as err:  # not a notebook papermill wrote (a test's stub): nothing to drop
        print(f"{nb.name}: not read as a notebook ({type(err).__name__}); left as it is")
        return
    kept = [c for c in book.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    if len(kept) != len(book.cells):
        book.cells = kept
        atomic_write_text(nb, nbformat.writes(book) + "\n")


def run_one(nb: Path, profile: str, threads: int, log_dir: Path) -> dict:
    """Execute ``nb`` in place in ``profile`` with ``threads`` threads; its log to ``log_dir``."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "KD_PROGRESS": os.environ.get("KD_PROGRESS", "0")}
    log = log_dir / f"{nb.stem}.log"
    name = threading.current_thread().name  # "queue_0", "queue_1": the pool's workers, named A, B, ...
    queue = chr(ord("A") + int(name.rsplit("_", 1)[1])) if name.startswith("queue_") else "A"
    start, t0 = time.perf_counter(), int(time.time())
    _tsv(log_dir, queue, nb.stem, "start", t0)
    with open(log, "w") as f:
        code = subprocess.run([sys.executable, "-m", "papermill", str(nb), str(nb), "-p", "profile", profile,
                               "--cwd", str(nb.parent)], stdout=f, stderr=subprocess.STDOUT, env=env).returncode
    if code == 0:
        drop_injected(nb)
    t1 = int(time.time())
    _tsv(log_dir, queue, nb.stem, "end", t1, code, t1 - t0)
    return {"notebook": nb.stem, "wall_s": round(time.perf_counter() - start, 1), "exit": code, "log": str(log)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m kdbook.reproduce", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", required=True, choices=("smoke", "cpu", "full"))
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="chapters at a time")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("notebooks", nargs="+", type=Path)
    a = p.parse_args(argv)
    if a.jobs < 1:
        raise SystemExit("--jobs must be at least 1")
    a.jobs = min(a.jobs, len(a.notebooks))  # a lone chapter gets every core, not cores ÷ --jobs
    threads = 1 if a.jobs > 1 else (os.cpu_count() or 1)
    shipped = teachers.manifest() if teachers.enabled() else {}
    queue = sorted(a.notebooks, key=lambda nb: -recorded_cost(nb, a.results, shipped))
    log_dir = Path("_build") / "reproduce"
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "queues.tsv").write_text("")
    print(f"{len(queue)} chapter(s), {a.jobs} at a time, {threads} thread(s) each, longest first: "
          + ", ".join(nb.stem for nb in queue), flush=True)
    start, rows = time.perf_counter(), []
    with ThreadPoolExecutor(a.jobs, thread_name_prefix="queue") as pool:
        futures = [pool.submit(run_one, nb, a.profile, threads, log_dir) for nb in queue]
        for future in as_completed(futures):
            row = future.result()
            res = a.results / f"{row['notebook']}.json"
            cost = (json.loads(res.read_text()).get("cost") or {}) if res.exists() and row["exit"] == 0 else {}
            row["training_flops"] = cost.get("training_flops")
            rows.append(row)
            state = "ok" if row["exit"] == 0 else f"FAILED (exit {row['exit']}, see {row['log']})"
            print(f"  {row['notebook']}: {row['wall_s'] / 60:.1f} min {state}", flush=True)
    total = time.perf_counter() - start
    record = {"profile": a.profile, "jobs": a.jobs, "threads_each": threads, "wall_s": round(total, 1),
              "chapters": sorted(rows, key=lambda r: -r["wall_s"])}
    out = Path("benchmarks") / "results" / f"reproduce-{a.profile}.json"
    atomic_write_text(out, json.dumps(record, indent=1) + "\n")
    print(f"all: {total / 60:.1f} min wall; timing in {out}")
    return 0 if all(r["exit"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
