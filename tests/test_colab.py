"""What the Colab badge opens: ``colab/<chapter>.ipynb``, generated from the chapter by ``make colab``
(kdbook/colab.py), and seen here as Colab sees it: converted by nbconvert's Markdown exporter, no Sphinx.

* Every chapter's badge (first cell) opens its copy, from the one repository URL of _config.yml;
  the install cell uses that URL too and leaves Colab's own torch alone.
* A copy shows no raw MyST role, no ``(label)=`` line, no directive fence, no relative link or image,
  no papermill record, no injected profile cell (``profile = "auto"`` must rule) and no machine log.
* A copy is current: generating it again gives the same file.

The checks are tested on planted defects at the end of this file.
"""
import copy
import re

import nbformat
import pytest
import yaml
from nbconvert import MarkdownExporter

from conftest import ROOT
from kdbook import colab

REPO = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
URL, BRANCH = REPO["url"].rstrip("/"), REPO.get("branch", "main")
CHAPTERS = colab.chapters(ROOT)
DRAFTS = sorted((ROOT / "drafts").glob("*.ipynb"))
COPY = ROOT / "colab"
BADGE = re.compile(r"\[!\[Open in Colab\]\(([^)]+)\)\]\(([^)]+)\)")
# What Colab would show literally: a MyST role, a label line, a directive fence.
RAW_MYST = [(re.compile(r"\{[a-z][\w:.+-]*\}`"), "a MyST role"),
            (re.compile(r"\{glue|\{cite|\{doc\}|\{ref\}|\{numref\}"), "a MyST role"),
            (re.compile(r"^\s*\([\w.:-]+\)=\s*$", re.M), "a (label)= line"),
            (re.compile(r"^\s*(```|~~~|:::)\s*\{", re.M), "a MyST directive")]
INJECTED = re.compile(r"^# Parameters\s*\n\s*profile\s*=", re.M)
ABSOLUTE = re.compile(r"^([a-z][\w+.-]*:|#)", re.I)


def colab_target(name: str, folder: str = "colab") -> str:
    return f"https://colab.research.google.com/github/{URL.removeprefix('https://github.com/')}/blob/{BRANCH}/{folder}/{name}.ipynb"


def badge_problems(nb, name: str, *, folder: str = "colab", image_in_repo: bool = True) -> list[str]:
    """The first cell's badge opens ``<folder>/<name>.ipynb`` on Colab; its image is the repository's
    (the book renders offline) or, in a copy, Colab's own."""
    first = nb.cells[0]
    links = BADGE.findall(first.source)
    if first.cell_type != "markdown" or not links:
        return ["no 'Open in Colab' badge in the first cell"]
    image, link = links[0]
    target = colab_target(name, folder)
    out = [] if link == target else [f"the badge links to {link}, not {target}"]
    if image_in_repo and not (ROOT / "notebooks" / image).resolve().is_file():
        out.append(f"the badge image {image} is not in the repository (the book renders offline)")
    if not image_in_repo and image != colab.COLAB_BADGE:
        out.append(f"the badge image is {image}, not {colab.COLAB_BADGE}")
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


