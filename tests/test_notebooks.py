"""Every chapter runs end to end (smoke profile) and the book builds from committed outputs."""
import html
import json
import os
import re
import subprocess
import sys
import time

import nbformat
import pytest

from kdbook.cache import atomic_write_text
from kdbook.regression import compare_smoke, run_notebook
from kdbook.results import glue_values

from conftest import ROOT
from metric_keys import METRIC_KEYS

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SMOKE_REFERENCE = json.loads((ROOT / "tests" / "smoke_reference.json").read_text())
GLUE = re.compile(r"\{glue:text\}`([^`:]+)(?::([^`]*))?`")
PROVENANCE = {"notebook", "profile", "seeds", "device", "versions", "git_commit", "wall_time_s", "metrics"}
# The metric keys each chapter's issue asks for: tests/metric_keys.py.
EXPECTED_KEYS = {p.stem: METRIC_KEYS[p.stem] for p in NOTEBOOKS}


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_parameters_cell(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    assert 'profile = "auto"' in params[0].source and "seed =" in params[0].source
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert not injected, "papermill's injected profile is committed: it would override `auto` in Colab"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_cpu_outputs_and_results(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "commit the notebook executed"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"], "error output committed"
    results = json.loads((ROOT / "results" / f"{nb_path.stem}.json").read_text())
    assert results["profile"] in ("cpu", "full"), "committed outputs must come from a real run"
    assert PROVENANCE <= results.keys()
    assert EXPECTED_KEYS.get(nb_path.stem, set()) <= results["metrics"].keys()


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_profile_and_matches_the_smoke_reference(nb_path, tmp_path):
    start = time.perf_counter()
    results = run_notebook(nb_path, tmp_path, profile="smoke", results_dir=tmp_path / "results")
    print(f"{nb_path.stem}: smoke run {time.perf_counter() - start:.1f} s")
    assert results["profile"] == "smoke" and PROVENANCE <= results.keys()
    assert results["precision"] == "float32", "smoke runs compute in float32 on every machine"
    assert results["metrics"], "the notebook recorded no metrics"
    assert EXPECTED_KEYS.get(nb_path.stem, set()) <= results["metrics"].keys()
    off = compare_smoke(SMOKE_REFERENCE, nb_path.stem, results["metrics"])
    assert not off, "smoke run off its reference (`make smoke-reference` rewrites it on purpose):\n" + "\n".join(off)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_full_profile_dry_run(nb_path, tmp_path, monkeypatch):
    """The full profile's code path (full-size models, data, budgets, grids, figures), 2 batches per
    loop: the only place it runs on a machine without a GPU."""
    monkeypatch.setenv("KD_AMP", "1")  # exercise the mixed-precision path where the CPU has one
    start = time.perf_counter()
    results = run_notebook(nb_path, tmp_path, profile="full", results_dir=tmp_path / "results",
                           extra_env={"KD_DRY_RUN": "1"})
    print(f"{nb_path.stem}: full-profile dry run {time.perf_counter() - start:.1f} s")
    assert results["profile"] == "full" and results["dry_run"] is True
    assert EXPECTED_KEYS.get(nb_path.stem, set()) <= results["metrics"].keys()
    assert results["hypotheses"], "the chapter states no hypotheses"
    assert all(h["verdict"] for h in results["hypotheses"]), "a hypothesis was never judged"
    # where `make dry-run` keeps them: the full plan's FLOPs, for kdbook/plans.json (the "auto" profile)
    kept = ROOT / "_build" / "dry-run" / "results" / f"{nb_path.stem}.json"
    atomic_write_text(kept, json.dumps(results))  # creates the folder; a reader never sees half a file


def _page_text(path):
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", path.read_text(), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


def test_book_builds_without_warnings_and_every_chapter_shows_its_recorded_numbers(tmp_path):
    jb = os.path.join(os.path.dirname(sys.executable), "jupyter-book")
    out = subprocess.run([jb, "build", str(ROOT), "--path-output", str(tmp_path), "-W", "--keep-going"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    html_dir = tmp_path / "_build" / "html"
    assert (html_dir / "index.html").exists() or (html_dir / "book" / "intro.html").exists()
    for nb_path in NOTEBOOKS:
        text = _page_text(html_dir / "notebooks" / f"{nb_path.stem}.html")
        values = glue_values(json.loads((ROOT / "results" / f"{nb_path.stem}.json").read_text()))
        glued = {m for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == "markdown"
                 for m in GLUE.findall(c.source)}
        assert glued, f"{nb_path.stem}: the prose glues no recorded number"
        for key, fmt in glued:
            expected = format(values[key], fmt or "")
            assert expected in text, f"{nb_path.stem}: glued {key} = {expected!r} is not on the built page"
