"""A chapter's own definitions, read from its notebook: what tests and benchmarks import of it.

A chapter writes its own functions, losses and models in visible cells of its notebook, where a reader
meets them. The cells that only define (imports, functions, classes, constants: no run, no data, no
training) carry the cell tag ``define``; :func:`load` executes those cells, in order, in a fresh
module, so a test can check a chapter's function without running the chapter::

    from kdbook.chapter import load
    T = load("temperature")
    T.softmax_t(logits, 2.0)

Each call builds a new module (nothing is memoised here), which replaces the last one in ``sys.modules``;
a test file calls it once at import.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
TAG = "define"


def define_cells(notebook: Path) -> list[str]:
    """The source of ``notebook``'s code cells tagged ``define``, in order."""
    nb = nbformat.read(str(notebook), as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and TAG in c.metadata.get("tags", [])]


def load(name: str, root: Path | None = None) -> types.ModuleType:
    """The definitions of chapter ``name`` (``notebooks/<name>.ipynb``, or ``drafts/<name>.ipynb``)
    as a module named ``chapter_<name>``."""
    root = Path(root) if root is not None else ROOT
    path = next((p for p in (root / "notebooks" / f"{name}.ipynb", root / "drafts" / f"{name}.ipynb")
                 if p.exists()), None)
    if path is None:
        raise FileNotFoundError(f"no chapter {name!r}: expected notebooks/{name}.ipynb (or drafts/)")
    cells = define_cells(path)
    if not cells:
        raise ValueError(f"{path.relative_to(root)} has no cell tagged {TAG!r}: tag the cells that define "
                         "the chapter's functions (and only define) to import them")
    module = types.ModuleType(f"chapter_{name}", f"The definitions of {path.name}.")
    module.__file__ = str(path)
    # in sys.modules while its cells run, as an imported module is: dataclasses and pickling look it up there
    sys.modules[module.__name__] = module
    for i, source in enumerate(cells):
        if source.lstrip().startswith(("%", "!")):
            raise ValueError(f"{path.name}: a cell tagged {TAG!r} runs a shell or magic command; "
                             "keep such commands out of definition cells")
        # dont_inherit: this file's `from __future__ import annotations` must not change the chapter's code
        exec(compile(source, f"{path.name}[define {i}]", "exec", dont_inherit=True), module.__dict__)
    return module
