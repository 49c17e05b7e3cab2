import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative: str):
    """A script of the repository that is not a package module (``benchmarks/x.py``, ``book/_ext/x.py``),
    imported from its file."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Tests train into their own model cache, never the user's; no progress bars in logs; float32
    (the same numbers on CPUs with and without bf16) unless a test asks for mixed precision; never
    a dry run unless a test asks for one."""
    os.environ["KD_CACHE_DIR"] = str(tmp_path_factory.mktemp("kdcache"))
    os.environ["KD_PROGRESS"] = "0"
    os.environ["KD_AMP"] = "0"
    os.environ["KD_DRY_RUN"] = "0"
    os.environ.pop("KD_RESULTS_DIR", None)
    yield


@pytest.fixture(autouse=True)
def _fresh_run():
    """Each test starts with a fresh default run: no ledger, models or precision left by another."""
    from kdbook.run import Run, activate

    activate(Run())
    yield
