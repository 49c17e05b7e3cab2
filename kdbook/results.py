"""One place where a notebook's numbers go: results/<notebook>.json and myst_nb glue."""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version as _version
from pathlib import Path

import torch
import torchvision

from kdhelpers import dryrun
from kdhelpers.device import default_device, precision_name, seed_everything
from .profiles import auto_profile, resolve_profile
from . import fingerprint
from .cache import atomic_write_text
from .cost import device_rate
from .run import Run, activate, current
from .hypotheses import describe, verdict_words
from .render import verdicts_html
from .plotting import set_style


try:
    VERSION = _version("kdhelpers")  # the one version number: pyproject.toml's
except PackageNotFoundError:  # a plain checkout on sys.path (e.g. the benchmarks)
    VERSION = "0+unknown"


def setup(notebook: str, profile: str = "auto", seed: int = 0) -> Run:
    """Resolve the profile, pick the device and precision, seed everything, style plots; return the
    run object (:class:`kdbook.run.Run`) the chapter hands its helpers, also made the
    current one, which :func:`record` reads. The smoke profile computes in float32 on every machine,
    so its numbers can be compared with the committed smoke reference whatever the CPU."""
    why = None
    if isinstance(profile, str) and profile.strip().lower() == "auto":
        # the largest profile whose training fits the time budget on this device (kdbook.profiles)
        profile, why = auto_profile(notebook, lambda: device_rate(default_device()))
    profile = resolve_profile(profile)
    run = activate(Run(notebook, profile, seed, default_device(), dry_run=dryrun.enabled()))
    seed_everything(seed)
    set_style()
    print(f"{notebook}: profile={run.profile} seed={seed} device={run.device} "
          f"({precision_name(run.device, run.precision)}) torch={torch.__version__}")
    if why is not None:
        print(f"profile 'auto' chose {why}")
    if run.dry_run:
        print("DRY RUN (KD_DRY_RUN=1): every loop stops after 2 batches; the numbers mean nothing "
              "and results go to _build/dry-run/, never to results/")
    return run


def project_root() -> Path | None:
    """The folder holding ``_toc.yml``, looking up from the working directory."""
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        if (p / "_toc.yml").exists():
            return p
    return None


def results_dir(profile: str = "cpu") -> Path:
    """Where a run of ``profile`` writes its results: ``$KD_RESULTS_DIR``, else ``<project>/results``
    for the ``cpu`` profile (the committed runs the book shows) and ``<project>/results/<profile>``
    for any other, so a ``full`` run on a GPU runner never overwrites the cpu results and is compared
    with earlier full runs only; without a project (e.g. in Colab) the same under ``./results``.
    A dry run never writes to ``results/``: without ``$KD_RESULTS_DIR`` it writes to
    ``<project>/_build/dry-run/results``."""
    env = os.environ.get("KD_RESULTS_DIR")
    if env:
        return Path(env)
    base = project_root() or Path.cwd()
    if dryrun.enabled():
        return base / "_build" / "dry-run" / "results"
    return base / "results" if profile == "cpu" else base / "results" / profile


def _git(*args) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True,
                             cwd=project_root() or Path.cwd(), timeout=10)
        return out.stdout.strip() if out.returncode == 0 else None
    except Exception:
        return None


def glue(name: str, value, display: bool = False) -> None:
    """``myst_nb.glue`` when myst_nb is installed (the book build); a no-op elsewhere (Colab)."""
    try:
        from myst_nb import glue as _glue  # optional: the book build has it, Colab does not
    except ImportError:
        return
    _glue(name, value, display=display)


def record(name: str, metrics: dict, *, seeds=None, notes: dict | None = None, hypotheses=None) -> None:
    """Write ``results/<name>.json`` atomically: the metrics, every judged hypothesis with its samples,
    the compute cost and the provenance; then glue every metric and verdict for the prose, and show
    the verdict table. Returns nothing, so a notebook cell ending in ``kb.record(...)`` shows no path
    of this machine.

    ``hypotheses``: the chapter's :class:`kdbook.hypotheses.Hypotheses`, every one judged (or marked
    not measured); each is glued as ``hyp_<id>`` (its verdict) and ``hyp_<id>_numbers`` (the numbers
    it rests on, in words).
    """
    run = current()
    if run.notebook == "session":
        raise RuntimeError("call kb.setup(...) at the top of the notebook before record()")

    clean = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"metrics must map names to numbers; {key!r} → {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"metric {key!r} is {value}")
        clean[key] = value.item() if hasattr(value, "item") else value
    judged = [] if hypotheses is None else hypotheses.records()

    payload = {
        "notebook": name,
        "profile": run.profile,
        "dry_run": run.dry_run,
        "seeds": list(seeds) if seeds is not None else [run.seed],
        "device": str(run.device),
        # every precision the run's models computed in (a source's float32 protocol beside bf16 ones)
        "precision": ", ".join(_precisions(run)) or precision_name(run.device, run.precision),
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                     "kdhelpers": VERSION},
        "git_commit": _git("rev-parse", "HEAD") or None,
        # uncommitted changes to the helper package would make the commit above a lie
        "kdhelpers_modified": bool(_git("status", "--porcelain", "--", "kdhelpers", "kdbook")),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(time.time() - run.started, 1),
        "cost": _cost(run, time.time() - run.started),
        "notes": notes or {},
        "metrics": clean,
        "hypotheses": judged,
        "fingerprint": fingerprint.of_run(_notebook_file(name), run.profile),
    }
    out = results_dir(run.profile) / f"{name}.json"
    atomic_write_text(out, json.dumps(payload, indent=2) + "\n")
    for key, value in glue_values(payload).items():
        glue(key, value)
    shown = out.relative_to(project_root()) if project_root() and out.is_relative_to(project_root()) else out.name
    print(f"wrote {shown} ({len(clean)} metrics, {payload['wall_time_s']} s)")
    show_verdicts(judged)


