"""The Colab copy of each chapter: ``colab/<chapter>.ipynb``, generated from ``notebooks/<chapter>.ipynb``.

Colab renders a notebook's Markdown without Sphinx, so the copy is the chapter as the book shows it:

* no papermill ``injected-parameters`` cell, so the chapter's own ``profile = "auto"`` rules;
* every MyST role replaced by what the book shows: ``{glue:text}`` by the recorded value
  (``results/<chapter>.json``, :func:`kdbook.results.glue_values`, formatted with its spec),
  ``{cite}`` by "Author et al. (year)", ``{doc}``/``{ref}`` by links to the published book,
  ``(label)=`` lines dropped, directives (``{note}``, ``{admonition}``…) turned into blockquotes;
* relative links and images made absolute (book pages, the repository on GitHub, Colab's badge);
* outputs kept, without papermill's invisible records, stderr, or the model cache's load logs.

``python -m kdbook.colab`` (``make colab``) rewrites every copy; ``--check`` only says which are not
current; ``--update-badges`` points the badge of each ``notebooks/<chapter>.ipynb`` at its copy.
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import posixpath
import re
import sys
import tempfile
from pathlib import Path

import nbformat

from .render import BOOK_URL
from .results import glue_values

REPOSITORY = "kd-book/kd-book"  # _config.yml's repository (read from it when present)
BRANCH = "main"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE = re.compile(r"\[!\[Open in Colab\]\(([^)\s]*)\)\]\(([^)\s]*)\)")
IMAGE_EXT = (".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp")
RECORD_MIME = "application/papermill.record/"
# stdout lines of the machine that ran the notebook: model cache and shipped-teacher loads,
# the worker pool's timings (kdbook.cache, kdbook.parallel)
MACHINE_LOG = re.compile(
    r"^(\S+: loaded from the (model cache|book's teachers) \(.*\)"
    r"|\S+: this machine computes in .*"
    r"|.*\bloaded from the cache in \d+(\.\d+)? s"
    r"|training .* in \d+ process(es)? of one thread each"
    r"|\s+\S+: \d+(\.\d+)? s)\s*$")

ROLE = re.compile(r"\{([A-Za-z][\w:.+-]*)\}`([^`]*)`")
LABEL_LINE = re.compile(r"^[ \t]*\(([^()\s]+)\)=[ \t]*$")
FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,}|:{3,})[ \t]*(.*)$")
TITLED = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.S)  # "text <target>"
PY_ROLES = {"mod", "func", "class", "meth", "attr", "obj", "data", "exc", "const", "any"}
ADMONITIONS = {"note", "warning", "tip", "hint", "important", "caution", "attention", "danger",
               "error", "seealso", "todo", "margin", "sidebar", "epigraph", "topic", "dropdown"}


class ColabError(ValueError):
    """A chapter the generator cannot render faithfully (an unknown glue key, a broken link)."""


# ---------------------------------------------------------------------------------------- the book


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def _repository(root: Path) -> tuple[str, str]:
    cfg = root / "_config.yml"
    if cfg.exists():
        import yaml  # the book's tooling has PyYAML; kdbook itself does not need it

        repo = (yaml.safe_load(cfg.read_text()) or {}).get("repository") or {}
        url = str(repo.get("url", "")).rstrip("/")
        if url.startswith("https://github.com/"):
            return url.removeprefix("https://github.com/"), str(repo.get("branch", BRANCH))
    return REPOSITORY, BRANCH


def colab_url(chapter: str, root: Path | None = None) -> str:
    """What a chapter's badge opens: its copy in ``colab/`` on the repository's branch."""
    repo, branch = _repository(root or repo_root())
    return f"https://colab.research.google.com/github/{repo}/blob/{branch}/colab/{chapter}.ipynb"


def toc_docs(root: Path) -> list[str]:
    """Every page of ``_toc.yml`` (``book/intro``, ``notebooks/quickstart``, …), in order."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    docs = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                docs.append(str(node["file"]).removesuffix(".md").removesuffix(".ipynb"))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc.get("parts", toc.get("chapters", [])))
    return docs


