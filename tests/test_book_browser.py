"""The built book as a reader sees it, in headless Chromium (Debian's package).

Run with `make test-browser` (installs chromium if needed); CI runs it after `make test`.
Screenshots of the intro and two chapters land in _build/screenshots/ for a person to look at, and
one of every block found cut off on the right (cutoff_<page>.png).
No page shows a raw Markdown table (myst-nb renders a text/markdown output as CommonMark, which has
no tables), a raw MyST role, or a code or output block cut off on the right at 1280 px.
Requests that leave 127.0.0.1 are refused, as on an offline machine: MathJax must come from the
build (_static/mathjax, see _config.yml), never from a CDN.
"""
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import ROOT
from kdbook.results import glue_values

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
GLUE = re.compile(r"\{glue:text\}`([^`:]+)(?::([^`]*))?`")
# What a page shows when MathJax did not run: the TeX delimiters Sphinx writes around math.
RAW_TEX = ("\\(", "\\)", "\\[", "\\]", "$$")
# MathJax itself and what it may load on its own (speech rules, IE polyfills).
MATHJAX_URL = re.compile(r"mathjax|speech-rule-engine|sre-mathmaps|wicked-good-xpath", re.I)
# Math in MyST source: $$…$$ and $…$ (dollarmath), amsmath environments; {math} roles and
# directives are looked for apart (code blocks and inline code are dropped first).
MATH_SOURCE = re.compile(r"\$\$|(?<![\\$\w])\$(?![\s$])[^$\n]+?(?<![\s\\])\$(?!\$)|\\begin\{")
MATH_FENCE = re.compile(r"^\s*(`{3,}|:{3,})\s*\{math\}", re.M)
CODE_FENCE = re.compile(r"^\s*(`{3,}|~{3,}).*?^\s*\1", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
# What Markdown or MyST left unrendered in a page's text: a table's separator row or a row of cells
# (Sphinx's smart quotes turn --- into an em dash), a role, a label line, a directive fence.
RAW_TABLE = re.compile(r"^\s*\|?\s*:?[-—–]+:?\s*(\|\s*:?[-—–]+:?\s*)+\|?\s*$|^\s*\|.*\|.*\|\s*$", re.M)
RAW_ROLE = re.compile(r"\{[a-z][\w:.+-]*\}`|^\s*\([\w.:-]+\)=\s*$|^\s*(```|:::)\s*\{", re.M)
# The text a reader reads, not code: prose, lists, tables, headings and cell outputs.
# (each once: an element inside another of them is read with it)
READ_TEXT = ("() => { const els = [...document.querySelectorAll('article p, article li, article dt, article dd,"
             " article td, article th, article h1, article h2, article h3, article h4, article .cell_output')]"
             ".filter(e => !e.closest('.cell_input, div.highlight')); const set = new Set(els);"
             " return els.filter(e => { for (let a = e.parentElement; a; a = a.parentElement) if (set.has(a)) return false;"
             " return true; }).map(e => e.innerText); }")
# Blocks that must fit the column: code, outputs, output text.
CUT_OFF = ("() => { const out = []; for (const sel of ['div.highlight pre', 'div.output', '.cell_output pre'])"
           " document.querySelectorAll('article ' + sel).forEach((e, i) => { if (e.scrollWidth > e.clientWidth + 1)"
           " out.push([sel, i, e.scrollWidth, e.clientWidth, e.innerText.split('\\n')[0].slice(0, 70)]); });"
           " return out; }")


def _toc_files():
    files, toc = [], yaml.safe_load((ROOT / "_toc.yml").read_text())
    for part in toc["parts"]:
        files += [c["file"] for c in part["chapters"]]
    return [toc["root"]] + files


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the book once and serve it on a loopback port."""
    out = tmp_path_factory.mktemp("book")
    jb = os.path.join(os.path.dirname(sys.executable), "jupyter-book")
    run = subprocess.run([jb, "build", str(ROOT), "--path-output", str(out), "-W", "--keep-going"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    html = out / "_build" / "html"
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test-browser` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        # playwright adds --headless itself; the rest keep Chromium off the closed network
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS[1:])
        yield b
        b.close()


def _open(browser, url):
    """Load ``url``; return the page, the console errors it produced and the URLs it tried to
    fetch from elsewhere. Requests that leave 127.0.0.1 (CDN scripts) are refused here, as on an
    offline machine, and their failures are reported apart, not as the page's own errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, external = [], []
    page.route(re.compile(r"^(?!http://127\.0\.0\.1).*"),
               lambda route: (external.append(route.request.url), route.abort()))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)
    own = [e for e in errors if not ("net::ERR_FAILED" in e and external)]
    return page, own, external