def colab_view_problems(nb) -> list[str]:
    """What is wrong with ``nb`` as Colab shows it: the notebook converted to Markdown by nbconvert
    (no Sphinx), and the outputs Colab would keep but not show."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if "injected-parameters" in cell.metadata.get("tags", []):
            problems.append(f"cell {i}: papermill's injected-parameters cell (it overrides profile = \"auto\")")
        for j, out in enumerate(cell.get("outputs", []) if cell.cell_type == "code" else []):
            where = f"cell {i}, output {j}"
            records = [k for k in out.get("data", {}) if k.startswith("application/papermill.record/")]
            if records or "scrapbook" in out.get("metadata", {}):
                problems.append(f"{where}: an invisible papermill record {records}")
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                problems.append(f"{where}: a stderr stream (a machine log)")
            if out.get("output_type") == "stream":
                logs = [ln for ln in out.get("text", "").splitlines() if colab.MACHINE_LOG.match(ln)]
                if logs:
                    problems.append(f"{where}: a machine log: {logs[0]!r}")
    body, resources = MarkdownExporter().from_notebook_node(nb)
    if INJECTED.search(body):
        problems.append("an injected '# Parameters / profile = …' cell in the Markdown")
    for pattern, what in RAW_MYST:
        for m in pattern.finditer(body):
            line = body[body.rfind("\n", 0, m.start()) + 1:body.find("\n", m.end())]
            problems.append(f"{what} in the Markdown: {line.strip()[:160]}")
    extracted = set(resources.get("outputs", {}))  # the exporter's own output_N_M.png files
    urls = re.findall(r"\]\(\s*<?([^)\s>]+)", body) + re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", body)
    for url in urls:
        if not ABSOLUTE.match(url) and url not in extracted:
            problems.append(f"a relative link or image: {url}")
    return problems


@pytest.mark.parametrize("name", CHAPTERS)
def test_badge_opens_the_colab_copy_and_install_cell_uses_the_one_repository_url(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    assert not badge_problems(nb, name) + install_problems(nb), \
        "`python -m kdbook.colab --update-badges` points the badges at colab/"


@pytest.mark.parametrize("path", DRAFTS, ids=lambda p: p.stem)
def test_a_draft_badge_opens_the_draft(path):
    nb = nbformat.read(path, as_version=4)
    assert not badge_problems(nb, path.stem, folder="drafts") + install_problems(nb)


@pytest.fixture(scope="module")
def book():
    return colab.Book(ROOT)


@pytest.mark.parametrize("name", CHAPTERS)
def test_colab_copy_is_current(name, book):
    path = COPY / f"{name}.ipynb"
    assert path.exists(), f"colab/{name}.ipynb is missing: run `make colab`"
    fresh = colab.dumps(colab.colab_notebook(name, ROOT, book=book))
    assert path.read_text(encoding="utf-8") == fresh, f"colab/{name}.ipynb is not current: run `make colab`"


def test_no_colab_copy_without_its_chapter():
    stray = sorted(p.stem for p in COPY.glob("*.ipynb") if p.stem not in CHAPTERS)
    assert not stray, f"colab/ holds copies of chapters no longer in _toc.yml: {stray}"


@pytest.mark.parametrize("name", CHAPTERS)
def test_colab_copy_shows_what_the_book_shows(name, book):
    path = COPY / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4) if path.exists() else colab.colab_notebook(name, ROOT, book=book)
    problems = colab_view_problems(nb) + badge_problems(nb, name, image_in_repo=False) + install_problems(nb)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(params) != 1 or 'profile = "auto"' not in params[0].source:
        problems.append('no parameters cell with profile = "auto"')
    assert not problems, f"colab/{name}.ipynb:\n  " + "\n  ".join(problems[:30])


# ------------------------------------------------------------------------- the checks, on planted defects


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def source_notebook():
    """A small chapter as papermill leaves it: badge, install cell, parameters and injected cells,
    roles in the prose, records, a cache log and stderr in the outputs."""
    v4 = nbformat.v4
    badge = f"[![Open in Colab](../book/images/colab-badge.svg)]({colab_target('quickstart', 'notebooks')})"
    cells = [v4.new_markdown_cell(f"# A chapter\n\n{badge}\n\nDistillation {{cite}}`hinton2015distilling` "
                                  "made {glue:text}`errors:.1f` errors; see {doc}`mnist_omit3`."),
             v4.new_code_cell('try:\n    import kdhelpers\nexcept ImportError:\n'
                              f'    %pip install -q "kdhelpers @ git+{URL}"\n    import kdhelpers'),
             v4.new_code_cell('profile = "auto"\nseed = 0'),
             v4.new_code_cell('# Parameters\nprofile = "cpu"\n'),
             v4.new_code_cell("run = kd.setup('quickstart', profile, seed)"),
             v4.new_markdown_cell("(a-label)=\n## Results\n\n```{note}\nThe verdict is {glue:text}`hyp_x`.\n```"),
             v4.new_code_cell("kd.record(...)")]
    cells[1].metadata["tags"] = ["remove-cell"]
    cells[2].metadata["tags"] = ["parameters"]
    cells[3].metadata["tags"] = ["injected-parameters"]
    cells[4].outputs = [v4.new_output("stream", name="stdout", text="quickstart: profile=cpu seed=0\n"
                                      "mnist-teacher: loaded from the model cache (mnist-teacher-0123.pt)\n"),
                        v4.new_output("stream", name="stderr", text="UserWarning: something\n"),
                        v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
    cells[6].outputs = [v4.new_output("display_data", data={"application/papermill.record/text/plain": "71.5"},
                                      metadata={"scrapbook": {"name": "errors",
                                                              "mime_prefix": "application/papermill.record/"}}),
                        v4.new_output("display_data", data={"text/html": '<table class="kd-verdicts"><tr><td>'
                                                            '<a href="../book/how_to_run.md">rule</a></td></tr></table>',
                                                            "text/plain": "<HTML>"})]
    for i, c in enumerate(cells):
        c.id = f"cell{i}"
    return v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                  "language": "python"}})


@pytest.fixture(scope="module")
def good():
    return colab.colab_notebook("quickstart", ROOT, source=source_notebook(), glued={"hyp_x": "A better"})


def test_the_source_notebook_has_every_defect_the_copy_drops():
    problems = "\n".join(colab_view_problems(source_notebook()))
    for what in ("injected-parameters", "papermill record", "stderr", "machine log", "a MyST role",
                 "(label)= line", "MyST directive", "relative link"):
        assert what in problems, what


def test_the_copy_keeps_the_books_outputs_and_glues_the_recorded_values(good):
    text = nbformat.writes(good)
    assert "71.5 errors" in text and "The verdict is A better." in text  # from the record; from `glued`
    assert "quickstart: profile=cpu seed=0" in text and "loaded from the model cache" not in text
    assert "image/png" in text and "kd-verdicts" in text and f"{colab.BOOK_URL}/book/how_to_run.html" in text
    assert [c.metadata.get("tags") for c in good.cells if c.cell_type == "code"][:2] == [["remove-cell"], ["parameters"]]


def _planted(nb, change):
    bad = copy.deepcopy(nb)
    change(bad)
    return colab_view_problems(bad)


def _md(nb):
    return next(c for c in nb.cells[1:] if c.cell_type == "markdown")


def _code_with_output(nb):
    return next(c for c in nb.cells if c.cell_type == "code" and c.outputs)


def test_the_colab_view_check_passes_a_generated_copy(good):
    assert colab_view_problems(good) == []
    assert badge_problems(good, "quickstart", image_in_repo=False) == []


@pytest.mark.parametrize("raw", ["{glue:text}`teacher_test_errors`", "{glue:text}`x:.1f`", "{cite}`hinton2015distilling`",
                                 "{doc}`mnist_omit3`", "{ref}`distillation-step`", "{numref}`fig-x`",
                                 "\n\n(some-label)=\n", "\n\n```{note}\nA note.\n```\n", "\n\n:::{admonition} T\nx\n:::\n"])
def test_the_colab_view_check_catches_a_planted_raw_role(good, raw):
    problems = _planted(good, lambda nb: setattr(_md(nb), "source", _md(nb).source + " " + raw))
    assert any(("role" in p or "label" in p or "directive" in p) for p in problems), problems


def test_the_colab_view_check_catches_an_injected_profile_cell(good):
    def inject(nb):
        cell = nbformat.v4.new_code_cell('# Parameters\nprofile = "cpu"\n')
        cell.metadata["tags"] = ["injected-parameters"]
        nb.cells.insert(3, cell)
    problems = _planted(good, inject)
    assert any("injected-parameters" in p for p in problems) and any("injected '# Parameters" in p for p in problems)


@pytest.mark.parametrize("link", ["![fig](../book/images/colab-badge.svg)", "[how to run](../book/how_to_run.md)",
                                  '<img src="images/x.png">'])
def test_the_colab_view_check_catches_a_relative_link_or_image(good, link):
    problems = _planted(good, lambda nb: setattr(_md(nb), "source", _md(nb).source + "\n\n" + link))
    assert any("relative" in p for p in problems), problems


def test_the_colab_view_check_catches_papermill_records_and_machine_logs(good):
    record = nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": "72"},
                                    metadata={"scrapbook": {"name": "x", "mime_prefix": "application/papermill.record/"}})
    log = nbformat.v4.new_output("stream", name="stdout",
                                 text="mnist-teacher: loaded from the model cache (mnist-teacher-0123.pt)\n")
    err = nbformat.v4.new_output("stream", name="stderr", text="warning\n")
    problems = _planted(good, lambda nb: _code_with_output(nb).outputs.extend([record, log, err]))
    assert any("papermill record" in p for p in problems)
    assert any("machine log" in p and "loaded from the model cache" in p for p in problems)
    assert any("stderr" in p for p in problems)


def test_the_generator_renders_roles_directives_and_links():
    book = colab.Book(ROOT)
    page = colab.Page(book, "quickstart", {"acc": 98.2345, "hyp_x": "A better", "n": 3})
    md = page.markdown("(lab)=\n## Title\n\nWe got {glue:text}`acc:.1f` % ({glue:text}`hyp_x`, {glue}`n` seeds), "
                       "as {cite}`hinton2015distilling` and {cite:p}`ba2014deep`; see {doc}`mnist_omit3`, "
                       "{doc}`the guide <../book/how_to_run>` and {ref}`distillation-step`. Code `{glue:text}` stays.\n\n"
                       "```{admonition} Read {glue:text}`acc:.0f` first\n:class: tip\nBody line.\n```\n\n"
                       ":::{note}\nA note with [a file](../kdhelpers/losses/hinton.py).\n:::\n\n"
                       "```python\n{cite}`kept in code`\n```")
    assert "(lab)=" not in md and "## Title" in md
    assert "We got 98.2 % (A better, 3 seeds)" in md
    assert "[Hinton et al. (2015)](" in md and "([Ba and Caruana, 2014](" in md
    assert "[A transfer set without a single 3" in md and f"({colab.BOOK_URL}/notebooks/mnist_omit3.html)" in md
    assert f"[the guide]({colab.BOOK_URL}/book/how_to_run.html)" in md
    assert f"({colab.BOOK_URL}/notebooks/quickstart.html#distillation-step)" in md
    assert "Code `{glue:text}` stays." in md and "```python\n{cite}`kept in code`\n```" in md
    assert "> **Read 98 first**\n>\n> Body line." in md
    assert "> **Note**\n>\n> A note with [a file](https://github.com/" in md and "/blob/" in md
    with pytest.raises(colab.ColabError, match="nope"):
        page.markdown("{glue:text}`nope`")
