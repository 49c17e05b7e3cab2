"""Every chapter opens in Colab from one repository URL, the one in _config.yml: the badge in its
first cell and its install cell use it, and the install leaves Colab's own torch alone."""
import re

import nbformat
import pytest
import yaml

from conftest import ROOT

REPO = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
URL, BRANCH = REPO["url"].rstrip("/"), REPO.get("branch", "main")
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "drafts").glob("*.ipynb"))


def badge_problems(nb, name: str) -> list[str]:
    first = nb.cells[0]
    target = f"https://colab.research.google.com/github/{URL.removeprefix('https://github.com/')}/blob/{BRANCH}/notebooks/{name}.ipynb"
    links = re.findall(r"\[!\[Open in Colab\]\(([^)]+)\)\]\(([^)]+)\)", first.source)
    if first.cell_type != "markdown" or not links:
        return ["no 'Open in Colab' badge in the first cell"]
    image, link = links[0]
    out = [] if link == target else [f"the badge links to {link}, not {target}"]
    if not (ROOT / "notebooks" / image).resolve().is_file():
        out.append(f"the badge image {image} is not in the repository (the book renders offline)")
    return out


def install_problems(nb) -> list[str]:
    cells = [c for c in nb.cells if c.cell_type == "code" and "%pip install" in c.source]
    if len(cells) != 1:
        return [f"{len(cells)} install cells (want one)"]
    src = cells[0].source
    urls = re.findall(r"git\+(https://[^\"'\s@]+)", src)
    out = [] if urls == [URL] else [f"the install cell installs from {urls}, not {URL} (_config.yml)"]
    if re.search(r"\btorch\b", src.split("%pip install", 1)[1].split("\n")[0]):
        out.append("the install cell names torch: Colab keeps its own")
    if "remove-cell" not in cells[0].metadata.get("tags", []):
        out.append("the install cell is not hidden in the book (tag remove-cell)")
    return out


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_badge_and_install_cell_use_the_one_repository_url(path):
    nb = nbformat.read(path, as_version=4)
    assert not badge_problems(nb, path.stem) + install_problems(nb)


def test_the_checks_catch_a_stale_url_a_missing_badge_and_a_torch_pin():
    good = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    assert badge_problems(good, "quickstart") == [] and install_problems(good) == []
    stale = nbformat.from_dict(good)
    stale.cells[1].source = stale.cells[1].source.replace(URL, "https://github.com/someone/old-fork")
    assert "not " + URL in install_problems(stale)[0]
    pinned = nbformat.from_dict(good)
    pinned.cells[1].source = pinned.cells[1].source.replace('%pip install -q "kdhelpers', '%pip install -q torch==2.3 "kdhelpers')
    assert any("torch" in p for p in install_problems(pinned))
    bare = nbformat.from_dict(good)
    bare.cells[0].source = re.sub(r"\[!\[Open in Colab\].*\n", "", bare.cells[0].source)
    assert badge_problems(bare, "quickstart") == ["no 'Open in Colab' badge in the first cell"]
    assert badge_problems(good, "other")  # a badge must open its own notebook
