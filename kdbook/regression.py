"""Regression checks for papermill runs: what changed, and whether every verdict is the recorded one.

Command line (the Makefile and the GPU workflow call these)::

    python -m kdbook.regression report --before DIR --after DIR [--out DIR] [NOTEBOOK ...]
    python -m kdbook.regression merge [--out DIR] REPORT.json ...
    python -m kdbook.regression smoke-reference [--out FILE] [NOTEBOOK ...]

``report`` compares the results files of a run (``--after``) with the ones it replaced
(``--before``): every metric old → new, the change in units of its recorded seed std where there
is one, and every hypothesis's verdict, old → new (re-judged from the new file's own samples). It
prints the report, writes it as ``report.md`` and ``report.json`` under ``--out`` and exits 1 when
a verdict differs from the earlier run's of the same profile, or from its own samples. A verdict
is a finding whatever it is: only a change is flagged. ``merge`` joins the JSON reports of several jobs (one per notebook on GPU runners) and fails
the same way. ``smoke-reference`` re-executes notebooks in the smoke profile (float32, fresh model
cache) and writes their metrics as the committed smoke reference the tests compare with.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import tempfile
from pathlib import Path

try:
    from .hypotheses import rejudge
except ImportError:  # run as a script, `python kdbook/regression.py merge …`: no torch needed
    from hypotheses import rejudge

# Metrics that measure the machine, not the method: never compared with a reference.
TIMING = re.compile(r"latency|seconds|wall_time|_ms_|_ms$|time_s|throughput")


# ---------------------------------------------------------------------- reports
def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def chapter_report(name: str, before: dict | None, after: dict) -> dict:
    """Metrics old → new and verdicts old → new of one chapter; ``failed`` lists the verdicts that
    changed from the earlier run's, or that their own samples do not give. Like is compared with
    like: a ``before`` of another profile (a cpu run against a full one) is no earlier run."""
    if before is not None and before.get("profile") != after.get("profile"):
        before = None
    new, old = after["metrics"], (before or {}).get("metrics", {})
    rows = []
    for key in sorted(set(new) | set(old)):
        if key.endswith("_std") and key[:-4] in new:
            continue  # shown as the unit of its metric's change
        a, b = old.get(key), new.get(key)
        std = new.get(f"{key}_std", old.get(f"{key}_std"))
        change = None if a is None or b is None else b - a
        in_std = None if change is None or not std else change / std
        rows.append({"metric": key, "old": a, "new": b, "change": change, "change_in_std": in_std})
    old_verdicts = {h["id"]: h["verdict"] for h in (before or {}).get("hypotheses", [])}
    hyps, failed = [], []
    for stored in after.get("hypotheses", []):
        again, old = rejudge(stored), old_verdicts.get(stored["id"])
        ok = again == stored["verdict"] and (old is None or old == stored["verdict"])
        hyps.append({"id": stored["id"], "text": stored["text"], "old": old, "new": stored["verdict"], "ok": ok})
        if again != stored["verdict"]:
            failed.append(f"{name}: {stored['id']}: stored verdict {stored['verdict']!r}, its samples give {again!r}")
        elif not ok:
            failed.append(f"{name}: {stored['id']}: verdict changed, {old!r} → {stored['verdict']!r}")
    # results recorded before hypotheses replaced claims: their claims, for the record of what changed
    old_claims = [{"id": c["id"], "text": c["text"], "verdict": c["verdict"]} for c in (before or {}).get("claims", [])]
    return {"chapter": name, "profile": after["profile"], "dry_run": after.get("dry_run", False),
            "before_date": (before or {}).get("date"), "after_date": after.get("date"),
            "cost": after.get("cost"), "metrics": rows, "hypotheses": hyps, "old_claims": old_claims,
            "failed": failed}


def _num(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:.4g}"
    return f"{x:,.0f}" if abs(x) >= 1e4 else f"{x:g}"


def render(reports: list[dict]) -> str:
    """Markdown: a summary line per chapter, then its verdicts and metrics tables."""
    lines = ["# Regression report", ""]
    n_failed = sum(len(r["failed"]) for r in reports)
    lines += [f"{len(reports)} chapter(s); {n_failed} verdict(s) changed or inconsistent.", ""]
    for r in reports:
        cost = r.get("cost") or {}
        tag = " (DRY RUN)" if r["dry_run"] else ""
        lines += [f"## {r['chapter']} · profile `{r['profile']}`{tag}", "",
                  f"previous run: {r['before_date'] or 'none of profile ' + repr(r['profile'])}; "
                  f"this run: {r['after_date']}; "
                  f"wall {_num(cost.get('wall_time_s'))} s, cold {_num(cost.get('cold_time_s'))} s, "
                  f"estimated {_num(cost.get('estimate_s'))} s", ""]
        if r["hypotheses"]:
            lines += ["| | hypothesis | earlier verdict | this run's |", "|---|---|---|---|"]
            for h in r["hypotheses"]:
                mark = "✓" if h["ok"] else "✗ **CHANGED**"
                lines.append(f"| {mark} | {h['id']}: {h['text']} | {h['old'] or '—'} | {h['new']} |")
            lines.append("")
        if r.get("old_claims"):
            lines += ["Claims of the earlier run (before hypotheses):", "", "| claim | verdict |", "|---|---|"]
            lines += [f"| {c['id']}: {c['text']} | {c['verdict']} |" for c in r["old_claims"]]
            lines.append("")
        lines += ["| metric | old | new | change | change / std |", "|---|---|---|---|---|"]
        for m in r["metrics"]:
            in_std = "" if m["change_in_std"] is None else format(m["change_in_std"], "+.2f")
            lines.append(f"| {m['metric']} | {_num(m['old'])} | {_num(m['new'])} | {_num(m['change'])} | {in_std} |")
        lines.append("")
    return "\n".join(lines)


def _summary(reports) -> str:
    out = []
    for r in reports:
        marks = "".join("✓" if h["ok"] else "✗" for h in r["hypotheses"])
        moved = [m for m in r["metrics"] if m["change"] not in (None, 0) and not TIMING.search(m["metric"])]
        out.append(f"{r['chapter']}: verdicts {marks or '(none)'}; {len(moved)} of {len(r['metrics'])} metrics changed")
    return "\n".join(out)


def write(reports: list[dict], out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    text = render(reports)
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(json.dumps(reports, indent=1))
    print(text)
    print(_summary(reports))
    failed = [f for r in reports for f in r["failed"]]
    for f in failed:
        print("VERDICT:", f, file=sys.stderr)
    print(f"report: {out / 'report.md'}")
    return 1 if failed else 0


def report(before: Path, after: Path, names: list[str], out: Path) -> int:
    names = names or sorted(p.stem for p in after.glob("*.json"))
    reports = []
    for name in names:
        payload = _load(after / f"{name}.json")
        if payload is None:
            raise SystemExit(f"{after / name}.json is missing: did the notebook run?")
        reports.append(chapter_report(name, _load(before / f"{name}.json"), payload))
    return write(reports, out)


def merge(paths: list[Path], out: Path) -> int:
    reports = [r for p in paths for r in json.loads(Path(p).read_text())]
    if not reports:
        raise SystemExit("no reports to merge")
    return write(reports, out)


# ---------------------------------------------------------------------- smoke reference
def machine() -> dict:
    """What decides float32 results bit for bit: torch's version, its CPU kernels and the CPU."""
    import torch  # here: the merge command runs as a script on runners without torch

    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu": model}