def chapters(root: Path | None = None) -> list[str]:
    """The chapter notebooks of the table of contents."""
    root = root or repo_root()
    return [d.removeprefix("notebooks/") for d in toc_docs(root) if d.startswith("notebooks/")]


class Book:
    """What the roles of a page refer to: page titles, labels, the bibliography, glued values."""

    def __init__(self, root: Path):
        self.root = root
        self.repo, self.branch = _repository(root)
        self.docs = toc_docs(root)
        self._labels: dict[str, tuple[str, str]] | None = None
        self._bib: dict[str, tuple[str, str]] | None = None

    # --- urls
    def page_url(self, doc: str, anchor: str = "") -> str:
        return f"{BOOK_URL}/{doc}.html" + (f"#{anchor}" if anchor else "")

    def blob_url(self, path: str) -> str:
        kind = "tree" if (self.root / path).is_dir() else "blob"
        return f"https://github.com/{self.repo}/{kind}/{self.branch}/{path}"

    def raw_url(self, path: str) -> str:
        return f"https://raw.githubusercontent.com/{self.repo}/{self.branch}/{path}"

    def absolute(self, url: str, base: str = "notebooks") -> str:
        """``url`` as written in a page of folder ``base``, made absolute."""
        if not url or re.match(r"^([a-z][\w+.-]*:|#|//)", url, re.I):
            return url  # http(s):, mailto:, attachment:, data:, an anchor of the page itself
        path, _, anchor = url.partition("#")
        full = posixpath.normpath(posixpath.join(base, path))
        if full.startswith("../"):
            raise ColabError(f"link {url!r} leaves the repository")
        if full == "book/images/colab-badge.svg":
            return COLAB_BADGE
        doc = re.sub(r"\.(ipynb|md)$", "", full)
        if doc in self.docs and (full.endswith((".ipynb", ".md")) or not posixpath.splitext(full)[1]):
            return self.page_url(doc, anchor)
        if not (self.root / full).exists():
            raise ColabError(f"link {url!r}: {full} is not in the repository")
        if full.lower().endswith(IMAGE_EXT):
            return self.raw_url(full)
        return self.blob_url(full) + (f"#{anchor}" if anchor else "")

    # --- titles and labels
    def title(self, doc: str) -> str:
        md, nb = self.root / f"{doc}.md", self.root / f"{doc}.ipynb"
        if md.exists():
            text = md.read_text()
        elif nb.exists():
            cells = nbformat.read(nb, as_version=4).cells
            text = "\n\n".join(c.source for c in cells if c.cell_type == "markdown")
        else:
            raise ColabError(f"{{doc}} names {doc!r}, which is not a page of the book")
        m = re.search(r"^#\s+(.+?)\s*#*\s*$", _strip_front_matter(text), re.M)
        return _plain(m.group(1)) if m else doc.rsplit("/", 1)[-1]

    def labels(self) -> dict[str, tuple[str, str]]:
        """``{label: (doc, text)}``: every ``(label)=`` of the book's pages, with the heading it names."""
        if self._labels is None:
            self._labels = {}
            for doc in self.docs:
                md, nb = self.root / f"{doc}.md", self.root / f"{doc}.ipynb"
                if md.exists():
                    text = md.read_text()
                elif nb.exists():
                    text = "\n\n".join(c.source for c in nbformat.read(nb, as_version=4).cells
                                       if c.cell_type == "markdown")
                else:
                    continue
                lines = text.splitlines()
                for i, line in enumerate(lines):
                    m = LABEL_LINE.match(line)
                    if not m:
                        continue
                    nxt = next((ln for ln in lines[i + 1:] if ln.strip()), "")
                    head = re.match(r"^#+\s+(.+?)\s*$", nxt)
                    self._labels[m.group(1)] = (doc, _plain(head.group(1)) if head else m.group(1))
                for m in re.finditer(r"^\s*:name:\s*(\S+)", text, re.M):  # a directive's :name:
                    self._labels.setdefault(m.group(1), (doc, m.group(1)))
        return self._labels

    # --- the bibliography
    def bib(self) -> dict[str, tuple[str, str]]:
        """``{key: (authors, year)}`` from ``book/references.bib``, authors as sphinxcontrib-bibtex
        writes them: "Last", "Last and Last", "Last et al."."""
        if self._bib is None:
            from pybtex.database import parse_file  # the book's tooling (sphinxcontrib-bibtex)

            self._bib = {}
            for key, entry in parse_file(str(self.root / "book" / "references.bib")).entries.items():
                people = entry.persons.get("author") or entry.persons.get("editor") or []
                names = [_plain(" ".join(p.prelast_names + p.last_names)) for p in people]
                if not names:
                    names = [_plain(entry.fields.get("organization", entry.fields.get("title", key)))]
                who = names[0] if len(names) == 1 else (
                    f"{names[0]} and {names[1]}" if len(names) == 2 else f"{names[0]} et al.")
                self._bib[key] = (who, _plain(entry.fields.get("year", "n.d.")))
        return self._bib

    def cite(self, keys: str, parenthetical: bool) -> str:
        items = []
        for key in [k.strip() for k in keys.split(",") if k.strip()]:
            if key not in self.bib():
                raise ColabError(f"{{cite}} names {key!r}, which book/references.bib does not hold")
            who, year = self.bib()[key]
            items.append(f"{who}, {year}" if parenthetical else f"{who} ({year})")
        text = "; ".join(items)
        return f"([{text}]({self.page_url('book/references')}))" if parenthetical \
            else f"[{text}]({self.page_url('book/references')})"

    # --- python objects (no autodoc: the book shows them as code)
    def py(self, role: str, target: str) -> str:
        shown_name = target.lstrip("~.")
        if target.startswith("~"):
            shown_name = shown_name.rsplit(".", 1)[-1]
        if role in ("func", "meth"):
            shown_name += "()"
        parts = target.lstrip("~.").split(".")
        for n in range(len(parts), 0, -1):  # the longest prefix that is a module of the repository
            base = "/".join(parts[:n])
            for path in (f"{base}.py", f"{base}/__init__.py"):
                if (self.root / path).is_file():
                    return f"[`{shown_name}`]({self.blob_url(path)})"
        return f"`{shown_name}`"


