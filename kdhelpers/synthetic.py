"""The temperature study on synthetic data: every teacher and student of the grid trained as batched
ensembles, and the chapter's summaries (T_opt per data set and per student width, with bootstraps
over seeds).

For every (data set, seed) there is one teacher, one hard-label student and one distilled student
per temperature; the students of a (data set, seed) share their initialisation and batch order, so
temperatures are compared on common random numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .budget import Budget
from .cache import load_or_compute
from .device import default_device, precision_name
from .ensemble import accuracy, ensemble_logits, train_ensemble
from .losses import check_alpha, check_temperature
from .models import EnsembleMLP
from .stats import choose_temperature, paired_interval
from .synthetic_data import CLASS_SEPS, P_INFS, TEMPERATURES, Split, cell_key, make_split, t_key  # noqa: F401 (the chapter's names)


@dataclass(frozen=True)
class StudyConfig:
    """Everything that determines the study's numbers (it keys the result cache)."""
    n_samples: int = 50_000
    teacher_hidden: tuple = (100, 100, 100)
    teacher_dropout: float = 0.2
    teacher: Budget = field(default_factory=lambda: Budget(epochs=50, batch_size=256, lr=1e-3, optimizer="adam"))
    student: Budget = field(default_factory=lambda: Budget(epochs=50, batch_size=256, lr=1e-3, optimizer="adam"))
    alpha: float = 0.9  # soft-target weight of the distilled students
    t2_scale: bool = True  # False: the soft term without T² (the Keras tutorial's loss)

    def __post_init__(self):
        check_alpha(self.alpha)
        for name in ("teacher", "student"):
            b = getattr(self, name)
            if not isinstance(b, Budget) or b.schedule not in ("cosine", "constant"):
                raise ValueError(f"StudyConfig.{name} must be a kd.Budget with a cosine or constant schedule")

    def parts(self) -> dict:
        return {"n_samples": self.n_samples, "teacher_hidden": list(self.teacher_hidden),
                "teacher_dropout": self.teacher_dropout, "teacher": self.teacher.parts(),
                "student": self.student.parts(), "alpha": self.alpha, "t2_scale": self.t2_scale}


def _splits(cells, seeds, cfg: StudyConfig) -> list[Split]:
    """One split per (cell, seed), cells outer, seeds inner."""
    return [make_split(cs, pi, s, n_samples=cfg.n_samples) for cs, pi in cells for s in seeds]


def _stack(splits, part):
    return torch.stack([getattr(sp, f"x_{part}") for sp in splits]), torch.stack([getattr(sp, f"y_{part}") for sp in splits])


def _cached(name, parts, compute, device):
    device = torch.device(device) if device is not None else default_device()
    precision = precision_name(device)
    return load_or_compute(name, {**parts, "computed_in": precision}, compute,
                           meta={"device": str(device), "precision": precision})


def train_teachers(cells, seeds, cfg: StudyConfig, *, device=None, progress=None) -> dict:
    """One teacher per (cell, seed), trained together; returns their logits on fit/val/test
    ``[D, N, C]`` and their val/test accuracies ``[cells, seeds]`` (cached)."""
    cells, seeds = [tuple(map(float, c)) for c in cells], [int(s) for s in seeds]

    def compute():
        splits = _splits(cells, seeds, cfg)
        init = [10_000 + 100 * s + i for i in range(len(cells)) for s in seeds]
        model = EnsembleMLP(len(splits), cfg.teacher_hidden, splits[0].x_fit.shape[1], 10,
                            dropout=cfg.teacher_dropout, init_seeds=init)
        x, y = _stack(splits, "fit")
        out = train_ensemble(model, x, y, range(len(splits)), cfg.teacher, seed=min(seeds), device=device,
                             desc=f"{len(splits)} teachers", progress=progress)
        res = {"loss": out["loss"]}
        for part in ("fit", "val", "test"):
            xp, yp = _stack(splits, part)
            logits = ensemble_logits(model, xp, range(len(splits)), device=device).cpu()
            res[f"{part}_logits"] = logits
            res[f"{part}_acc"] = accuracy(logits, yp, range(len(splits))).view(len(cells), len(seeds))
        return res

    return _cached("synthetic-teachers", {"cells": cells, "seeds": seeds, **cfg.parts()}, compute, device)


