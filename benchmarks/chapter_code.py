"""How much of each chapter's code a reader sees is the experiment, and how much is bookkeeping.

For every notebook (``notebooks/`` and ``drafts/``) it counts the non-blank, non-comment code lines of
the cells a reader sees (all code cells but the ``remove-cell`` ones; ``hide-input`` cells count, their
code is one click away) and splits them by top-level statement: a statement is *bookkeeping* when it
declares or judges hypotheses, records results, plans the cost, shows the protocol card or fills the
metrics dict, or builds the protocol card (the names below); everything else is *science*: data, models, losses, loops, summaries,
figures. It also counts the lines of a chapter's own module (``kdhelpers/chapters/<name>.py``, code
the page does not show: none since every chapter's code moved onto its page), and the sizes of the
two packages.

Usage::

    python benchmarks/chapter_code.py [--json out.json]

The split is by names, so it is a measure, not a judgement: a statement that does both counts as
bookkeeping.
"""
from __future__ import annotations

import argparse
import ast
import json
import re
from pathlib import Path

import nbformat

from kdhelpers.io import atomic_write_text  # the book's one atomic write

ROOT = Path(__file__).resolve().parents[1]
# names whose statements are bookkeeping: hypotheses, record, plan, card, metrics
BOOKKEEPING = re.compile(r"\bkb\.(Hypotheses|beats|reproduces|record|Plan|setup|mean_std)\b|\bH\.(judge|not_measured)\b"
                         r"|\bplan\.(add|show)\b|\bcard\(|\bCard\b|\bdescribe\(|\bmetrics\b|\bkb\.protocol\b")


def _code_lines(text: str) -> set[int]:
    """Line numbers (1-based) of ``text`` that hold code: not blank, not only a comment."""
    return {i for i, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.strip().startswith("#")}


def split_cell(source: str) -> tuple[int, int]:
    """``(science, bookkeeping)`` code lines of one cell."""
    # IPython magics and shell escapes are not Python: blank them, keeping the line numbers
    text = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    lines = _code_lines(text)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return len(lines), 0
    book = set()
    src = text.splitlines()
    for node in tree.body:
        seg = "\n".join(src[node.lineno - 1:node.end_lineno])
        if BOOKKEEPING.search(seg):
            book |= set(range(node.lineno, node.end_lineno + 1))
    book &= lines
    return len(lines - book), len(book)


def chapter(path: Path) -> dict:
    nb = nbformat.read(str(path), as_version=4)
    science = bookkeeping = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or "remove-cell" in cell.metadata.get("tags", []):
            continue
        s, b = split_cell(cell.source)
        science, bookkeeping = science + s, bookkeeping + b
    module = ROOT / "kdhelpers" / "chapters" / f"{path.stem}.py"
    hidden = len(_code_lines(module.read_text())) if module.exists() else 0
    total = science + bookkeeping
    return {"chapter": path.stem, "folder": path.parent.name, "science": science, "bookkeeping": bookkeeping,
            "bookkeeping_pct": round(100 * bookkeeping / total, 1) if total else 0.0, "module_lines": hidden}


def package_lines(folder: Path, skip: str | None = None) -> int:
    if not folder.is_dir():  # kdhelpers/chapters/ is gone: every chapter's code is on its page
        return 0
    return sum(len(p.read_text().splitlines()) for p in folder.rglob("*.py")
               if skip is None or skip not in p.relative_to(folder).parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args(argv)
    rows = [chapter(p) for folder in ("notebooks", "drafts") for p in sorted((ROOT / folder).glob("*.ipynb"))]
    sizes = {"kdhelpers_core": package_lines(ROOT / "kdhelpers", skip="chapters"),
             "kdhelpers_chapters": package_lines(ROOT / "kdhelpers" / "chapters"),
             "kdbook": package_lines(ROOT / "kdbook")}
    print(f"{'chapter':24} {'science':>8} {'bookkeeping':>12} {'share':>6} {'module':>7}")
    for r in rows:
        name = r["chapter"] + (" (draft)" if r["folder"] == "drafts" else "")
        print(f"{name:24} {r['science']:8} {r['bookkeeping']:12} {r['bookkeeping_pct']:5.1f}% {r['module_lines']:7}")
    sci, book = sum(r["science"] for r in rows), sum(r["bookkeeping"] for r in rows)
    print(f"{'all':24} {sci:8} {book:12} {100 * book / (sci + book):5.1f}% {sum(r['module_lines'] for r in rows):7}")
    print("lines: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
    if a.json:
        atomic_write_text(a.json, json.dumps({"chapters": rows, "sizes": sizes}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