def _strip_front_matter(text: str) -> str:
    return re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)


def _plain(text: str) -> str:
    """A title or a bibliography field without braces, roles or emphasis marks."""
    text = ROLE.sub(lambda m: m.group(2), text)
    return re.sub(r"[{}]", "", text).strip()


# ------------------------------------------------------------------------------------- the markdown


def format_glued(value, spec: str) -> str:
    """As myst-nb's ``{glue:text}`` shows a value: ``format(value, spec)``, the value converted to
    the type the spec's last character asks for (myst_nb.core.variables.format_plain_text)."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (SyntaxError, ValueError):
            pass
    if not spec:
        return str(value)
    kind = spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, spec)


class Page:
    """One notebook's Markdown, rewritten for Colab."""

    def __init__(self, book: Book, chapter: str, glued: dict, base: str = "notebooks"):
        self.book, self.chapter, self.glued, self.base = book, chapter, glued, base
        self.attachments: dict = {}

    # --- roles
    def glue(self, text: str, kind: str) -> str:
        m = re.match(r"^(?:(.+?)::)?([^:]+?)(?::(.*))?$", text.strip())
        doc, key, spec = m.group(1), m.group(2), m.group(3) or ""
        values = self.glued if doc is None else _glue_of(self.book.root, Path(doc).stem)
        if key not in values:
            raise ColabError(f"{self.chapter}: the prose glues {key!r}, which neither "
                             f"results/{Path(doc or self.chapter).stem}.json nor the notebook records")
        return format_glued(values[key], spec if kind == "text" else "")

    def role(self, m: re.Match) -> str:
        name, text = m.group(1), m.group(2)
        name = name.removeprefix("py:")
        if name in ("glue", "glue:", "glue:any", "glue:text", "glue:md"):
            return self.glue(text, "text" if name == "glue:text" else "any")
        if name in ("cite", "cite:p", "cite:ps", "cite:cp"):
            return self.book.cite(text, parenthetical=True) if name != "cite" else self.book.cite(text, False)
        if name.startswith("cite:"):  # cite:t, cite:ts, cite:ct, cite:year…
            if name in ("cite:year", "cite:yearpar"):
                years = ", ".join(self.book.bib()[k.strip()][1] for k in text.split(","))
                return f"({years})" if name == "cite:yearpar" else years
            return self.book.cite(text, parenthetical=False)
        if name == "doc":
            shown, target = _titled(text)
            doc = posixpath.normpath(target.lstrip("/") if target.startswith("/")
                                     else posixpath.join(self.base, target))
            doc = re.sub(r"\.(ipynb|md)$", "", doc)
            if doc not in self.book.docs:
                raise ColabError(f"{self.chapter}: {{doc}} names {target!r}, not a page of the book")
            return f"[{shown or self.book.title(doc)}]({self.book.page_url(doc)})"
        if name in ("ref", "numref", "eq", "std:ref"):
            shown, label = _titled(text)
            if label not in self.book.labels():
                raise ColabError(f"{self.chapter}: {{{name}}} names the label {label!r}, which no page defines")
            doc, title = self.book.labels()[label]
            if name == "eq":
                shown = f"({label})"
            return f"[{shown or title}]({self.book.page_url(doc, label)})"
        if name == "math":
            return f"${text}$"
        if name in ("download",):
            shown, target = _titled(text)
            return f"[{shown or target}]({self.book.absolute(target, self.base)})"
        if name in PY_ROLES:
            return self.book.py(name, text)
        if name in ("term", "abbr", "sup", "sub", "guilabel", "menuselection", "kbd", "file",
                    "command", "program", "samp", "code", "literal"):
            shown, _ = _titled(text)
            return f"`{shown or text}`" if name in ("file", "command", "program", "samp", "code",
                                                     "literal", "kbd") else (shown or text)
        raise ColabError(f"{self.chapter}: the role {{{name}}} has no Colab rendering in kdbook/colab.py")

    # --- inline text: roles and links
    def inline(self, text: str) -> str:
        out, pos = [], 0
        # inline code spans are kept as they are; a role is {name} followed by one
        for m in re.finditer(r"(\{[A-Za-z][\w:.+-]*\})?(`+)(.+?)(?<!`)\2(?!`)", text, re.S):
            out.append(self.links(text[pos:m.start()]))
            if m.group(1) and len(m.group(2)) == 1:
                out.append(self.role(ROLE.match(m.group(0))))
            else:
                out.append(m.group(0))
            pos = m.end()
        out.append(self.links(text[pos:]))
        return "".join(out)

    def links(self, text: str) -> str:
        text = BADGE.sub(lambda m: f"[![Open in Colab]({COLAB_BADGE})]({colab_url(self.chapter, self.book.root)})",
                         text)
        text = re.sub(r"\]\(\s*<?([^)\s>]+)>?((?:\s+\"[^\"]*\")?\s*)\)",
                      lambda m: f"]({self.book.absolute(m.group(1), self.base)}{m.group(2)})", text)
        text = re.sub(r"^(\s*\[[^\]]+\]:\s*)(\S+)", lambda m: m.group(1) + self.book.absolute(m.group(2), self.base),
                      text, flags=re.M)  # reference-style link definitions
        return html_links(text, lambda u: self.book.absolute(u, self.base))

    # --- blocks
    def markdown(self, source: str) -> str:
        lines, out, i = source.split("\n"), [], 0
        para: list[str] = []

        def flush():
            if para:
                out.append(self.inline("\n".join(para)))
                para.clear()

        while i < len(lines):
            line = lines[i]
            if LABEL_LINE.match(line):
                i += 1
                continue
            if re.match(r"^\s*%", line) or line.strip() == "+++":  # MyST comments, block breaks
                i += 1
                continue
            fence = FENCE.match(line)
            if fence:
                indent, mark, info = fence.groups()
                end = _closing(lines, i, mark)
                body = lines[i + 1:end]
                flush()
                directive = re.match(r"^\{([\w:.-]+)\}\s*(.*)$", info.strip())
                if directive:
                    out.append(self.directive(directive.group(1), directive.group(2), body, indent))
                elif mark.startswith(":"):  # a colon fence without a directive: its body
                    out.append(self.markdown("\n".join(body)))
                else:
                    out.append("\n".join(lines[i:end + 1]))  # a code block, as it is
                i = end + 1
                continue
            para.append(line)
            i += 1
        flush()
        return re.sub(r"\n{3,}", "\n\n", "\n".join(out))

    def directive(self, name: str, arg: str, body: list[str], indent: str = "") -> str:
        options, body = _options(body)
        text = "\n".join(ln[len(indent):] if ln.startswith(indent) else ln for ln in body)
        name = name.lower()
        if name in ("math",):
            return f"{indent}$$\n{text.strip()}\n$$"
        if name in ("code", "code-block", "sourcecode", "code-cell"):
            return f"{indent}```{arg.strip()}\n{text}\n```"
        if name in ("toctree", "tableofcontents", "bibliography", "glossary", "contents"):
            return ""
        if name in ("image", "figure"):
            alt = options.get("alt", arg.strip())
            img = f"![{alt}]({self.book.absolute(arg.strip(), self.base)})"
            caption = self.markdown(text).strip()
            return f"{img}\n\n*{caption}*" if caption else img
        if name in ("glue:figure", "glue", "glue:any"):
            return self.glued_figure(arg.strip(), self.markdown(text).strip())
        if name == "raw":
            return text
        label = "See also" if name == "seealso" else name.split(":")[-1].replace("-", " ").capitalize()
        if name in ("admonition", "dropdown", "topic", "sidebar", "margin", "tab-item", "card"):
            title = self.inline(arg.strip()) if arg.strip() else label
        elif name in ADMONITIONS:  # {note} text: the argument is the first line of the body
            title, text = label, (arg + "\n" + text if arg.strip() else text)
        else:
            title = label + (f": {self.inline(arg.strip())}" if arg.strip() else "")
        inner = self.markdown(text).strip("\n")
        quoted = "\n".join(f"> {ln}" if ln.strip() else ">" for ln in inner.split("\n"))
        return f"> **{title}**\n>\n{quoted}" if inner.strip() else f"> **{title}**"

    def glued_figure(self, key: str, caption: str) -> str:
        for mime, ext in (("image/png", "png"), ("image/jpeg", "jpg"), ("image/svg+xml", "svg")):
            data = self.glued_outputs.get(key, {}).get(RECORD_MIME + mime)
            if data is not None:
                name = f"{key}.{ext}"
                self.attachments[name] = {mime: data}
                img = f"![{key}](attachment:{name})"
                return f"{img}\n\n*{caption}*" if caption else img
        raise ColabError(f"{self.chapter}: no glued image {key!r} in the notebook's outputs")

    glued_outputs: dict = {}