def train_students(cells, seeds, hidden, temperatures, teachers: dict, cfg: StudyConfig, *,
                   all_cells=None, device=None, progress=None) -> dict:
    """For every (cell, seed): one hard-label student and one distilled student per temperature,
    all trained together. ``teachers`` comes from :func:`train_teachers` over ``all_cells``
    (default ``cells``) and the same seeds. Returns val/test accuracies
    ``[cells, seeds, 1 + len(temperatures)]`` (index 0 = hard labels).
    """
    cells, seeds = [tuple(map(float, c)) for c in cells], [int(s) for s in seeds]
    all_cells = cells if all_cells is None else [tuple(map(float, c)) for c in all_cells]
    hidden, temps = [int(h) for h in hidden], [float(t) for t in temperatures]
    for t in temps:
        check_temperature(t)
    rows = [all_cells.index(c) * len(seeds) + j for c in cells for j in range(len(seeds))]
    K = 1 + len(temps)

    def compute():
        splits = _splits(cells, seeds, cfg)
        D = len(splits)
        source = [d for d in range(D) for _ in range(K)]
        init = [1_000_000 * s + 1000 * hidden[0] + i for i in range(len(cells)) for s in seeds for _ in range(K)]
        model = EnsembleMLP(D * K, hidden, splits[0].x_fit.shape[1], 10, init_seeds=init)
        x, y = _stack(splits, "fit")
        T = [1.0, *temps] * D
        alpha = [0.0, *[cfg.alpha] * len(temps)] * D
        out = train_ensemble(model, x, y, source, cfg.student, teacher_logits=teachers["fit_logits"][rows],
                             temperature=T, alpha=alpha, t2_scale=cfg.t2_scale, seed=min(seeds) + 7,
                             device=device, desc=f"{D * K} students {'x'.join(map(str, hidden))}",
                             progress=progress)
        res = {"loss": out["loss"]}
        for part in ("val", "test"):
            xp, yp = _stack(splits, part)
            acc = accuracy(ensemble_logits(model, xp, source, device=device), yp, source)
            res[f"{part}_acc"] = acc.cpu().view(len(cells), len(seeds), K)
        return res

    return _cached("synthetic-students", {"cells": cells, "seeds": seeds, "hidden": hidden, "temperatures": temps,
                                          "teacher_cells": all_cells, **cfg.parts()}, compute, device)


# --------------------------------------------------------------------------- summaries
def _sd(a) -> float:
    return float(np.std(a, ddof=1)) if len(a) > 1 else 0.0


def _high_minus_low(test, temperatures, high=(10, 15, 20), low=(2, 2.5, 3, 4)) -> dict:
    """Mean test accuracy at high T (10–20) minus at the paper's small-student range (2.5–4, with 2),
    per seed (averaged over data sets): ``high_minus_low`` and its std over seeds. ``test [sets, seeds, 1+T]``."""
    temps = [float(t) for t in temperatures]
    hi = [1 + temps.index(float(t)) for t in high if float(t) in temps]
    lo = [1 + temps.index(float(t)) for t in low if float(t) in temps]
    if not hi or not lo:
        return {}
    d = (test[..., hi].mean(-1) - test[..., lo].mean(-1)).mean(0)  # [seeds]
    return {"high_minus_low": float(d.mean()), "high_minus_low_std": _sd(d)}