# On the machine (and torch) that recorded the reference, float32 smoke runs repeat bit for bit,
# so any change is a real one. On another CPU, kernels round differently and a few hundred training
# steps of a small net drift apart. Measured by re-running every smoke notebook with torch's and
# oneDNN's kernels held to AVX2 (ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2) against the
# AVX-512 reference: accuracies moved by at most 0.7 points, and only argmax choices over nearly
# equal validation scores (a T_opt, a best epoch) jumped. These bounds allow about 4x that drift
# and leave the discrete choices free; counts of parameters and FLOPs stay exact.
SAME_MACHINE = {"rel": 1e-6, "abs": 1e-9}
# Rounding level: the difference between two implementations of one formula (the Keras example's
# loss against the book's in float32; a gradient formula against autograd in float64). Its value IS
# the rounding of the machine's kernels, so it is no fingerprint of the run: the recording machine
# gave 1.5e-07 with its default threads and another value with one thread, an Intel CPU gives 0.
# On every machine it is held to the bound that says what it measures, agreement to float32
# rounding: |value| ≤ 1e-5, about 100 float32 ulps at 1.0; a wrong formula is off by more than 1e-3.
ROUNDING_LEVEL = re.compile(r"_rel_diff$|_abs_err$")
ROUNDING_BOUND = 1e-5
OTHER_MACHINE = [  # (pattern, absolute, relative): first match wins
    # counts are exact; a measurement "over epochs" (student_range_over_epochs) is not a count
    (re.compile(r"^(params|gflops|flops|n_|test_|num_)|(?<!_over)_(epochs|count|width|seeds)$|^(n_seeds|grid_seeds)$"),
     0.0, 1e-9),
    (re.compile(r"T_opt|best_T|best_beta|bias_shift|best_teacher_epoch|best_variant"), math.inf, 0.0),
    (re.compile(r"errors"), 25.0, 0.1),
    (re.compile(r"acc|accuracy|error_rate|gain|minus|range|spread"), 3.0, 0.0),
]
OTHER_DEFAULT = (0.0, 0.1)


