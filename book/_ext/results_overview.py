"""Sphinx extension: writes ``book/results.md`` from ``results/*.json`` before the book is read.

One line per chapter in table-of-contents order (its first hypothesis, the source's main claim, and
our verdict), then every chapter's hypotheses with their verdicts and numbers, all read from the
results files the notebooks wrote. A missing results file fails the build, so the overview can never
show a number that no run produced.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from sphinx.errors import ExtensionError

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "book" / "results.md"
FINDINGS = ROOT / "book" / "findings.inc.md"  # the short table the landing page includes

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


def _toc_order() -> list[str]:
    import re

    return [m for m in re.findall(r"file: notebooks/(\w+)", (ROOT / "_toc.yml").read_text()) if m in IN_BOOK]


TOC_ORDER = _toc_order()  # the chapters in table-of-contents order, read once like IN_BOOK


def _load(chapter: str) -> dict:
    path = ROOT / "results" / f"{chapter}.json"
    if not path.exists():
        raise ExtensionError(f"results overview: {path.relative_to(ROOT)} is missing; "
                             f"run `make reproduce NOTEBOOKS=notebooks/{chapter}.ipynb`")
    return json.loads(path.read_text())


def _title(chapter: str) -> str:
    import nbformat

    nb = nbformat.read(str(ROOT / "notebooks" / f"{chapter}.ipynb"), as_version=4)
    for line in nb.cells[0].source.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return chapter


def _hypotheses(chapter: str, res: dict) -> list[dict]:
    hyps = res.get("hypotheses") or []
    if not hyps:
        raise ExtensionError(f"results overview: results/{chapter}.json states no hypotheses; "
                             f"re-run the chapter (make reproduce NOTEBOOKS=notebooks/{chapter}.ipynb)")
    return hyps


def _mark(h: dict) -> str:
    from kdbook.render import mark

    return mark(h)


def _verdict(h: dict) -> str:
    from kdbook.hypotheses import verdict_words

    return verdict_words(h)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def render() -> str:
    if str(ROOT) not in sys.path:  # this repository's kdbook, not another checkout's installed one
        sys.path.insert(0, str(ROOT))
    from kdbook.hypotheses import describe

    chapters = TOC_ORDER
    loaded = {c: _load(c) for c in chapters}
    for c in chapters:
        _hypotheses(c, loaded[c])
    lines = ["# Results overview", "",
             "What each chapter's source claims, and what our run found, judged by "
             "{doc}`one rule stated in advance <judging>`. Every verdict and number is read from the",
             "chapter's recorded run when the book is built. The first table gives one line per chapter",
             "(its sources' main claim, in the chapter's own words); the sections below list every",
             "hypothesis with the numbers it rests on.", "",
             findings()]
    for c in chapters:
        res, hyps = loaded[c], _hypotheses(c, loaded[c])
        seeds = len(res.get("seeds") or [])
        lines += [f"## {_title(c)}", "",
                  f"{{doc}}`The chapter <../notebooks/{c}>` · recorded run of {res['date'][:10]}, "
                  f"{seeds} seed{'s' if seeds != 1 else ''}, {res.get('precision', '')}"]
        lines += _currency(c) + [""]
        lines += ["| | hypothesis | our verdict | the numbers |", "|---|---|---|---|"]
        for h in hyps:
            lines.append(f"| {_mark(h)} | {_cell(h['text'])}<br><small>{_cell(h['source'])}</small> | "
                         f"**{_verdict(h)}** | {_cell(describe(h))} |")
        lines.append("")
    return "\n".join(lines)


def _changes(chapter: str) -> list[str]:
    from kdbook.fingerprint import changes

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


def findings() -> str:
    """The landing page's table: one line per chapter, its source's main claim and our verdict."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from kdbook.hypotheses import agrees

    lines = ["| chapter | the source's main claim | we found | as the source says |", "|---|---|---|---|"]
    for c in TOC_ORDER:
        hyps = _hypotheses(c, _load(c))
        first = hyps[0]
        agreed, judged = sum(agrees(h) is True for h in hyps), sum(agrees(h) is not None for h in hyps)
        lines.append(f"| {{doc}}`../notebooks/{c}` | {_cell(first['text'])} | {_mark(first)} **{_verdict(first)}** "
                     f"| {agreed} of {judged} |")
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:  # leave mtime alone when nothing changed
        path.write_text(text)


def write_page(app=None, config=None) -> None:
    _write(PAGE, render())
    _write(FINDINGS, findings())


def setup(app):
    # Before sphinx-external-toc reads _toc.yml (priority 500), so the page exists when it looks.
    app.connect("config-inited", write_page, priority=100)
    app.connect("doctree-read", mark_stale_chapter)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
