"""A chapter run as a Colab user runs it: outside the repository, from the installed package only.

The distribution (kdhelpers and kdbook) is built as a wheel, from a copy of its sources, and installed
with ``--no-deps`` into a fresh venv whose dependencies come from this project's venv through a
``.pth`` file (torch is not installed again). One Colab copy (``colab/quickstart.ipynb``, as kdbook.colab
generates it from the current chapter) is written into an empty folder and run there with papermill in the smoke profile, with the book's shipped
teachers served from a ``file://`` URL (``KD_TEACHERS_URL``, kdbook/teachers.py) and a model cache
in a temporary folder. The run must finish, and import kdhelpers and kdbook from the wheel.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from kdbook import colab

CHAPTER = "quickstart"
SOURCES = ("pyproject.toml", "README.md", "kdhelpers", "kdbook")
KERNEL = "kd-outside"
PROBE = ('import sys, kdhelpers, kdbook\n'
         'print("KD_ORIGIN", kdhelpers.__file__, kdbook.__file__, sys.executable, sep="\\n")')


def _run(cmd, **kw):
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """A fresh venv with the wheel installed: ``(python, site-packages, tmp folder)``."""
    tmp = tmp_path_factory.mktemp("outside")
    src = tmp / "src"  # the wheel is built from a copy: setuptools leaves build/ and egg-info behind
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", src, "-w", tmp / "wheel"])
    wheel = next((tmp / "wheel").glob("kdhelpers-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "kdhelpers/__init__.py" in names and "kdbook/__init__.py" in names and "kdbook/plans.json" in names, names

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # the project's dependencies (torch, papermill, ipykernel…), after the venv's own site-packages;
    # a path in a .pth file is not a site dir, so the project's editable install is not seen
    (site / "kd_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel])
    # a kernel of this venv, found by papermill run from it (sys.prefix/share/jupyter)
    kernel = venv / "share" / "jupyter" / "kernels" / KERNEL
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "outside the repository", "language": "python"}))
    return python, site, tmp


def _env(tmp: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KD_", "PYTHON", "JUPYTER", "VIRTUAL_ENV"))}
    env.update({"KD_CACHE_DIR": str(tmp / "cache"), "KD_TEACHERS_URL": f"file://{ROOT}/teachers",
                "KD_PROGRESS": "0", "KD_AMP": "0", "KD_OFFLINE": "0",  # file:// is no network
                "JUPYTER_PATH": str(tmp / "venv" / "share" / "jupyter"), **extra})
    if os.environ.get("KD_DATA_DIR"):
        env["KD_DATA_DIR"] = os.environ["KD_DATA_DIR"]
    return env


def _outside_root(path: str) -> bool:
    return not Path(path).resolve().is_relative_to(ROOT)


def test_the_wheel_is_what_the_venv_imports(outside):
    python, site, tmp = outside
    out = _run([python, "-c", PROBE], cwd=tmp, env=_env(tmp)).stdout
    kdhelpers_file, kdbook_file, _ = out.split("KD_ORIGIN\n", 1)[1].split("\n")[:3]
    assert Path(kdhelpers_file).is_relative_to(site) and Path(kdbook_file).is_relative_to(site), out


def test_a_shipped_teacher_comes_from_the_file_url_and_matches_its_sha256(outside):
    python, site, tmp = outside
    code = ("from pathlib import Path\nfrom kdbook import teachers\n"
            "m = teachers.manifest()\nassert m, 'no manifest at ' + teachers.base_url()\n"
            "e = min(m.values(), key=lambda e: e['bytes'])\n"
            f"p = teachers._file_for(e, Path({str(tmp / 'cache')!r}))\n"
            "assert teachers.sha256_of(p) == e['sha256']\nprint('TEACHER', p)")
    out = _run([python, "-c", code], cwd=tmp, env=_env(tmp)).stdout
    path = out.split("TEACHER ", 1)[1].strip()
    assert Path(path).is_relative_to(tmp / "cache" / "book-teachers"), \
        f"the teacher was read from {path}, not downloaded from {ROOT}/teachers through the URL"


def test_a_colab_copy_runs_in_an_empty_folder_from_the_wheel(outside):
    python, site, tmp = outside
    work = tmp / "empty"
    work.mkdir()
    try:  # the copy as `make colab` writes it from the current chapter
        nb = colab.colab_notebook(CHAPTER, ROOT)
    except colab.ColabError as err:  # prose ahead of its results: the code is what this test runs
        print(f"colab/{CHAPTER}.ipynb cannot be generated ({err}); running notebooks/{CHAPTER}.ipynb")
        nb = nbformat.read(ROOT / "notebooks" / f"{CHAPTER}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    copy = work / f"{CHAPTER}.ipynb"
    nbformat.write(nb, copy)
    done = subprocess.run([python, "-m", "papermill", copy.name, "out.ipynb", "-p", "profile", "smoke",
                           "-k", KERNEL, "--cwd", str(work), "--no-progress-bar"],
                          cwd=work, env=_env(tmp), capture_output=True, text=True, timeout=1800)
    ran = nbformat.read(work / "out.ipynb", as_version=4) if (work / "out.ipynb").exists() else None
    errors = [o for c in (ran.cells if ran else []) if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert done.returncode == 0 and not errors, (
        f"{copy.name} failed outside the repository:\n"
        + ("\n".join("\n".join(e.traceback[-6:]) for e in errors) or done.stderr[-4000:]))
    text = "".join(o.get("text", "") for o in ran.cells[-1].outputs)
    origin = text.split("KD_ORIGIN\n", 1)[1].split("\n")[:3]
    assert all(_outside_root(p) and Path(p).is_relative_to(site) for p in origin[:2]), \
        f"kdhelpers/kdbook imported from {origin[:2]}, not from the wheel in {site}"
    assert Path(origin[2]).parent == python.parent, f"the kernel ran {origin[2]}, not {python}"
    results = json.loads((work / "results" / "smoke" / f"{CHAPTER}.json").read_text())  # kdbook.results.results_dir
    assert results["profile"] == "smoke" and results["metrics"]
