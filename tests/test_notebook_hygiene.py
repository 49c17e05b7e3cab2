"""Committed notebooks are clean to publish: no widget state and no paths of the machine that ran them.

Widgets: a tqdm bar saved as a widget shows as "Loading widget..." in the book and makes the page
load require.js and the widget manager from a CDN. The notebooks are executed with KD_PROGRESS=0
(`make reproduce` sets it), so a notebook that carries widgets was run some other way: re-run it.
Paths: /home/…, /work/…, C:\\… in an output (a warning, a traceback, a printed cache path) tell
the reader nothing and leak the machine's layout; print paths relative to the repository.

The checking functions are tested on small synthetic notebooks at the end of this file.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from conftest import ROOT

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# An absolute path on a Unix or macOS machine, or a Windows drive path. A URL's or a relative
# path's segment (preceded by a word character, ".", "-" or "~") is not one.
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:root|home|tmp|work|Users)/|(?<![\w])[A-Z]:\\")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # the colours of a traceback
# Output data that is text; base64 images are left alone ("/home/" can occur in base64 by chance).
TEXT_MIME = re.compile(r"^(text/|application/(json|javascript|.*\+json)$|image/svg\+xml$)")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def widget_problems(nb) -> list[str]:
    """Where ``nb`` carries widget state: its metadata's ``widgets`` key, and every output with
    the widget view mime type (by cell index)."""
    problems = []
    if "widgets" in nb.get("metadata", {}):
        problems.append("notebook metadata has a 'widgets' key (saved widget state)")
    for i, cell in enumerate(nb.get("cells", [])):
        for j, out in enumerate(cell.get("outputs", []) or []):
            if WIDGET_MIME in (out.get("data") or {}):
                problems.append(f"cell {i}, output {j}: a widget view ({WIDGET_MIME})")
    return problems


def _output_texts(out) -> list[tuple[str, str]]:
    """(kind, text) for every textual part of one output."""
    kind = out.get("output_type", "?")
    if kind == "stream":
        return [(f"stream {out.get('name', '')}".strip(), _joined(out.get("text", "")))]
    if kind == "error":
        return [("error", f"{out.get('ename', '')}: {out.get('evalue', '')}"),
                ("traceback", "\n".join(out.get("traceback") or []))]
    return [(mime, value if isinstance(value, str) else json.dumps(value))
            for mime, value in (out.get("data") or {}).items() if TEXT_MIME.match(mime)]


def _joined(value) -> str:
    """A multiline string field as one string (nbformat.read already joins them; a raw dict may not)."""
    return "".join(value) if isinstance(value, list) else str(value)


def path_problems(nb) -> list[str]:
    """Every output line of ``nb`` that names an absolute machine path, as
    ``cell i, output j (kind): line``."""
    problems = []
    for i, cell in enumerate(nb.get("cells", [])):
        for j, out in enumerate(cell.get("outputs", []) or []):
            for kind, text in _output_texts(out):
                for line in ANSI.sub("", text).splitlines():
                    if MACHINE_PATH.search(line):
                        problems.append(f"cell {i}, output {j} ({kind}): {line.strip()[:200]}")
    return problems


def _report(path: Path, problems: list[str], fix: str) -> str:
    shown = "\n  ".join(problems[:20]) + (f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else "")
    return f"{path.relative_to(ROOT)}: {fix}\n  {shown}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_saves_no_widgets(path):
    problems = widget_problems(nbformat.read(path, as_version=4))
    assert not problems, _report(path, problems, "widget state saved; re-run it with KD_PROGRESS=0 "
                                                 "(`make reproduce NOTEBOOKS=...` does)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_outputs_name_no_machine_path(path):
    problems = path_problems(nbformat.read(path, as_version=4))
    assert not problems, _report(path, problems, "outputs name absolute paths of the machine that ran it")


def test_there_are_notebooks_to_check():
    assert len(NOTEBOOKS) >= 5, NOTEBOOKS


# --- the checkers on synthetic notebooks --------------------------------------------------------

def _notebook(*outputs, metadata=None):
    nb = new_notebook(cells=[new_markdown_cell("# t"), new_code_cell("x = 1", outputs=list(outputs))])
    nb.metadata.update(metadata or {})
    nbformat.validate(nb)
    return nb


def _clean_notebook():
    return _notebook(
        new_output("stream", name="stdout", text="epoch 1/3  loss 0.41\nsaved results/quickstart.json\n"),
        new_output("execute_result", execution_count=1,
                   data={"text/plain": "'see https://github.com/work/home/x and data/tmp/a.csv'",
                         "text/html": "<a href='https://example.org/Users/x'>~/work/notes</a>",
                         "image/png": "iVBORw0KGgo/home/AAAA/tmp/Users/"}),  # base64 is not read
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def test_clean_notebook_passes_both_checks():
    nb = _clean_notebook()
    assert widget_problems(nb) == []
    assert path_problems(nb) == []


def test_widget_metadata_and_widget_outputs_are_reported():
    view = {WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": "abc"},
            "text/plain": "  0%|          | 0/3"}
    nb = _notebook(new_output("display_data", data=view),
                   metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}}})
    problems = widget_problems(nb)
    assert len(problems) == 2, problems
    assert "'widgets' key" in problems[0]
    assert problems[1].startswith("cell 1, output 0") and WIDGET_MIME in problems[1]
    # the output alone, without the metadata key, is still reported
    del nb.metadata["widgets"]
    assert widget_problems(nb) == [problems[1]]


@pytest.mark.parametrize("kind, output, line", [
    ("stream", new_output("stream", name="stderr",
                          text="ok\n/work/main/.venv/lib/python3.11/site-packages/torch/x.py:5: UserWarning: w\n"),
     "/work/main/.venv/lib/python3.11/site-packages/torch/x.py:5: UserWarning: w"),
    ("text/plain", new_output("execute_result", execution_count=1,
                              data={"text/plain": "PosixPath('/home/alice/kd/cache/teacher.pt')"}),
     "PosixPath('/home/alice/kd/cache/teacher.pt')"),
    ("text/html", new_output("display_data", data={"text/html": "<p>cache in /tmp/kdcache/x</p>"}),
     "<p>cache in /tmp/kdcache/x</p>"),
    ("traceback", new_output("error", ename="FileNotFoundError", evalue="missing",
                             traceback=["\x1b[0;31mFileNotFoundError\x1b[0m",
                                        "File \x1b[0;32m/root/kd/kdhelpers/data.py:12\x1b[0m, in load"]),
     "File /root/kd/kdhelpers/data.py:12, in load"),
    ("error", new_output("error", ename="OSError", evalue="no file 'C:\\Users\\bob\\data'", traceback=[]),
     "OSError: no file 'C:\\Users\\bob\\data'"),
    ("stream", new_output("stream", name="stdout", text="wrote file:///Users/carol/kd/results.json\n"),
     "wrote file:///Users/carol/kd/results.json"),
])
def test_machine_paths_are_reported_with_cell_and_line(kind, output, line):
    problems = path_problems(_notebook(output))
    assert problems == [f"cell 1, output 0 ({kind if kind != 'stream' else 'stream ' + output.name}): {line}"], problems
    report = _report(ROOT / "notebooks" / "x.ipynb", problems, "outputs name absolute paths")
    assert report.startswith("notebooks/x.ipynb:") and "cell 1" in report and line in report