def _source_has_math(doc: str) -> bool:
    """Whether the page's MyST source (a .md file, or a notebook's markdown cells) has math.
    Code blocks and inline code do not count; a {math} role's argument does."""
    md = ROOT / f"{doc}.md"
    if md.exists():
        text = md.read_text()
    else:
        nb = nbformat.read(ROOT / f"{doc}.ipynb", as_version=4)
        text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    if MATH_FENCE.search(text):
        return True
    text = CODE_FENCE.sub("", text)
    return "{math}`" in text or bool(MATH_SOURCE.search(CODE_SPAN.sub("", text)))


def _typeset(page) -> None:
    """Wait until MathJax has typeset the page (its startup promise resolves after the first
    typeset) and its fonts are loaded; a page without math may not load MathJax at all."""
    if not page.eval_on_selector_all("script[src*='mathjax' i]", "s => s.length"):
        return
    # before the script runs, window.MathJax is the configuration object, without .startup
    page.wait_for_function("() => !!(window.MathJax && MathJax.startup && MathJax.startup.promise)",
                           timeout=20_000)
    page.evaluate("() => MathJax.startup.promise.then(() => document.fonts.ready).then(() => true)")


PAGES = _toc_files()


@pytest.mark.parametrize("doc", PAGES)
def test_page_loads_without_console_errors_and_images_render(site, browser, doc):
    page, errors, _ = _open(browser, f"{site}/{doc}.html")
    assert page.title(), f"{doc}: no title"
    assert errors == [], f"{doc}: console errors {errors}"
    sizes = page.eval_on_selector_all("article img", "imgs => imgs.map(i => [i.src, i.naturalWidth, i.naturalHeight])")
    broken = [s for s in sizes if s[1] == 0 or s[2] == 0]
    assert not broken, f"{doc}: images that did not render: {broken}"
    text = page.inner_text("article")
    assert "{glue" not in text and "glue:text" not in text, f"{doc}: an unresolved glue role"
    if doc.startswith("notebooks/"):
        n_tables = page.eval_on_selector_all("article table", "t => t.length")
        assert sizes or n_tables, f"{doc}: a chapter without a figure or a table"
    page.close()


@pytest.mark.parametrize("doc", PAGES)
def test_math_is_typeset_offline_by_the_books_own_mathjax(site, browser, doc):
    """With the network refused, every page's math is typeset by the MathJax the build serves:
    no raw TeX delimiters in the text, every math element holds a MathJax container, and no
    request for MathJax (or anything it loads) tried to leave the machine."""
    page, errors, external = _open(browser, f"{site}/{doc}.html")
    scripts = page.eval_on_selector_all("script[src*='mathjax' i]", "s => s.map(x => x.src)")
    assert all(src.startswith(f"{site}/_static/mathjax/") for src in scripts), \
        f"{doc}: MathJax not served from the build: {scripts}"
    _typeset(page)
    mathjax_external = [u for u in external if MATHJAX_URL.search(u)]
    assert not mathjax_external, f"{doc}: MathJax requests that left the machine: {mathjax_external}"
    text = page.inner_text("article")
    raw = [t for t in RAW_TEX if t in text]
    lines = [ln for ln in text.splitlines() if any(t in ln for t in raw)][:5]
    assert not raw, f"{doc}: raw TeX {raw} in the page text (MathJax did not typeset it): {lines}"
    n_math, n_untypeset, n_rendered = page.evaluate(
        "() => { const m = [...document.querySelectorAll('article .math')];"
        " return [m.length, m.filter(e => !e.querySelector('mjx-container')).length,"
        " document.querySelectorAll('article mjx-container').length]; }")
    assert n_untypeset == 0, f"{doc}: {n_untypeset} of {n_math} math elements were not typeset"
    if _source_has_math(doc):
        assert scripts, f"{doc}: the source has math but the page loads no MathJax"
        assert n_rendered > 0, f"{doc}: the source has math but no mjx-container was rendered"
    assert not [e for e in errors if "mathjax" in e.lower()], f"{doc}: MathJax errors {errors}"
    page.close()


@pytest.mark.parametrize("doc", [d for d in PAGES if d.startswith("notebooks/")])
def test_chapter_shows_its_glued_numbers_and_a_colab_link(site, browser, doc):
    stem = doc.split("/")[-1]
    page, _, _ = _open(browser, f"{site}/{doc}.html")
    text = page.inner_text("article")
    # what the prose may glue: metrics, claim verdicts and details, the run's cost
    metrics = glue_values(json.loads((ROOT / "results" / f"{stem}.json").read_text()))
    nb = nbformat.read(ROOT / f"{doc}.ipynb", as_version=4)
    for key, fmt in {m for c in nb.cells if c.cell_type == "markdown" for m in GLUE.findall(c.source)}:
        assert key in metrics, f"{doc}: prose glues {key!r}, which the results do not record"
        expected = format(metrics[key], fmt or "")
        assert expected in text, f"{doc}: glued {key} = {expected} not in the page text"
    links = page.eval_on_selector_all("a[href*='colab.research.google.com']", "as => as.map(a => a.href)")
    assert links, f"{doc}: no Open-in-Colab link"
    # the badge and the theme's launch button open the Colab copy (kdbook/colab.py, reader_fixes.py)
    assert all(h.endswith(f"/colab/{stem}.ipynb") for h in links), links
    page.close()


