"""Sphinx extension: writes ``book/results.md`` from ``results/*.json`` before the book is read.

The rows are the chapters' own: each chapter module ``kdhelpers.chapters.<chapter>`` declares its
``HEADLINES`` (experiment, reference, metric key, unit), the reference built from the published
numbers it types once, in its ``REFERENCES``. Ours are read from the results files the notebooks
wrote. A missing results file or metric fails the build, so the overview can never show a number
that no run produced.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from sphinx.errors import ExtensionError

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "book" / "results.md"

def _toc_chapters() -> set[str]:
    """The notebooks the table of contents builds; a chapter held back in ``drafts/`` has no row."""
    import yaml

    toc, found = yaml.safe_load((ROOT / "_toc.yml").read_text()), set()

    def walk(node):
        if isinstance(node, dict):
            if str(node.get("file", "")).startswith("notebooks/"):
                found.add(node["file"].removeprefix("notebooks/"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc)
    return found


IN_BOOK = _toc_chapters()  # read once, from this repository (tests move ROOT to a scratch tree)

# The order of the chapters' tables on the page (the order they were first written in, not the table
# of contents'); a chapter of the book missing here fails tests/test_overview.py.
ORDER = ("mnist_hinton", "quickstart", "mnist_omit3", "mnist_only78", "temperature", "fake_data_temperature",
         "cifar_resnet_vgg", "cifar_feature_kd", "loss_variants", "early_stopping_kd", "self_reverse_online", "byot",
         "sources_harvard", "sources_unsw_toronto", "keras_distiller")


def _chapter_headlines(chapter: str) -> list[tuple]:
    """``(chapter, experiment, reference, metric key, unit)`` for each row ``kdhelpers.chapters.<chapter>``
    declares in its ``HEADLINES``."""
    if str(ROOT) not in sys.path:  # this repository's kdhelpers, not another checkout's installed one
        sys.path.insert(0, str(ROOT))
    return [(chapter, *row) for row in importlib.import_module(f"kdhelpers.chapters.{chapter}").HEADLINES]


# (chapter, experiment, reference number and where it comes from, our metric key, unit)
HEADLINES = [row for chapter in ORDER for row in _chapter_headlines(chapter)]


def headlines() -> list[tuple]:
    """The rows of :data:`HEADLINES` whose chapter is in the book."""
    return [h for h in HEADLINES if h[0] in IN_BOOK]


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
    if std == 0:  # one run reused across seeds (e.g. a single teacher): no spread to show
        std = None
    if unit == "ratio":  # temperatures, ratios and relative errors: a few significant digits
        return f"{value:.3g}" + ("" if std is None else f" ± {std:.2g}")
    fmt = "{:.0f}" if unit == "errors" and float(value).is_integer() else "{:.1f}"
    if unit == "pts":  # a difference of accuracies: keep its sign and one more digit
        fmt = "{:+.2f}"
    text = fmt.format(value) if std is None else f"{fmt.format(value)} ± {std:.2f}" if unit == "pts" \
        else f"{value:.1f} ± {std:.1f}"
    return text + (" %" if unit == "%" else "")


def render() -> str:
    lines = ["# Results overview", "",
             "Every number in the *ours* column is read from `results/<chapter>.json` when the book is",
             "built: those files are written by the notebooks themselves (see {doc}`how_to_run`). The",
             "reference column is the paper's or the earlier report's number, typed once with its source.",
             "Profiles: `cpu` is the reduced laptop budget, `full` the paper's budget on a GPU; a ± is the",
             "standard deviation over seeds.", ""]
    chapters = list(dict.fromkeys(h[0] for h in headlines()))  # in HEADLINES order
    for chapter in chapters:
        res = _load(chapter)
        seeds = len(res.get("seeds") or [])
        # One short table per chapter keeps the columns readable; the line above it says where
        # the numbers come from (chapter, profile, seeds, date of the run).
        lines += [f"{{doc}}`../notebooks/{chapter}` · profile `{res['profile']}` · "
                  f"{seeds} seed{'s' if seeds != 1 else ''} · run {res['date'][:10]}"]
        # in the same paragraph as the chapter link, so the link stays right above the table
        lines += _currency(chapter) + [""]
        lines += ["| experiment | reference | ours |", "|---|---|---|"]
        for ch, label, reference, key, unit in headlines():
            if ch == chapter:
                lines.append(f"| {label} | {reference} | **{_ours(res['metrics'], key, unit, chapter)}** |")
        lines.append("")
        lines += _claims(chapter, res)
    return "\n".join(lines)


def _changes(chapter: str) -> list[str]:
    from kdhelpers.infra.fingerprint import changes

    return changes(ROOT, chapter)


def _currency(chapter: str) -> list[str]:
    """A line saying that the chapter's recorded run is not current, and what changed since."""
    what = _changes(chapter)
    if not what:
        return []
    if what[0].startswith("no fingerprint"):
        return ["· *not fingerprinted: this run predates the record of what produced a run, so whether "
                "the code has changed since is not known.*"]
    return [f"· **stale:** changed since this run: {', '.join(what)}. "
            f"`make reproduce NOTEBOOKS=notebooks/{chapter}.ipynb` brings it up to date."]


def mark_stale_chapter(app, doctree) -> None:
    """A warning at the top of a chapter whose recorded run is stale, saying what changed."""
    from docutils import nodes

    doc = app.env.docname
    if not doc.startswith("notebooks/") or doc.removeprefix("notebooks/") not in IN_BOOK:
        return
    chapter = doc.removeprefix("notebooks/")
    if not (ROOT / "results" / f"{chapter}.json").exists():
        return
    what = _changes(chapter)
    if not what or what[0].startswith("no fingerprint"):
        return
    note = nodes.warning()
    note += nodes.paragraph(text=f"The numbers of this chapter come from a run whose code has changed since: "
                                 f"{', '.join(what)}. Re-run it (make reproduce NOTEBOOKS=notebooks/"
                                 f"{chapter}.ipynb) to bring it up to date.")
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        doctree.insert(0, note)
    else:  # below the title
        section.insert(1, note)


def _claims(chapter: str, res: dict) -> list[str]:
    """The chapter's declared claims with their outcome in the recorded run: ✓ holds, ✗ does not
    hold (a documented negative result says so), · not checked in this profile."""
    claims = res.get("claims") or []
    if not claims:
        raise ExtensionError(f"results overview: results/{chapter}.json declares no claims; "
                             f"re-run the chapter with the current kdhelpers")
    lines = [f"Claims of {{doc}}`../notebooks/{chapter}`, checked on the numbers of this run:", "",
             "| | claim | measured against | numbers |", "|---|---|---|---|"]
    for c in claims:
        mark = {True: "✓", False: "✗", None: "·"}[c["holds"]]
        note = " *(documented negative result)*" if c.get("negative") else ""
        detail = (c["detail"] or "not checked in this profile").replace("|", "\\|")
        lines.append(f"| {mark} | {c['text']}{note} | {c['against']} | {detail} |")
    return lines + [""]


def write_page(app=None, config=None) -> None:
    text = render()
    if not PAGE.exists() or PAGE.read_text() != text:  # leave mtime alone when nothing changed
        PAGE.write_text(text)


def setup(app):
    # Before sphinx-external-toc reads _toc.yml (priority 500), so the page exists when it looks.
    app.connect("config-inited", write_page, priority=100)
    app.connect("doctree-read", mark_stale_chapter)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
