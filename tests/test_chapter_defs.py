"""A chapter's own definitions live in its notebook, in cells tagged `define` (kdbook.chapter):
they load without running the chapter, and every function they define is used by the chapter."""
import re

import nbformat
import pytest

from kdbook.chapter import TAG, define_cells, load

from conftest import ROOT

DEFINING = [p for p in sorted((ROOT / "notebooks").glob("*.ipynb")) if define_cells(p)]
SETUP = re.compile(r"^\s*(run\s*=|\w+\s*=\s*kb\.setup|kb\.record|plan\.show)", re.M)


def test_some_chapter_defines_its_own_code():
    assert DEFINING, "no notebook has a cell tagged 'define'"


@pytest.mark.parametrize("nb_path", DEFINING, ids=lambda p: p.stem)
def test_definitions_load_without_running_the_chapter(nb_path):
    for source in define_cells(nb_path):
        assert not SETUP.search(source), f"a cell tagged {TAG!r} sets up or records a run:\n{source[:300]}"
    module = load(nb_path.stem)
    assert not hasattr(module, "run"), "loading the definitions created a run"


@pytest.mark.parametrize("nb_path", DEFINING, ids=lambda p: p.stem)
def test_every_defined_function_is_used_on_the_page(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    others = "\n".join(c.source for c in nb.cells
                       if c.cell_type == "code" and TAG not in c.metadata.get("tags", []))
    defined = "\n".join(define_cells(nb_path))
    for name in re.findall(r"^(?:def|class) (\w+)", defined, re.M):
        uses = len(re.findall(rf"\b{name}\b", defined + "\n" + others)) - 1  # less its definition
        assert uses >= 1, f"{nb_path.stem} defines {name} but never uses it"


def test_a_missing_chapter_or_untagged_notebook_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebooks/nope.ipynb"):
        load("nope", root=tmp_path)
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]),
                   tmp_path / "notebooks" / "plain.ipynb")
    with pytest.raises(ValueError, match="tag the cells"):
        load("plain", root=tmp_path)
