"""The results overview page is generated from results/*.json and refuses to invent numbers."""
import json

import pytest
from sphinx.errors import ExtensionError

from conftest import ROOT, load_script

overview = load_script("book/_ext/results_overview.py")


def _ours_cell(line):
    return line.rstrip().rstrip("|").rsplit("|", 1)[1]


def test_every_headline_shows_the_recorded_number_and_links_its_chapter():
    page = overview.render()
    lines = page.splitlines()
    for chapter, label, _, key, _ in overview.headlines():
        metrics = json.loads((ROOT / "results" / f"{chapter}.json").read_text())["metrics"]
        i = next(i for i, line in enumerate(lines) if line.startswith(f"| {label} |"))
        value, ours = metrics[key], _ours_cell(lines[i])
        # the number is in the "ours" cell itself, bold, not merely somewhere in the row
        assert ours.strip().startswith("**") and any(
            f"{value:{f}}" in ours for f in (".1f", ".0f", ".3g", "+.2f")), (key, lines[i])
        # the nearest chapter line above the row names this chapter
        above = next(line for line in reversed(lines[:i]) if line.startswith("{doc}"))
        assert above.startswith(f"{{doc}}`../notebooks/{chapter}`"), above


def test_a_row_whose_ours_cell_is_empty_is_caught():
    row = "| Teacher, test errors | 67 (Hinton et al. 2015) | ** |"
    assert not any(f"{67:{f}}" in _ours_cell(row) for f in (".1f", ".0f"))


def test_every_chapter_lists_its_claims_with_their_outcome():
    page = overview.render()
    for chapter in {h[0] for h in overview.headlines()}:
        res = json.loads((ROOT / "results" / f"{chapter}.json").read_text())
        block = page.split(f"Claims of {{doc}}`../notebooks/{chapter}`")[1].split("\n\n")[1]
        for c in res["claims"]:
            mark = {True: "✓", False: "✗", None: "·"}[c["holds"]]
            assert f"| {mark} | {c['text']}" in block, (chapter, c["id"])


def test_a_missing_results_file_or_metric_fails_the_build(tmp_path, monkeypatch):
    monkeypatch.setattr(overview, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    with pytest.raises(ExtensionError, match="mnist_hinton.json is missing"):
        overview.render()
    for chapter in {h[0] for h in overview.headlines()}:
        (tmp_path / "results" / f"{chapter}.json").write_text(json.dumps(
            {"metrics": {}, "profile": "cpu", "seeds": [0], "date": "2026-01-01"}))
    with pytest.raises(ExtensionError, match="has no metric"):
        overview.render()


def test_results_without_claims_fail_the_build(tmp_path, monkeypatch):
    monkeypatch.setattr(overview, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    for chapter in {h[0] for h in overview.headlines()}:
        metrics = {h[3]: 1.0 for h in overview.headlines() if h[0] == chapter}
        (tmp_path / "results" / f"{chapter}.json").write_text(json.dumps(
            {"metrics": metrics, "profile": "cpu", "seeds": [0], "date": "2026-01-01"}))
    with pytest.raises(ExtensionError, match="declares no claims"):
        overview.render()


def test_the_overview_covers_every_chapter_of_the_book_and_drops_only_drafts():
    """A row leaves the overview only when its chapter is held back in drafts/ (a typo must not
    silently drop one), and every notebook in notebooks/ is in the table of contents."""
    drafts = {p.stem for p in (ROOT / "drafts").glob("*.ipynb")}
    assert {h[0] for h in overview.HEADLINES} <= overview.IN_BOOK | drafts
    assert {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")} == overview.IN_BOOK
    # every chapter's rows come from its module, in the page's ORDER, which names each chapter once
    assert overview.IN_BOOK <= set(overview.ORDER) and len(set(overview.ORDER)) == len(overview.ORDER)
    assert not overview.IN_BOOK & drafts