def _closing(lines: list[str], start: int, mark: str) -> int:
    """The index of the line that closes the fence opened at ``start`` (the last line if none)."""
    char, depth = mark[0], 0
    for j in range(start + 1, len(lines)):
        m = FENCE.match(lines[j])
        if not m or m.group(2)[0] != char:
            continue
        if m.group(3).strip() == "" and len(m.group(2)) >= len(mark) and depth == 0:
            return j
        if m.group(3).strip().startswith("{") and char == ":" and len(m.group(2)) >= len(mark):
            depth += 1  # a nested colon directive with the same fence length
        elif m.group(3).strip() == "" and depth:
            depth -= 1
    return len(lines)


def _options(body: list[str]) -> tuple[dict, list[str]]:
    """A directive's ``:key: value`` lines (and ``---`` YAML block) at the top of its body."""
    options, i = {}, 0
    if body and body[0].strip() == "---":
        end = next((j for j in range(1, len(body)) if body[j].strip() == "---"), None)
        if end is not None:
            import yaml

            options = yaml.safe_load("\n".join(body[1:end])) or {}
            i = end + 1
    while i < len(body):
        m = re.match(r"^\s*:([\w-]+):\s*(.*)$", body[i])
        if not m:
            break
        options[m.group(1)] = m.group(2)
        i += 1
    return options, body[i:]