def temperature_summary(test, val, temperatures, *, stds: bool = True, n_boot: int = 2000) -> dict:
    """One block of metrics from accuracies ``[sets, seeds, 1 + T]`` (index 0 = hard labels),
    pooled over the sets: the hard-label and per-T test accuracies, T_opt on validation with its
    bootstrap over seeds, the test accuracy at T_opt and the paired gain over hard labels."""
    test, val = np.asarray(test, dtype=float), np.asarray(val, dtype=float)
    per_seed = test.mean(0)  # [seeds, K]
    out = {"student_acc": float(per_seed[:, 0].mean())}
    if stds:
        out["student_acc_std"] = _sd(per_seed[:, 0])
    for j, T in enumerate(temperatures, start=1):
        out[f"{t_key(T)}_acc"] = float(per_seed[:, j].mean())
        if stds:
            out[f"{t_key(T)}_acc_std"] = _sd(per_seed[:, j])
    ch = choose_temperature(val.transpose(1, 0, 2)[..., 1:], temperatures, n_boot=n_boot)
    j = 1 + list(map(float, temperatures)).index(ch["T_opt"])
    out.update({"T_opt": ch["T_opt"], "T_opt_lo": ch["lo"], "T_opt_hi": ch["hi"], "T_opt_share": 100 * ch["share"],
                "T_opt_acc": float(per_seed[:, j].mean())})
    gain = (test[..., j] - test[..., 0]).mean(0)  # per seed, averaged over sets
    out["gain"], out["gain_std"] = float(gain.mean()), _sd(gain)
    out["gain_ci95_lo"] = paired_interval(gain)[0]
    out.update(_high_minus_low(test, temperatures))
    return out


def grid_metrics(cells, temperatures, teachers: dict, students: dict, *, n_boot: int = 2000) -> dict:
    """The chapter's metrics per cell (accuracies in %, means over seeds, ``_std`` = sample std)."""
    out, ci_lo = {}, {}
    for i, (cs, pi) in enumerate(cells):
        k = cell_key(cs, pi)
        t_acc = teachers["test_acc"][i].numpy()
        out[f"{k}_teacher_acc"], out[f"{k}_teacher_acc_std"] = float(t_acc.mean()), _sd(t_acc)
        block = temperature_summary(students["test_acc"][i:i + 1].numpy(), students["val_acc"][i:i + 1].numpy(),
                                    temperatures, n_boot=n_boot)
        ci_lo[k] = block.pop("gain_ci95_lo")
        out.update({f"{k}_{name}": v for name, v in block.items()})
    keys = [cell_key(*c) for c in cells]
    out["cells_gain_positive"] = sum(out[f"{k}_gain"] > 0 for k in keys)
    # cells whose paired 95 % t-interval over seeds for the gain lies above 0
    out["cells_gain_ci95_above0"] = sum(ci_lo[k] > 0 for k in keys)
    out["cells_T_opt_min"] = min(out[f"{k}_T_opt"] for k in keys)
    out["cells_T_opt_max"] = max(out[f"{k}_T_opt"] for k in keys)
    return out


def width_metrics(widths, results: dict, temperatures, *, n_boot: int = 2000) -> dict:
    """Per student width W (``results[W]`` from :func:`train_students` over the width cells):
    :func:`temperature_summary` pooled over those cells, as ``width<W>_…``."""
    out = {}
    for w in widths:
        block = temperature_summary(results[w]["test_acc"].numpy(), results[w]["val_acc"].numpy(),
                                    temperatures, stds=False, n_boot=n_boot)
        block.pop("gain_ci95_lo")
        out.update({f"width{w}_{name}": v for name, v in block.items()})
    return out


def long_table(cells, temperatures, teachers: dict, students: dict) -> "pd.DataFrame":
    """One row per (cell, seed, model): test and validation accuracy in %."""
    import pandas as pd

    rows = []
    for i, (cs, pi) in enumerate(cells):
        for s in range(students["test_acc"].shape[1]):
            rows.append({"class_sep": cs, "p_inf": pi, "seed": s, "model": "teacher", "T": np.nan,
                         "test_acc": float(teachers["test_acc"][i, s]), "val_acc": float(teachers["val_acc"][i, s])})
            for j, T in enumerate([None, *temperatures]):
                rows.append({"class_sep": cs, "p_inf": pi, "seed": s,
                             "model": "hard labels" if T is None else "distilled", "T": np.nan if T is None else float(T),
                             "test_acc": float(students["test_acc"][i, s, j]),
                             "val_acc": float(students["val_acc"][i, s, j])})
    return pd.DataFrame(rows)
