"""The results overview page is generated from results/*.json and refuses to invent numbers."""
import importlib.util
import json

import pytest
from sphinx.errors import ExtensionError

from conftest import ROOT

spec = importlib.util.spec_from_file_location("results_overview", ROOT / "book" / "_ext" / "results_overview.py")
overview = importlib.util.module_from_spec(spec)
spec.loader.exec_module(overview)


def test_every_headline_shows_the_recorded_number_and_links_its_chapter():
    page = overview.render()
    for chapter, label, _, key, _ in overview.HEADLINES:
        metrics = json.loads((ROOT / "results" / f"{chapter}.json").read_text())["metrics"]
        lines = page.splitlines()
        i = next(i for i, line in enumerate(lines) if line.startswith(f"| {label} |"))
        value = metrics[key]
        assert (f"{value:.1f}" in lines[i]) or (f"{value:.0f}" in lines[i]), lines[i]
        # the nearest chapter line above the row names this chapter
        above = next(line for line in reversed(lines[:i]) if line.startswith("{doc}"))
        assert above.startswith(f"{{doc}}`../notebooks/{chapter}`"), above


def test_a_missing_results_file_or_metric_fails_the_build(tmp_path, monkeypatch):
    monkeypatch.setattr(overview, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    with pytest.raises(ExtensionError, match="mnist_hinton.json is missing"):
        overview.render()
    for chapter in {h[0] for h in overview.HEADLINES}:
        (tmp_path / "results" / f"{chapter}.json").write_text(json.dumps(
            {"metrics": {}, "profile": "cpu", "seeds": [0], "date": "2026-01-01"}))
    with pytest.raises(ExtensionError, match="has no metric"):
        overview.render()