def _titled(text: str) -> tuple[str, str]:
    m = TITLED.match(text.strip())
    return (m.group(1).strip(), m.group(2).strip()) if m else ("", text.strip())


def html_links(text: str, fix) -> str:
    """``src=`` and ``href=`` attributes of HTML in ``text`` passed through ``fix``."""
    return re.sub(r"""(\b(?:src|href)\s*=\s*)(["'])(.*?)\2""",
                  lambda m: f"{m.group(1)}{m.group(2)}{fix(m.group(3))}{m.group(2)}", text, flags=re.I)


# -------------------------------------------------------------------------------------- the notebook


def _records(nb) -> dict:
    """``{name: {mime: data}}`` of the notebook's papermill/myst-nb glue records."""
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            name = (o.get("metadata") or {}).get("scrapbook", {}).get("name")
            if name is not None:
                out[name] = dict(o.get("data") or {})
    return out


def _record_values(nb) -> dict:
    """``{name: text/plain}`` of the values the notebook glued (what myst-nb pastes)."""
    return {name: data[RECORD_MIME + "text/plain"] for name, data in _records(nb).items()
            if RECORD_MIME + "text/plain" in data}


def _glue_of(root: Path, chapter: str, nb=None) -> dict:
    """What the chapter's prose may glue: its results (:func:`kdbook.results.glue_values`), else the
    values the notebook itself recorded."""
    if nb is None and (root / "notebooks" / f"{chapter}.ipynb").exists():
        nb = nbformat.read(root / "notebooks" / f"{chapter}.ipynb", as_version=4)
    values = {} if nb is None else _record_values(nb)
    results = root / "results" / f"{chapter}.json"
    if results.exists():
        values.update(glue_values(json.loads(results.read_text())))
    return values


