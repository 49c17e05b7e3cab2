"""Bias tuning for transfer sets that miss classes (Hinton et al. §3).

A student that never saw a class in its transfer set learns too low a bias for it; shifting the
output-layer bias of those classes by a constant fixes much of that. Shifting a bias adds the same
constant to those logits, so a whole sweep is computed from one pass of logits.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
from torch import nn

from .train import predict_logits


def shift_logits(logits: torch.Tensor, classes, shift: float) -> torch.Tensor:
    out = logits.clone()
    out[:, list(classes)] += shift
    return out


def sweep(logits: torch.Tensor, y: torch.Tensor, classes, shifts) -> pd.DataFrame:
    """Errors for every shift: ``shift, errors, errors_on_classes, error_rate`` (rate in %)."""
    classes = list(classes)
    y = y.cpu()
    on_classes = torch.isin(y, torch.tensor(classes))
    rows = []
    for s in shifts:
        wrong = shift_logits(logits.cpu(), classes, float(s)).argmax(1) != y
        rows.append({"shift": float(s), "errors": int(wrong.sum()),
                     "errors_on_classes": int((wrong & on_classes).sum()),
                     "error_rate": 100.0 * float(wrong.float().mean())})
    return pd.DataFrame(rows)


def best_shift(table: pd.DataFrame, column: str = "errors") -> float:
    """The shift with the fewest ``column``; ties go to the smallest |shift|."""
    best = table[table[column] == table[column].min()]
    return float(best.loc[best["shift"].abs().idxmin(), "shift"])


def shift_bias(model: nn.Module, classes, shift: float, run=None) -> nn.Module:
    """A copy of ``model`` whose output-layer bias is raised by ``shift`` for ``classes``; it computes
    in the model's precision (a float32 protocol stays float32). ``run``: the book's run, told of the
    copy (it is no cached model, so it has no cache key)."""
    shifted = copy.deepcopy(model)
    with torch.no_grad():
        shifted.output_layer.bias[list(classes)] += shift
    return shifted if run is None else run.remember(shifted, None, precision=run.precision_of(model))


def shift_grid(stop: float, step: float = 0.1) -> np.ndarray:
    """0, step, …, stop (inclusive), rounded so the values print cleanly."""
    return np.round(np.arange(0, stop + step / 2, step), 6)


def two_protocols(model: nn.Module, val, test, classes, shifts, criterion: str = "errors",
                  run=None) -> tuple[pd.DataFrame, dict]:
    """Sweep ``shifts`` on the validation and the test set and choose a shift both ways:

    * ``val``  — the honest protocol: chosen on held-out training images, then measured once on test;
    * ``test`` — the paper's protocol: chosen on the test set itself (an optimistic number).

    Returns the long table (``split`` column) and ``{"val": row, "test": row}``, each the test-set
    row at the shift chosen by that protocol. ``run``: the book's run, whose device and record of the
    model's precision the logits are computed with (default: the model's own precision).
    """
    tables = []
    for name, data in (("val", val), ("test", test)):
        t = sweep(predict_logits(model, data, run=run), data.y, classes, shifts)
        t["split"] = name
        tables.append(t)
    table = pd.concat(tables, ignore_index=True)
    on_test = table[table["split"] == "test"].set_index("shift")
    chosen = {}
    for protocol in ("val", "test"):
        s = best_shift(table[table["split"] == protocol], criterion)
        chosen[protocol] = {"shift": s, **on_test.loc[s].drop("split").to_dict()}
    return table, chosen
