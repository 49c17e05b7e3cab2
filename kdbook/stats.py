"""Statistics over seeds: mean ± std and paired intervals."""
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
    from scipy.stats import t as student_t  # heavy (about a second): only where an interval is wanted

    d = np.asarray(list(differences), dtype=float)
    m = float(d.mean())
    if d.size < 2:
        return m, m
    half = float(student_t.ppf(0.5 + level / 2, d.size - 1)) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return m - half, m + half
