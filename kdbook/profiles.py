"""Run profiles: how much compute a notebook spends.

``smoke`` — CI: a tiny subset, seconds per notebook.
``cpu``   — real, full data sets at a budget a 2-core laptop runs.
``full``  — the papers' budgets, meant for a GPU.
``auto``  — in a chapter (:func:`auto_profile`): the largest of ``full`` and ``cpu`` whose training
fits ``$KD_TIME_BUDGET`` minutes (20) on the device found, from the chapter's FLOPs per profile and a
short throughput probe; ``$KD_PROFILE`` overrides it. Elsewhere ``full`` with CUDA, else ``cpu``.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch


PROFILES = ("smoke", "cpu", "full")


def resolve_profile(profile: str = "auto") -> str:
    """Turn a profile name (or ``"auto"``) into one of :data:`PROFILES`."""
    if not isinstance(profile, str):
        raise ValueError(f"profile must be a string, got {profile!r}; valid: auto, {', '.join(PROFILES)}")
    name, origin = profile.strip().lower(), ""
    if name == "auto" and os.environ.get("KD_PROFILE", "").strip():
        name, origin = os.environ["KD_PROFILE"].strip().lower(), " (from $KD_PROFILE)"
    if name == "auto":
        name = "full" if torch.cuda.is_available() else "cpu"
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}{origin}; valid profiles: auto, {', '.join(PROFILES)}")
    return name


def pick(profile: str, *, smoke, cpu, full):
    """The value for ``profile``: ``pick(p, smoke=1, cpu=20, full=60)``."""
    return {"smoke": smoke, "cpu": cpu, "full": full}[resolve_profile(profile)]


# ---------------------------------------------------------------------- "auto": the profile that fits the time
PLANS = Path(__file__).with_name("plans.json")  # {chapter: {profile: training FLOPs}}, see write_plans
DEFAULT_TIME_BUDGET_MIN = 20.0


def time_budget_s() -> float:
    """``$KD_TIME_BUDGET`` in minutes (default 20), as seconds."""
    raw = os.environ.get("KD_TIME_BUDGET", "").strip() or str(DEFAULT_TIME_BUDGET_MIN)
    try:
        minutes = float(raw)
    except ValueError:
        raise ValueError(f"KD_TIME_BUDGET must be a number of minutes, got {raw!r}") from None
    if not minutes > 0:
        raise ValueError(f"KD_TIME_BUDGET must be > 0 minutes, got {raw!r}")
    return 60.0 * minutes


def choose(flops: dict, rate: float, budget_s: float) -> tuple[str, str]:
    """The largest of ``full`` and ``cpu`` whose training FLOPs (``flops[profile]``) take at most
    ``budget_s`` at ``rate`` FLOP/s, and why; ``cpu`` when neither fits, saying so."""
    if not rate > 0:
        raise ValueError(f"the device's rate must be > 0 FLOP/s, got {rate!r}")
    est = {p: flops[p] / rate for p in ("full", "cpu") if p in flops}
    for p in ("full", "cpu"):
        if p in est and est[p] <= budget_s:
            others = ", ".join(f"{q} ≈ {est[q] / 60:,.0f} min" for q in est if q != p)
            return p, (f"{p}: ≈ {est[p] / 60:,.1f} min at {rate / 1e12:.2g} TFLOP/s fits the "
                       f"{budget_s / 60:g} min budget" + (f" ({others})" if others else ""))
    text = ", ".join(f"{q} ≈ {est[q] / 60:,.0f} min" for q in est)
    return "cpu", (f"cpu, though nothing fits the {budget_s / 60:g} min budget at {rate / 1e12:.2g} TFLOP/s "
                   f"({text}); raise KD_TIME_BUDGET or expect the longer run")


def auto_profile(chapter: str, rate, *, budget_s: float | None = None,
                 plans: dict | None = None) -> tuple[str, str]:
    """What ``auto`` means for ``chapter``: ``$KD_PROFILE`` if set; else the largest profile whose
    training fits the time budget (:func:`choose`), from the chapter's recorded FLOPs per profile
    (``plans.json``) and the device's rate in FLOP/s (``rate``: a number, or a function that probes
    it, called only when a plan is recorded: :func:`kdbook.cost.device_rate`). A chapter
    without a recorded plan
    falls back to ``full`` on CUDA, else ``cpu``."""
    forced = os.environ.get("KD_PROFILE", "").strip()
    if forced:
        return resolve_profile("auto"), "from $KD_PROFILE"
    if plans is None:
        plans = json.loads(PLANS.read_text()) if PLANS.exists() else {}
    if not {"cpu", "full"} <= set(plans.get(chapter, {})):
        return resolve_profile("auto"), "no recorded plan for this chapter: full with CUDA, else cpu"
    return choose(plans[chapter], rate() if callable(rate) else rate,
                  budget_s if budget_s is not None else time_budget_s())


def write_plans(results: Path, dry_run_results: Path, out: Path = PLANS) -> dict:
    """``plans.json`` from the committed cpu results (their training FLOPs) and a full-profile dry
    run's results (``make dry-run``: the full plan's FLOPs, counted at full size)."""
    plans = {}
    for path in sorted(Path(results).glob("*.json")):
        flops = (json.loads(path.read_text()).get("cost") or {}).get("training_flops")
        if flops:
            plans.setdefault(path.stem, {})["cpu"] = flops
    for path in sorted(Path(dry_run_results).glob("*.json")):
        flops = (json.loads(path.read_text()).get("cost") or {}).get("training_flops")
        if flops and path.stem in plans:
            plans[path.stem]["full"] = flops
    Path(out).write_text(json.dumps(plans, indent=1, sort_keys=True) + "\n")
    return plans


if __name__ == "__main__":  # python -m kdbook.profiles RESULTS DRY_RUN_RESULTS
    print(json.dumps(write_plans(Path(sys.argv[1]), Path(sys.argv[2])), indent=1))
