"""Two layers: the method (kdhelpers) below the book's machinery (kdbook). The method never imports
the machinery, so a reader can use it alone; the machinery imports the method."""
import ast
import subprocess
import sys

from conftest import ROOT

# chapter code not yet moved into its notebook (issue 44): it uses both layers, and goes away
NOT_YET_MOVED = ROOT / "kdhelpers" / "chapters"


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def method_files():
    return [p for p in (ROOT / "kdhelpers").rglob("*.py") if NOT_YET_MOVED not in p.parents]


def upward_imports(files):
    return [f"{p.name} imports {m}" for p in files for m in _imports(p) if m == "kdbook" or m.startswith("kdbook.")]


def test_the_method_imports_nothing_of_the_machinery():
    assert not upward_imports(method_files())


def test_the_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nfrom kdbook.cache import cache_key\n")
    assert upward_imports([bad]) == ["bad.py imports kdbook.cache"]


def test_importing_the_method_loads_no_machinery_and_sets_no_hook():
    code = ("import sys, torch.optim.optimizer as o; import kdhelpers; "
            "assert not [m for m in sys.modules if m.startswith('kdbook')], 'kdbook imported'; "
            "assert not o._global_optimizer_pre_hooks and not o._global_optimizer_post_hooks, 'a global hook'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