def show_verdicts(judged: list[dict]) -> None:
    """The verdict table: HTML in a notebook (the book and Colab render it alike), text elsewhere."""
    if not judged:
        return
    try:
        from IPython import get_ipython  # optional: only inside a notebook
        from IPython.display import HTML, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(HTML(verdicts_html(judged)))
        return
    for h in judged:
        print(f"  {h['verdict']}: {h['text']} — {describe(h)}")


def _notebook_file(name: str) -> Path | None:
    """The chapter's notebook in this project (``notebooks/``, else ``drafts/``), or None (Colab)."""
    root = project_root()
    for folder in ("notebooks", "drafts"):
        if root is not None and (root / folder / f"{name}.ipynb").exists():
            return root / folder / f"{name}.ipynb"
    return None


def _precisions(run: Run) -> list[str]:
    return sorted({e["precision"] for e in run.ledger.values() if e.get("precision")})


def _cost(run: Run, wall: float) -> dict:
    """The run's compute: its wall time (warm: models in the cache load in seconds), and its cold
    cost, the wall time plus the recorded training time of every model it loaded from the cache.
    Models are counted once each, by cache key."""
    loaded = [e for e in run.ledger.values() if e["hit"]]
    unknown = [e for e in loaded if e.get("seconds") is None]
    loaded_s = sum(e["seconds"] for e in loaded if e.get("seconds") is not None)
    trained = [e for e in run.ledger.values() if not e["hit"]]
    plan = run.plan
    return {
        "wall_time_s": round(wall, 1),
        "cold_time_s": round(wall + loaded_s, 1),
        "trained_now": len(trained), "trained_now_s": round(sum(e["seconds"] for e in trained), 1),
        "loaded": len(loaded), "loaded_training_s": round(loaded_s, 1),
        "loaded_without_recorded_cost": len(unknown),
        "loaded_from_book": sum(bool(e.get("from_book")) for e in loaded),  # the shipped teachers (teachers/)
        "devices": sorted({e.get("device", "?") for e in run.ledger.values()}),
        "precisions": sorted({e.get("precision", "?") for e in run.ledger.values()}),
        "estimate_s": None if plan is None else round(plan.seconds, 1),
        "training_flops": None if plan is None else plan.flops,
    }


def glue_values(payload: dict) -> dict:
    """Everything a chapter's prose may glue from its results: the metrics, each hypothesis's verdict
    in words (``hyp_<id>``: "soft targets better", "reproduced") and its numbers in words (``hyp_<id>_numbers``), and the run's cost
    (``cost_cold_min``, ``cost_wall_min``, ``cost_estimate_min``)."""
    out = dict(payload["metrics"])
    for h in payload.get("hypotheses", []):
        out[f"hyp_{h['id']}"] = verdict_words(h)
        out[f"hyp_{h['id']}_numbers"] = describe(h)
    cost = payload.get("cost") or {}
    for key in ("cold_time_s", "wall_time_s", "estimate_s"):
        if cost.get(key) is not None:
            out[f"cost_{key.replace('_time_s', '').replace('_s', '')}_min"] = cost[key] / 60
    return out


def load(name: str, *, missing_ok: bool = False) -> dict | None:
    """Another chapter's recorded results: ``results/<name>.json`` of this project (the committed
    run), else of ``$KD_RESULTS_DIR``. ``missing_ok``: None instead of an error (e.g. in Colab)."""
    candidates = [p / "results" / f"{name}.json" for p in [project_root()] if p is not None]
    candidates.append(results_dir() / f"{name}.json")
    for path in candidates:
        if path.exists():
            return json.loads(path.read_text())
    if missing_ok:
        return None
    raise FileNotFoundError(f"no results for {name!r}: run notebooks/{name}.ipynb first "
                            f"(looked in {', '.join(str(c) for c in candidates)})")


def load_benchmark(name: str, *, missing_ok: bool = False) -> dict | None:
    """The committed output of ``benchmarks/<name>.py`` (``benchmarks/results/<name>.json``), which a
    chapter may show beside its own run; None when absent and ``missing_ok`` (e.g. in Colab)."""
    root = project_root()
    path = None if root is None else root / "benchmarks" / "results" / f"{name}.json"
    if path is not None and path.exists():
        return json.loads(path.read_text())
    if missing_ok:
        return None
    raise FileNotFoundError(f"no benchmark output for {name!r}: run benchmarks/{name}.py (looked for {path})")