def _keep_output(out, tags: list[str]) -> object | None:
    """The output as Colab shows it, or None: records, stderr and machine logs go."""
    out = copy.deepcopy(out)
    kind = out.get("output_type")
    if kind == "stream":
        if out.get("name") == "stderr":
            return None
        text = out.get("text", "")
        text = "".join(text) if isinstance(text, list) else text
        kept = [ln for ln in text.splitlines(keepends=True) if not MACHINE_LOG.match(ln.rstrip("\n"))]
        if not "".join(kept).strip():
            return None
        out["text"] = "".join(kept)
        return out
    if kind in ("display_data", "execute_result"):
        data = {k: v for k, v in (out.get("data") or {}).items() if not k.startswith(RECORD_MIME)}
        if not data:
            return None
        out["data"] = data
        meta = {k: v for k, v in (out.get("metadata") or {}).items() if k != "scrapbook"}
        out["metadata"] = meta
    return out


def _fix_output_links(out, fix) -> None:
    for mime in ("text/html", "text/markdown"):
        value = (out.get("data") or {}).get(mime)
        if value is None:
            continue
        value = "".join(value) if isinstance(value, list) else value
        if mime == "text/markdown":
            value = re.sub(r"\]\(\s*([^)\s]+)\)", lambda m: f"]({fix(m.group(1))})", value)
        out["data"][mime] = html_links(value, fix)


