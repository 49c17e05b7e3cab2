import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Tests train into their own model cache, never the user's; no progress bars in logs."""
    os.environ["KD_CACHE_DIR"] = str(tmp_path_factory.mktemp("kdcache"))
    os.environ["KD_PROGRESS"] = "0"
    yield
