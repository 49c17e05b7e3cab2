"""Each results file records what produced it; a chapter whose notebook code, helper modules or
profile changed since is stale, and a notebook whose code is not the code of its recorded run fails."""
import json
import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from kdbook import fingerprint as F

from conftest import ROOT


def _nb(path, code, injected="profile = 'cpu'", output="42"):
    cells = [new_markdown_cell("# A chapter"), new_code_cell("profile = 'auto'", metadata={"tags": ["parameters"]}),
             new_code_cell(injected, metadata={"tags": ["injected-parameters"]}),
             new_code_cell(code, outputs=[new_output("stream", name="stdout", text=output)])]
    nbformat.write(new_notebook(cells=cells), str(path))
    return path


def test_the_notebook_hash_is_its_code_not_its_outputs_or_injected_profile(tmp_path):
    a = F.notebook_code(_nb(tmp_path / "a.ipynb", "x = 1"))
    assert a == F.notebook_code(_nb(tmp_path / "b.ipynb", "x = 1", injected="profile = 'full'", output="7"))
    assert a != F.notebook_code(_nb(tmp_path / "c.ipynb", "x = 2"))


def test_a_changed_notebook_or_helper_module_makes_a_chapter_stale(tmp_path):
    root = tmp_path / "book"
    (root / "notebooks").mkdir(parents=True)
    (root / "results").mkdir()
    (root / "kdhelpers").mkdir()
    (root / "kdhelpers" / "__init__.py").write_text("")
    (root / "kdhelpers" / "stats.py").write_text("def mean(x): return sum(x) / len(x)\n")
    (root / "_toc.yml").write_text("root: intro\nchapters:\n  - file: notebooks/ch\n  - file: notebooks/old\n")
    nb = _nb(root / "notebooks" / "ch.ipynb", "import kdhelpers")
    fp = {"notebook_code": F.notebook_code(nb), "profile": "cpu", "data": {},
          "kdhelpers": {"kdhelpers.stats": F._sha((root / "kdhelpers" / "stats.py").read_bytes())}}
    (root / "results" / "ch.json").write_text(json.dumps({"profile": "cpu", "fingerprint": fp}))
    _nb(root / "notebooks" / "old.ipynb", "pass")
    (root / "results" / "old.json").write_text(json.dumps({"profile": "cpu"}))
    assert F.stale(root) == {"old": ["no fingerprint: recorded before runs recorded what produced them"]}
    (root / "kdhelpers" / "stats.py").write_text("def mean(x): return sum(x) / max(len(x), 1)\n")
    _nb(nb, "import kdhelpers  # edited")
    assert F.changes(root, "ch") == ["the notebook's code", "kdhelpers.stats"]
    assert F.main(["--root", str(root), "--names"]) == 0


def test_the_run_records_its_modules_and_data():
    import kdhelpers
    from kdhelpers.data import load_mnist

    load_mnist(train=False)
    fp = F.of_run(None, "cpu")
    assert "kdhelpers.train" in fp["kdhelpers"] and fp["data"]["mnist:test"] != "unknown"
    assert fp["notebook_code"] is None and fp["profile"] == "cpu"
    assert kdhelpers  # imported for its modules


def test_every_chapters_notebook_is_the_code_of_its_recorded_run(capsys):
    """Lists the stale chapters of the book (what changed since their run) and fails for a chapter
    whose committed notebook code is not the code its results came from."""
    found = F.stale(ROOT)
    with capsys.disabled():
        for chapter, what in found.items():
            print(f"\nstale: {chapter}: {'; '.join(what)}")
    assert not [c for c, what in found.items() if "the notebook's code" in what], found
