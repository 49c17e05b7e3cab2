"""Statistics over seeds: mean ± std, paired intervals, and the temperature chosen on validation
with a bootstrap over seeds."""
from __future__ import annotations

import math

import numpy as np


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value) over seeds."""
    v = np.asarray(list(values), dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def paired_interval(differences, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval for the mean of per-seed paired differences (lo, hi); (mean, mean) for
    a single seed."""
    from scipy.stats import t as student_t

    d = np.asarray(list(differences), dtype=float)
    m = float(d.mean())
    if d.size < 2:
        return m, m
    half = float(student_t.ppf(0.5 + level / 2, d.size - 1)) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return m - half, m + half


def t_opt(val_acc: np.ndarray, temperatures) -> float:
    """The temperature with the best *mean* validation accuracy; ``val_acc [seeds, T]``."""
    val_acc = np.asarray(val_acc, dtype=float)
    if val_acc.ndim != 2 or val_acc.shape[1] != len(temperatures):
        raise ValueError(f"val_acc must be [seeds, {len(temperatures)}], got {val_acc.shape}")
    return float(temperatures[int(np.argmax(val_acc.mean(0)))])


def bootstrap_t_opt(val_acc, temperatures, *, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """T_opt of ``n_boot`` resamples of the seeds (rows of ``val_acc [seeds, T]``, or
    ``[seeds, sets, T]`` to pool several data sets, resampling seeds in every set alike)."""
    v = np.asarray(val_acc, dtype=float)
    if v.ndim == 3:
        v = v.mean(1)
    if v.ndim != 2 or v.shape[1] != len(temperatures):
        raise ValueError(f"val_acc must be [seeds, (sets,) {len(temperatures)}], got {np.shape(val_acc)}")
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, v.shape[0], size=(n_boot, v.shape[0]))
    means = v[rows].mean(1)  # [n_boot, T]
    return np.asarray(temperatures, dtype=float)[means.argmax(1)]


def choose_temperature(val_acc, temperatures, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """T_opt on validation accuracy ``[seeds, T]`` (or ``[seeds, sets, T]``, pooled over sets),
    with the bootstrap over seeds: its 5th–95th percentile and the share of resamples that
    pick the same T."""
    v = np.asarray(val_acc, dtype=float)
    pooled = v.mean(1) if v.ndim == 3 else v
    best = t_opt(pooled, temperatures)
    boot = bootstrap_t_opt(v, temperatures, n_boot=n_boot, seed=seed)
    return {"T_opt": best, "lo": float(np.percentile(boot, 5)), "hi": float(np.percentile(boot, 95)),
            "share": float((boot == best).mean()),
            "per_seed": [float(temperatures[i]) for i in pooled.argmax(1)]}
