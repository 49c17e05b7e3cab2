#!/usr/bin/env python
"""The whole book's cold reproduction time (``make reproduce PROFILE=cpu``, every chapter), from the
committed ``results/*.json``, with and without the book's shipped teachers (``teachers/``).

Each chapter's cold cost is its run's wall time plus the recorded training time of every network it
loaded from the model cache or from the book's files (``kdbook.results._cost``), so the
figure holds even when the committed runs were warm. "With the book's teachers" takes off the
training time of the shipped teachers the chapter uses (their cache keys, found in its committed
outputs). A network shared by chapters (the MNIST teacher) counts in every chapter that loads it;
the de-duplicated total counts each shipped teacher once. All figures are one thread's time. The
achieved rate is the chapter's cost plan's training FLOPs (``cost.training_flops``) over its cold cost.
A recorded cold run of the book (``benchmarks/results/book_run-cpu.json``: each chapter's queue, start,
wall time and training FLOPs) becomes the how-to-run page's run table with ``--run-markdown``.
Usage: python benchmarks/book_cost.py [--markdown book/reproduce_cost.md] [--run-markdown book/reproduce_run.md]
"""
import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rows() -> list[dict]:
    manifest = json.loads((ROOT / "teachers" / "manifest.json").read_text())["teachers"]
    out = []
    for path in sorted((ROOT / "results").glob("*.json")):
        r = json.loads(path.read_text())
        cost = r.get("cost") or {}
        notebook = (ROOT / "notebooks" / f"{path.stem}.ipynb").read_text()
        shipped = {e["key"]: e["training_s"] for e in manifest if f"{e['name']}-{e['key']}" in notebook}
        cold = cost.get("cold_time_s") or r.get("wall_time_s") or 0.0
        out.append({"chapter": path.stem, "cold_s": cold, "book_teachers_s": sum(shipped.values()),
                    "shipped": shipped, "flops": cost.get("training_flops"),
                    "precision": ", ".join(cost.get("precisions", []))})
    return sorted(out, key=lambda row: -row["cold_s"])


def totals(table: list[dict]) -> dict:
    shipped = {k: s for row in table for k, s in row["shipped"].items()}
    counted = sum(row["book_teachers_s"] for row in table)
    cold = sum(row["cold_s"] for row in table)
    return {"cold_s": cold, "cold_once_s": cold - counted + sum(shipped.values()),
            "with_book_s": cold - counted, "book_teachers_s": sum(shipped.values())}


def markdown(table: list[dict] | None = None) -> str:
    table = rows() if table is None else table
    t = totals(table)
    lines = ["<!-- written by `python benchmarks/book_cost.py --markdown book/reproduce_cost.md`; "
             "tests/test_teachers.py checks it -->",
             "| chapter | cold, teachers trained (min) | with the book's teachers (min) | training PFLOP | TFLOP/s, cold | precision |",
             "|---|---:|---:|---:|---:|---|"]
    for row in table:
        rate = f"{row['flops'] / row['cold_s'] / 1e12:.3f}" if row["flops"] and row["cold_s"] else "—"
        pflop = f"{row['flops'] / 1e15:.3f}" if row["flops"] else "—"
        lines.append(f"| `{row['chapter']}` | {row['cold_s'] / 60:.1f} | {(row['cold_s'] - row['book_teachers_s']) / 60:.1f} "
                     f"| {pflop} | {rate} | {row['precision']} |")
    lines.append(f"| **all {len(table)} chapters** | **{t['cold_s'] / 60:.0f}** ({t['cold_once_s'] / 60:.0f} with each "
                 f"shipped teacher once) | **{t['with_book_s'] / 60:.0f}** | | | |")
    return "\n".join(lines) + "\n"


RUN_RECORD = ROOT / "benchmarks" / "results" / "book_run-cpu.json"  # a cold run of the whole book, kept apart from
# reproduce-cpu.json, which every `make reproduce` overwrites with its own chapters


def run_markdown(record: dict | None = None) -> str:
    """The recorded cold run of the book (``benchmarks/results/book_run-cpu.json``) as the how-to-run
    page's table: each chapter's queue, start and wall time, how many networks it trained, and its
    plan's training FLOPs (networks it loaded from the cache or the book count too), in the order the
    chapters finished."""
    record = json.loads(RUN_RECORD.read_text()) if record is None else record
    lines = ["<!-- written by `python benchmarks/book_cost.py --run-markdown book/reproduce_run.md` from "
             "benchmarks/results/book_run-cpu.json; tests/test_teachers.py checks it -->",
             "| chapter | queue | started (min) | wall (min) | networks trained | training PFLOP of its plan |",
             "|---|---|---:|---:|---:|---:|"]
    chapters = sorted(record["chapters"], key=lambda c: c["start_s"] + c["wall_s"])
    notes = []
    for c in chapters:
        flops = c.get("training_flops")  # the chapter's plan: networks loaded from the cache or the book included
        pflop = f"{flops / 1e15:.3f}" if flops else "—"
        state = "" if c["exit"] == 0 else f" (failed, exit {c['exit']})"
        if c.get("note"):
            notes.append(c["note"])
            state += f" ({len(notes)})"
        lines.append(f"| `{c['notebook']}`{state} | {c.get('lane', '—')} | {c['start_s'] / 60:.1f} "
                     f"| {c['wall_s'] / 60:.1f} | {c.get('trained_now', '—')} | {pflop} |")
    busy = sum(c["wall_s"] for c in chapters)
    lines.append(f"| **{len(chapters)} chapters** | {record['jobs']} queues, {record['threads_each']} thread each | "
                 f"| **{record['wall_s'] / 60:.1f}** wall ({busy / 60:.0f} queue-minutes) | "
                 f"{sum(c.get('trained_now') or 0 for c in chapters)} | |")
    for i, note in enumerate(notes, 1):
        lines += ["", f"({i}) {note}"]
    if record.get("not_run"):
        lines += ["", "Not in this run: " + ", ".join(f"`{c}`" for c in sorted(record["not_run"]))
                  + " (their outputs are from earlier runs)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", type=Path, help="also write the table as Markdown (the how-to-run page's)")
    ap.add_argument("--run-markdown", type=Path, help="write the recorded whole-book run's table as Markdown")
    args = ap.parse_args()
    if args.run_markdown:
        args.run_markdown.write_text(run_markdown())
    table = rows()
    t = totals(table)
    print(f"{'chapter':24} {'cold min':>8} {'book-teachers min':>17} {'PFLOP':>6} {'TFLOP/s':>7}  precision")
    for row in table:
        rate = f"{row['flops'] / row['cold_s'] / 1e12:7.3f}" if row["flops"] and row["cold_s"] else "      —"
        pflop = f"{row['flops'] / 1e15:6.3f}" if row["flops"] else "     —"
        print(f"{row['chapter']:24} {row['cold_s'] / 60:8.1f} {(row['cold_s'] - row['book_teachers_s']) / 60:17.1f} "
              f"{pflop} {rate}  {row['precision']}")
    print(f"whole book, cold, one thread: {t['cold_s'] / 3600:.2f} h summed over chapters, {t['cold_once_s'] / 3600:.2f} h "
          f"with each shipped teacher trained once; with the book's teachers: {t['with_book_s'] / 3600:.2f} h "
          f"(the teachers' training: {t['book_teachers_s'] / 3600:.2f} h)")
    if args.markdown:
        args.markdown.write_text(markdown(table))


if __name__ == "__main__":
    main()
