"""The synthetic data of the temperature study: scikit-learn's ``make_classification`` on a 3 × 3
grid of data quality (class separation × fraction of informative features), as in a Keras tutorial.

Data convention (:func:`make_split`): the data set of a (class_sep, p_inf) cell is generated once
with ``random_state=data_seed`` (default 0); the ``seed`` of a run draws the train/test split and
the fit/validation split inside train. Features are standardised with fit-set statistics.
Metric-key convention: :func:`cell_key` → ``cs0.2_pi0.5``; :func:`t_key` → ``T2.5``, ``T20``.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

CLASS_SEPS = (0.2, 0.6, 1.0)
P_INFS = (0.5, 0.8, 1.0)
TEMPERATURES = (1, 2, 2.5, 3, 4, 5, 10, 15, 20)


# --------------------------------------------------------------------------- keys
def cell_key(class_sep: float, p_inf: float) -> str:
    """``cs0.2_pi0.5``: one decimal for both (the grid values are 0.2/0.6/1.0 and 0.5/0.8/1.0)."""
    return f"cs{float(class_sep):.1f}_pi{float(p_inf):.1f}"


def t_key(temperature: float) -> str:
    """``T1``, ``T2.5``, ``T20`` (``:g`` formatting)."""
    return f"T{float(temperature):g}"


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Split:
    """Standardised float32 features and int64 labels of one (data set, seed): fit / val / test."""
    x_fit: torch.Tensor
    y_fit: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    name: str


@functools.lru_cache(maxsize=16)
def _generate(class_sep: float, p_inf: float, n_samples: int, n_features: int, n_classes: int,
              data_seed: int):
    from sklearn.datasets import make_classification

    n_inf = int(round(p_inf * n_features))
    x, y = make_classification(n_samples=n_samples, n_features=n_features, n_informative=n_inf,
                               n_redundant=n_features - n_inf, n_repeated=0, n_classes=n_classes,
                               n_clusters_per_class=1, class_sep=class_sep, random_state=data_seed)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def make_split(class_sep: float, p_inf: float, seed: int, *, n_samples: int = 50_000,
               n_features: int = 100, n_classes: int = 10, test_fraction: float = 0.2,
               val_fraction: float = 0.2, data_seed: int = 0) -> Split:
    """The Keras tutorial's data set for one (class_sep, fraction of informative features) cell.

    ``make_classification`` with ``round(p_inf · n_features)`` informative features, the rest
    redundant (linear combinations of the informative ones), one cluster per class, drawn with
    ``random_state=data_seed``. ``seed`` draws the test split (``test_fraction``) and then a
    validation split (``val_fraction`` of what is left) that is used to choose temperatures;
    features are standardised with the statistics of the remaining fit set.

    ``val_fraction=0`` keeps the tutorial's split (train on all but the test set) and takes the
    validation set from the test split instead: its first half chooses, its second half reports.
    """
    if not (isinstance(class_sep, (int, float)) and math.isfinite(class_sep) and class_sep > 0):
        raise ValueError(f"class_sep must be a finite number > 0, got {class_sep!r}")
    if not (isinstance(p_inf, (int, float)) and 0 < p_inf <= 1):
        raise ValueError(f"p_inf (fraction of informative features) must be in (0, 1], got {p_inf!r}")
    if n_classes < 2 or n_features < 1 or 2 ** round(p_inf * n_features) < n_classes:
        raise ValueError(f"{n_classes} classes need ≥ log2({n_classes}) informative features; "
                         f"got {round(p_inf * n_features)} of {n_features}")
    if not (0 < test_fraction < 1 and 0 <= val_fraction < 1):
        raise ValueError(f"need test_fraction in (0, 1) and val_fraction in [0, 1), got {test_fraction}, {val_fraction}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    n_test = int(round(test_fraction * n_samples))
    n_val = int(round(val_fraction * (n_samples - n_test)))
    if n_samples - n_test - n_val < n_classes or (val_fraction and n_val < 1) or n_test < 2:
        raise ValueError(f"n_samples={n_samples} is too small for the requested splits")
    x, y = _generate(float(class_sep), float(p_inf), int(n_samples), int(n_features), int(n_classes),
                     int(data_seed))
    perm = np.random.default_rng(seed).permutation(n_samples)
    if n_val == 0:  # validation from the test split: half of it chooses, the other half reports
        n_val = n_test // 2
        val, test, fit = perm[:n_val], perm[n_val:n_test], perm[n_test:]
    else:
        test, val, fit = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    mean, std = x[fit].mean(0), x[fit].std(0) + 1e-8
    t = lambda a: torch.from_numpy(((x[a] - mean) / std).astype(np.float32))  # noqa: E731
    l = lambda a: torch.from_numpy(y[a].astype(np.int64))  # noqa: E731
    name = (f"make_classification:{cell_key(class_sep, p_inf)}:n{n_samples}:d{data_seed}:split{seed}"
            + ("" if val_fraction else ":val-from-test"))
    return Split(t(fit), l(fit), t(val), l(val), t(test), l(test), name)
