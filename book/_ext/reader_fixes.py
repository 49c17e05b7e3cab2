"""Upstream glitches of the Jupyter Book 1 theme stack, fixed for readers.

1. sphinx-thebe adds its ``const THEBE_JS_URL = …`` script once per read pass, so a page that
   gets it twice throws "Identifier 'THEBE_JS_URL' has already been declared".
2. pydata-sphinx-theme starts with ``setTheme("")`` for a first-time visitor (no saved mode) and
   logs "Got invalid theme mode". Setting the documented default, "auto", before it runs avoids it.
3. sphinx-book-theme 1.3 shows pydata's top header with a second search field above the page;
   the sidebar already has one (reader.css hides the header on wide screens only).
4. The theme's "launch on Colab" button opens ``notebooks/<chapter>.ipynb``, with papermill's
   injected profile and raw MyST roles; it opens the chapter's Colab copy, ``colab/<chapter>.ipynb``
   (kdbook/colab.py), as the badge in the chapter's first cell does.

reader.css also fits code, outputs and the verdict tables to the column (no block cut off on the right).
"""
from __future__ import annotations

import re
from pathlib import Path

THEME_MODE = 'if (!localStorage.getItem("mode")) { document.documentElement.dataset.mode = "auto"; }'


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for js in context.get("script_files", []):
        # the copies differ only in filename None vs "" (inline scripts)
        key = (getattr(js, "filename", js) or "", tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


COLAB_SOURCE = re.compile(r"^(https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/[^/]+/)notebooks/([^/]+\.ipynb)$")


def _colab_copy(app, pagename, templatename, context, doctree):
    """Point the theme's Colab launch button of a chapter at its copy in colab/."""
    def walk(buttons):
        for b in buttons or []:
            if isinstance(b, dict):
                if isinstance(b.get("url"), str):
                    b["url"] = COLAB_SOURCE.sub(r"\1colab/\2", b["url"])
                walk(b.get("buttons"))
    walk(context.get("header_buttons"))


def _add_static(app, config):
    config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app):
    app.connect("config-inited", _add_static)
    app.add_css_file("reader.css")
    app.add_js_file(None, body=THEME_MODE, priority=100)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _colab_copy, priority=600)  # after the theme's buttons (501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