def tolerance(key: str, same_machine: bool) -> tuple[float, float]:
    """(absolute, relative) change allowed in smoke metric ``key`` (rounding-level metrics: see
    :func:`compare_smoke`)."""
    if same_machine:
        return SAME_MACHINE["abs"], SAME_MACHINE["rel"]
    for pattern, a, r in OTHER_MACHINE:
        if pattern.search(key):
            return a, r
    return OTHER_DEFAULT


def compare_smoke(reference: dict, name: str, metrics: dict) -> list[str]:
    """Messages for every smoke metric of ``name`` off the committed reference (or missing from
    it, or from the run); empty when the run matches. Exact on the machine that recorded the
    reference, within :data:`OTHER_MACHINE` elsewhere; a rounding-level metric
    (:data:`ROUNDING_LEVEL`) is held to :data:`ROUNDING_BOUND` on every machine, since its value is
    the kernels' rounding, which changes with the thread count too."""
    ref = reference["notebooks"].get(name)
    if ref is None:
        return [f"{name}: no smoke reference; run `make smoke-reference` and commit it"]
    # each notebook's entry was recorded on its own machine (``machines``; older files: one ``machine``)
    same = reference.get("machines", {}).get(name, reference.get("machine")) == machine()
    out = []
    for key in sorted(set(ref) | set(metrics)):
        if TIMING.search(key):
            continue
        if key not in metrics:
            out.append(f"{name}: metric {key!r} is in the smoke reference but the run did not record it")
            continue
        if key not in ref:
            out.append(f"{name}: metric {key!r} is new; run `make smoke-reference` and commit it")
            continue
        old, new = ref[key], metrics[key]
        if ROUNDING_LEVEL.search(key):
            if abs(new) > ROUNDING_BOUND:
                out.append(f"{name}: {key} = {new:.3g} measures rounding and must stay ≤ {ROUNDING_BOUND:g} "
                           f"(smoke reference {old:.3g}): the two implementations no longer agree")
            continue
        a, r = tolerance(key, same)
        if abs(new - old) > max(a, r * abs(old)):
            out.append(f"{name}: {key} = {new:.6g}, smoke reference {old:.6g} "
                       f"(allowed ±{max(a, r * abs(old)):.3g}, {'same' if same else 'another'} machine)")
    return out


