"""Sphinx extension: writes ``book/results.md`` from ``results/*.json`` before the book is read.

The paper's (or earlier reports') numbers are typed here once, with their source; ours are read
from the results files the notebooks wrote. A missing results file or metric fails the build, so
the overview can never show a number that no run produced.
"""
from __future__ import annotations

import json
from pathlib import Path

from sphinx.errors import ExtensionError

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "book" / "results.md"

# (chapter, experiment, reference number and where it comes from, our metric key, unit)
HEADLINES = [
    ("mnist_hinton", "Teacher 1200-1200 (dropout, jitter), test errors", "67 (Hinton et al. 2015)",
     "teacher_test_errors", "errors"),
    ("mnist_hinton", "Student 800-800, hard labels", "146 (Hinton et al. 2015)",
     "student_hard_test_errors", "errors"),
    ("mnist_hinton", "Student 800-800, distilled at T = 20", "74 (Hinton et al. 2015)",
     "student_distilled_test_errors", "errors"),
    ("mnist_omit3", "No 3s in the transfer set: errors on the 1010 test 3s", "133 (Hinton et al. 2015)",
     "omit3_distilled_errors_on_3s", "errors"),
    ("mnist_omit3", "… after raising the class-3 bias (chosen on validation)", "14 (Hinton et al. 2015, bias chosen on test)",
     "omit3_bias_tuned_errors_on_3s", "errors"),
    ("mnist_only78", "Only 7s and 8s in the transfer set: test error rate", "47.3 % (Hinton et al. 2015)",
     "only78_distilled_error_rate", "%"),
    ("mnist_only78", "… after lowering the 7/8 biases (chosen on validation)", "13.2 % (Hinton et al. 2015, bias chosen on test)",
     "only78_bias_tuned_error_rate", "%"),
]


def _load(chapter: str) -> dict:
    path = ROOT / "results" / f"{chapter}.json"
    if not path.exists():
        raise ExtensionError(f"results overview: {path.relative_to(ROOT)} is missing; "
                             f"run `make reproduce NOTEBOOKS=notebooks/{chapter}.ipynb`")
    return json.loads(path.read_text())


def _ours(metrics: dict, key: str, unit: str, chapter: str) -> str:
    if key not in metrics:
        raise ExtensionError(f"results overview: results/{chapter}.json has no metric {key!r}")
    value, std = metrics[key], metrics.get(f"{key}_std")
    fmt = "{:.0f}" if unit == "errors" and float(value).is_integer() else "{:.1f}"
    text = fmt.format(value) if std is None else f"{value:.1f} ± {std:.1f}"
    return text + (" %" if unit == "%" else "")


def render() -> str:
    lines = ["# Results overview", "",
             "Every number in the *ours* column is read from `results/<chapter>.json` when the book is",
             "built: those files are written by the notebooks themselves (see {doc}`how_to_run`). The",
             "reference column is the paper's or the earlier report's number, typed once with its source.",
             "Profiles: `cpu` is the reduced laptop budget, `full` the paper's budget on a GPU.", "",
             "| experiment | reference | ours | profile | seeds | date | chapter |",
             "|---|---|---|---|---|---|---|"]
    for chapter, label, reference, key, unit in HEADLINES:
        res = _load(chapter)
        ours = _ours(res["metrics"], key, unit, chapter)
        seeds = len(res.get("seeds") or [])
        lines.append(f"| {label} | {reference} | **{ours}** | `{res['profile']}` | {seeds} | "
                     f"{res['date'][:10]} | {{doc}}`../notebooks/{chapter}` |")
    return "\n".join(lines) + "\n"


def write_page(app=None, config=None) -> None:
    text = render()
    if not PAGE.exists() or PAGE.read_text() != text:  # leave mtime alone when nothing changed
        PAGE.write_text(text)


def setup(app):
    # Before sphinx-external-toc reads _toc.yml (priority 500), so the page exists when it looks.
    app.connect("config-inited", write_page, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
