"""What produced a chapter's results, and whether it still would.

:func:`of_run` is recorded in ``results/<chapter>.json`` by :func:`kdhelpers.record`: a hash of the
notebook's code cells, the source hash of every ``kdhelpers`` module the run imported, the profile,
and the identity of every data set it read (file names and sizes). :func:`stale` compares a
committed results file with the repository as it is now and says what changed; ``make reproduce``
without ``NOTEBOOKS`` re-runs only those chapters, ``make test`` lists them (and fails when a
chapter's notebook code is not the code that produced its results), and the book marks them.

Command line: ``python -m kdbook.fingerprint [--names]`` lists the stale chapters of the table
of contents (``--names``: their notebook paths only, for the Makefile).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import nbformat

from kdhelpers.data import READ as DATA, files_identity  # noqa: F401  (filled as the run reads data)


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()[:16]


def notebook_code(path: Path) -> str:
    """A hash of a notebook's code cells, in order, without papermill's injected parameters (the
    profile a run was given) and without outputs."""
    nb = nbformat.read(str(path), as_version=4)
    cells = [c.source for c in nb.cells
             if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
    return _sha("\n\x00".join(cells))


def modules() -> dict[str, str]:
    """The source hash of every ``kdhelpers`` module this process imported."""
    out = {}
    for name, module in sorted(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name.split(".")[0] in ("kdhelpers", "kdbook") and path and path.endswith(".py"):
            out[name] = _sha(Path(path).read_bytes())
    return out


def of_run(notebook: Path | None, profile: str) -> dict:
    """The fingerprint of the run now ending (``notebook``: its file, if known)."""
    code = notebook_code(notebook) if notebook is not None and notebook.exists() else None
    return {"notebook_code": code, "kdhelpers": modules(), "profile": profile, "data": dict(sorted(DATA.items()))}


def _module_file(root: Path, name: str) -> Path:
    parts = name.split(".")
    base = root.joinpath(*parts)
    return base / "__init__.py" if (base / "__init__.py").exists() else base.with_suffix(".py")


def changes(root: Path, chapter: str) -> list[str]:
    """What changed since ``results/<chapter>.json`` was recorded: empty when the chapter is
    current. A results file without a fingerprint says so."""
    root = Path(root)
    res = json.loads((root / "results" / f"{chapter}.json").read_text())
    fp = res.get("fingerprint")
    if not fp:
        return ["no fingerprint: recorded before runs recorded what produced them"]
    out = []
    nb = root / "notebooks" / f"{chapter}.ipynb"
    if fp.get("notebook_code") and nb.exists() and notebook_code(nb) != fp["notebook_code"]:
        out.append("the notebook's code")
    for name, digest in fp.get("kdhelpers", {}).items():
        f = _module_file(root, name)
        if not f.exists():
            out.append(f"{name} (removed)")
        elif _sha(f.read_bytes()) != digest:
            out.append(name)
    if res.get("profile") != fp.get("profile"):
        out.append("the profile")
    return out


def chapters(root: Path) -> list[str]:
    """The chapters of the table of contents that have a results file."""
    import yaml  # optional: PyYAML comes with the book's tooling, not with kdhelpers

    found = []

    def walk(node):
        if isinstance(node, dict):
            f = str(node.get("file", ""))
            if f.startswith("notebooks/"):
                found.append(f.removeprefix("notebooks/"))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load((Path(root) / "_toc.yml").read_text()))
    return [c for c in found if (Path(root) / "results" / f"{c}.json").exists()]


def stale(root: Path) -> dict[str, list[str]]:
    """``{chapter: what changed}`` for every chapter of the book that is not current."""
    return {c: ch for c in chapters(root) if (ch := changes(root, c))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m kdbook.fingerprint", description=__doc__.split("\n\n")[0])
    p.add_argument("--names", action="store_true", help="print only the stale chapters' notebook paths")
    p.add_argument("--root", type=Path, default=Path("."))
    a = p.parse_args(argv)
    found = stale(a.root)
    if a.names:
        print(" ".join(f"notebooks/{c}.ipynb" for c in found))
        return 0
    if not found:
        print("every chapter is current")
    for c, what in found.items():
        print(f"{c}: {'; '.join(what)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