def run_notebook(nb: Path, out_dir: Path, *, profile: str, results_dir: Path, extra_env: dict | None = None,
                 parameters: dict | None = None) -> dict:
    """Execute ``nb`` with papermill in ``profile`` (results to ``results_dir``); return its results."""
    import papermill as pm  # optional: the book's tooling, not a kdhelpers dependency

    saved = {k: os.environ.get(k) for k in ("KD_RESULTS_DIR", *(extra_env or {}))}
    os.environ["KD_RESULTS_DIR"] = str(results_dir)
    os.environ.update(extra_env or {})
    try:
        pm.execute_notebook(str(nb), str(out_dir / nb.name), parameters={"profile": profile, **(parameters or {})},
                            cwd=str(nb.parent), progress_bar=False, kernel_name="python3")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return json.loads((results_dir / f"{nb.stem}.json").read_text())


def smoke_reference(notebooks: list[Path], out: Path) -> None:
    """Re-execute ``notebooks`` in the smoke profile with a fresh model cache; write their metrics."""
    old = json.loads(out.read_text()) if out.exists() else {"notebooks": {}}
    old_machines = {nb: old.get("machines", {}).get(nb, old.get("machine")) for nb in old.get("notebooks", {})}
    ref = {"note": "Metrics of every notebook's smoke run (float32, fresh model cache), written by "
                   "`make smoke-reference`. tests/test_notebooks.py compares each smoke run with them: "
                   "exactly on the machine that recorded the notebook's entry (machines), within "
                   "kdbook.regression.OTHER_MACHINE elsewhere.",
           "machines": old_machines, "notebooks": dict(old.get("notebooks", {}))}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {"KD_CACHE_DIR": str(tmp / "cache"), "KD_PROGRESS": "0", "KD_DRY_RUN": "0"}
        for nb in notebooks:
            print(f"== {nb.stem} (smoke)", flush=True)
            payload = run_notebook(nb, tmp, profile="smoke", results_dir=tmp / "results", extra_env=env)
            ref["notebooks"][nb.stem] = {k: v for k, v in payload["metrics"].items() if not TIMING.search(k)}
            ref["machines"][nb.stem] = machine()
    ref["notebooks"] = dict(sorted(ref["notebooks"].items()))
    ref["machines"] = {nb: ref["machines"][nb] for nb in ref["notebooks"]}
    out.write_text(json.dumps(ref, indent=1, sort_keys=False) + "\n")
    print(f"wrote {out} ({len(ref['notebooks'])} notebooks)")


# ---------------------------------------------------------------------- command line
def _names(paths) -> list[str]:
    return [Path(p).stem for p in paths]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m kdbook.regression", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report", help="old → new metrics and verdicts of a run")
    r.add_argument("--before", type=Path, required=True)
    r.add_argument("--after", type=Path, default=Path("results"))
    r.add_argument("--out", type=Path, default=Path("_build/regression"))
    r.add_argument("notebooks", nargs="*", help="notebooks (or names) to report; default: every results file")
    m = sub.add_parser("merge", help="join JSON reports of several jobs")
    m.add_argument("--out", type=Path, default=Path("_build/regression"))
    m.add_argument("reports", nargs="+", type=Path)
    s = sub.add_parser("smoke-reference", help="rewrite the committed smoke reference")
    s.add_argument("--out", type=Path, default=Path("tests/smoke_reference.json"))
    s.add_argument("notebooks", nargs="*", type=Path)
    a = p.parse_args(argv)
    if a.cmd == "report":
        return report(a.before, a.after, _names(a.notebooks), a.out)
    if a.cmd == "merge":
        return merge(a.reports, a.out)
    smoke_reference(a.notebooks or sorted(Path("notebooks").glob("*.ipynb")), a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