def raw_markup(texts: list[str]) -> list[str]:
    """The lines of a page's text that show Markdown or MyST as typed: a table, a role, a label."""
    found = []
    for text in texts:
        for line in text.splitlines():
            if RAW_TABLE.search(line):
                found.append(f"a raw Markdown table: {line.strip()[:120]}")
            elif RAW_ROLE.search(line):
                found.append(f"a raw MyST role: {line.strip()[:120]}")
    return found


def test_raw_markup_is_detected():
    assert raw_markup(["| | verdict | numbers |", "|—|—|—|", "|---|:---:|", "we got {glue:text}`acc:.1f` %",
                       "(some-label)=", "see {doc}`x`"]) and len(raw_markup(["|---|---|"])) == 1
    assert raw_markup(["a | b, and c | d", "85.3 ± 3.5 errors", "—", "{x}", "f(x) = 1"]) == []


def test_the_cut_off_check_catches_a_planted_wide_block(site, browser):
    page, _, _ = _open(browser, f"{site}/notebooks/quickstart.html")
    assert page.evaluate(CUT_OFF) == []
    page.evaluate("() => { const d = document.querySelector('article div.highlight pre');"
                  " d.style.whiteSpace = 'pre'; d.style.overflowWrap = 'normal'; d.textContent = 'x = ' + '1'.repeat(400); }")
    assert [c[0] for c in page.evaluate(CUT_OFF)] == ["div.highlight pre"]
    page.close()


@pytest.mark.parametrize("doc", PAGES)
def test_page_shows_no_raw_table_or_role_and_no_block_cut_off(site, browser, doc):
    page, _, _ = _open(browser, f"{site}/{doc}.html")
    problems = raw_markup(page.evaluate(READ_TEXT))
    cut = page.evaluate(CUT_OFF)
    problems += [f"{sel} #{i} cut off on the right ({sw} px in {cw}): {first!r}" for sel, i, sw, cw, first in cut]
    if cut:  # the first one, for a person to look at
        shots = ROOT / "_build" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        sel, i = cut[0][0], cut[0][1]
        page.eval_on_selector_all(f"article {sel}", f"es => es[{i}].scrollIntoView({{block: 'center'}})")
        page.screenshot(path=str(shots / f"cutoff_{doc.replace('/', '_')}.png"))
    page.close()
    assert not problems, f"{doc}: {len(problems)} problems\n  " + "\n  ".join(problems[:25])


def test_results_overview_links_every_chapter_it_names(site, browser):
    page, errors, _ = _open(browser, f"{site}/book/results.html")
    assert errors == []
    # first the summary, one row per chapter, each row linking its chapter; then one table per
    # chapter, each right after a paragraph that links the chapter
    tables = page.eval_on_selector_all("article table", "ts => ts.length")
    summary = page.eval_on_selector_all(
        "article table", "ts => Array.from(ts[0].querySelectorAll('tbody tr')).map(r => {"
        " const a = r.querySelector('a.internal'); return a ? a.getAttribute('href') : null; })")
    hrefs = page.eval_on_selector_all(
        "article table", "ts => ts.slice(1).map(t => { let p = t.closest('.pst-scrollable-table-container') || t;"
        " p = p.previousElementSibling; const a = p && p.querySelector('a.internal');"
        " return a ? a.getAttribute('href') : null; })")
    assert summary and None not in summary, f"a summary row without its chapter link: {summary}"
    assert tables and None not in hrefs and len(hrefs) == tables - 1, f"a table without its chapter link: {hrefs}"
    assert sorted(set(hrefs)) == sorted(set(summary)), (summary, hrefs)
    assert all(h.startswith("../notebooks/") for h in hrefs + summary), hrefs
    for h in set(hrefs):
        assert page.request.get(page.url.rsplit("/", 1)[0] + "/" + h.split("#")[0]).ok, h
    page.close()


def test_screenshots_of_intro_and_a_chapter(site, browser):
    shots = ROOT / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for name, doc in [("intro", "book/intro"), ("chapter_mnist_hinton", "notebooks/mnist_hinton"),
                      ("chapter_cifar_feature_kd", "notebooks/cifar_feature_kd")]:
        page, _, _ = _open(browser, f"{site}/{doc}.html")
        path = shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        assert path.stat().st_size > 10_000, f"{path} looks empty"
        page.close()
