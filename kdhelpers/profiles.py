"""Run profiles: how much compute a notebook spends.

``smoke`` — CI: a tiny subset, seconds per notebook.
``cpu``   — real, full data sets at a budget a 2-core laptop runs.
``full``  — the papers' budgets, meant for a GPU.
``auto``  — ``full`` when CUDA is present, else ``cpu``; ``$KD_PROFILE`` overrides ``auto``.
"""
from __future__ import annotations

import os

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
