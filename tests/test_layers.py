"""Two layers: the method (kdhelpers) below the book's machinery (kdbook). The method never imports
the machinery, so a reader can use it alone; the machinery imports the method."""
import ast
import subprocess
import sys

from conftest import ROOT


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def method_files():
    return list((ROOT / "kdhelpers").rglob("*.py"))


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


# The method stays small enough to read (issue 44): what two chapters share, no more.
MAX_PACKAGE_LINES, MAX_MODULE_LINES, MAX_FUNCTION_LINES = 2500, 300, 50


def size_problems(files):
    """Every module over MAX_MODULE_LINES and function over MAX_FUNCTION_LINES lines (docstring included)
    in ``files``, and the package total if over MAX_PACKAGE_LINES."""
    problems, total = [], 0
    for p in files:
        text = p.read_text()
        n = len(text.splitlines())
        total += n
        if n > MAX_MODULE_LINES:
            problems.append(f"{p.name}: {n} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    problems.append(f"{p.name}: {node.name} has {length} lines (at most {MAX_FUNCTION_LINES})")
    if total > MAX_PACKAGE_LINES:
        problems.append(f"kdhelpers: {total} lines (at most {MAX_PACKAGE_LINES}); move what one chapter uses "
                        "into its notebook")
    return problems


def test_the_method_is_small():
    assert not size_problems(method_files())


def test_the_size_check_sees_a_long_function(tmp_path):
    long = tmp_path / "long.py"
    long.write_text("def f():\n" + "    x = 1\n" * MAX_FUNCTION_LINES)
    assert size_problems([long]) == [f"long.py: f has {MAX_FUNCTION_LINES + 1} lines (at most {MAX_FUNCTION_LINES})"]