def colab_notebook(chapter: str, root: Path | None = None, source=None, glued: dict | None = None,
                   book: Book | None = None):
    """The Colab copy of ``notebooks/<chapter>.ipynb`` (an nbformat notebook), or of the notebook
    ``source`` standing for it, its prose glued from ``glued`` (default: the chapter's results)."""
    root = root or repo_root()
    book = book or Book(root)
    src = source if source is not None else nbformat.read(root / "notebooks" / f"{chapter}.ipynb", as_version=4)
    nb = copy.deepcopy(src)
    page = Page(book, chapter, _glue_of(root, chapter, src) if glued is None else {**_record_values(src), **glued})
    page.glued_outputs = _records(src)
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    cells = []
    for cell in nb.cells:
        tags = list(cell.metadata.get("tags", []))
        if "injected-parameters" in tags:
            continue
        for key in ("papermill", "execution"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "markdown":
            page.attachments = {}
            cell.source = page.markdown(cell.source)
            if page.attachments:
                cell["attachments"] = {**cell.get("attachments", {}), **page.attachments}
        elif cell.cell_type == "code":
            if "remove-output" in tags or "remove-cell" in tags:
                cell.outputs = []  # the book shows none (pip's log in the install cell)
            else:
                cell.outputs = [o for o in (_keep_output(o, tags) for o in cell.outputs) if o is not None]
            for o in cell.outputs:
                _fix_output_links(o, lambda u: book.absolute(u, "notebooks"))
        cells.append(cell)
    nb.cells = cells
    _add_provenance(nb, chapter, book)
    return nb


def _add_provenance(nb, chapter: str, book: Book) -> None:
    """After the badge in the first cell: where this copy comes from, and that its outputs are the book's."""
    first = nb.cells[0] if nb.cells and nb.cells[0].cell_type == "markdown" else None
    note = (f"*The Colab copy of [this chapter]({book.page_url('notebooks/' + chapter)}) of the book: "
            f"its outputs are those of the book's recorded run; running it makes your own.*")
    if first is None:
        return
    lines = first.source.split("\n")
    at = next((i for i, ln in enumerate(lines) if "colab-badge.svg" in ln), None)
    if at is None:
        return
    lines[at + 1:at + 1] = ["", note]
    first.source = "\n".join(lines)


def dumps(nb) -> str:
    return nbformat.writes(nb) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generate(names: list[str] | None = None, root: Path | None = None, *, check: bool = False) -> list[str]:
    """Write ``colab/<chapter>.ipynb`` for each chapter (default: all of ``_toc.yml``); return the
    chapters whose copy changed (with ``check``: would change; nothing is written)."""
    root = root or repo_root()
    book, changed = Book(root), []
    for chapter in names or chapters(root):
        text = dumps(colab_notebook(chapter, root, book=book))
        target = root / "colab" / f"{chapter}.ipynb"
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        changed.append(chapter)
        if not check:
            _atomic_write(target, text)
    return changed


def update_badges(root: Path | None = None) -> list[str]:
    """Point the badge of each ``notebooks/<chapter>.ipynb`` at its Colab copy, editing the file's
    text (nothing else of the notebook changes); return the chapters changed."""
    root = root or repo_root()
    repo, branch = _repository(root)
    changed = []
    for chapter in chapters(root):
        path = root / "notebooks" / f"{chapter}.ipynb"
        text = path.read_text(encoding="utf-8")
        new = re.sub(rf"https://colab\.research\.google\.com/github/{re.escape(repo)}/blob/[\w.-]+/"
                     rf"notebooks/{re.escape(chapter)}\.ipynb", colab_url(chapter, root), text)
        if new != text:
            _atomic_write(path, new)
            changed.append(chapter)
    return changed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kdbook.colab", description=__doc__.split("\n\n")[0])
    ap.add_argument("chapters", nargs="*", help="chapter names (default: every chapter of _toc.yml)")
    ap.add_argument("--check", action="store_true", help="write nothing; fail if a copy is not current")
    ap.add_argument("--update-badges", action="store_true",
                    help="point the badge of each notebooks/<chapter>.ipynb at colab/<chapter>.ipynb")
    args = ap.parse_args(argv)
    if args.update_badges:
        done = update_badges()
        print(f"badges updated in {len(done)} notebooks" + (f": {', '.join(done)}" if done else ""))
        return 0
    failed, changed = [], []
    for chapter in args.chapters or chapters():
        try:
            changed += generate([chapter], check=args.check)  # one by one: a failure stops no other
        except ColabError as err:
            failed.append(chapter)
            print(f"colab copy not written: {err}", file=sys.stderr)
    verb = "not current" if args.check else "written"
    print(f"colab/: {len(changed)} {verb}" + (f" ({', '.join(changed)})" if changed else ""))
    return 1 if failed or (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
