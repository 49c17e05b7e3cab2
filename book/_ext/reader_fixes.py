"""Upstream glitches of the Jupyter Book 1 theme stack, fixed for readers.

1. sphinx-thebe adds its ``const THEBE_JS_URL = …`` script once per read pass, so a page that
   gets it twice throws "Identifier 'THEBE_JS_URL' has already been declared".
2. pydata-sphinx-theme starts with ``setTheme("")`` for a first-time visitor (no saved mode) and
   logs "Got invalid theme mode". Setting the documented default, "auto", before it runs avoids it.
3. sphinx-book-theme 1.3 shows pydata's top header with a second search field above the page;
   the sidebar already has one (reader.css hides the header on wide screens only).
"""
from __future__ import annotations

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


def _add_static(app, config):
    config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app):
    app.connect("config-inited", _add_static)
    app.add_css_file("reader.css")
    app.add_js_file(None, body=THEME_MODE, priority=100)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
