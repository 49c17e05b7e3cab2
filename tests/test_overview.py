"""The results overview page is generated from results/*.json and refuses to invent numbers."""
import json

import pytest
from sphinx.errors import ExtensionError

from kdbook.hypotheses import describe

from conftest import ROOT, load_script

overview = load_script("book/_ext/results_overview.py")


def test_it_opens_with_one_line_per_chapter_in_the_order_of_the_table_of_contents():
    page = overview.render()
    summary = page.split("| chapter | the source's main claim |")[1].split("\n\n")[0]
    rows = [line for line in summary.splitlines() if line.startswith("| {doc}")]
    named = [r.split("`../notebooks/")[1].split("`")[0] for r in rows]
    assert named == overview.TOC_ORDER and set(named) == overview.IN_BOOK
    for chapter, row in zip(named, rows):
        first = json.loads((ROOT / "results" / f"{chapter}.json").read_text())["hypotheses"][0]
        assert first["text"] in row.replace("\\|", "|"), chapter


def test_every_chapter_lists_every_hypothesis_with_its_verdict_and_numbers():
    page = overview.render()
    for chapter in overview.TOC_ORDER:
        res = json.loads((ROOT / "results" / f"{chapter}.json").read_text())
        block = page.split(f"{{doc}}`The chapter <../notebooks/{chapter}>`")[1].split("\n## ")[0]
        for h in res["hypotheses"]:
            assert h["text"] in block.replace("\\|", "|") and describe(h) in block.replace("\\|", "|"), (chapter, h["id"])


def test_a_missing_results_file_or_one_without_hypotheses_fails_the_build(tmp_path, monkeypatch):
    monkeypatch.setattr(overview, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    with pytest.raises(ExtensionError, match=f"{overview.TOC_ORDER[0]}.json is missing"):
        overview.render()
    for chapter in overview.TOC_ORDER:
        (tmp_path / "results" / f"{chapter}.json").write_text(json.dumps(
            {"metrics": {}, "profile": "cpu", "seeds": [0], "date": "2026-01-01"}))
    with pytest.raises(ExtensionError, match="states no hypotheses"):
        overview.render()


def test_the_overview_covers_every_chapter_of_the_book_and_drops_only_drafts():
    drafts = {p.stem for p in (ROOT / "drafts").glob("*.ipynb")}
    assert {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")} == overview.IN_BOOK
    assert set(overview.TOC_ORDER) == overview.IN_BOOK and not overview.IN_BOOK & drafts
