"""The chapter fake_data_temperature: the temperature study on synthetic data.

Every teacher and student of the grid is trained as a batched ensemble (:mod:`kdhelpers.batched`),
and the chapter's summaries are computed here (T_opt per data set and per student width, with
bootstraps over seeds), with its figures.

For every (data set, seed) there is one teacher, one hard-label student and one distilled student
per temperature; the students of a (data set, seed) share their initialisation and batch order, so
temperatures are compared on common random numbers.

The synthetic data: scikit-learn's ``make_classification`` on a 3 × 3 grid of data quality (class
separation × fraction of informative features), as in the Harvard tutorial (Keras).

Data convention (:func:`make_split`): the data set of a (class_sep, p_inf) cell is generated once
with ``random_state=data_seed`` (default 0); the ``seed`` of a run draws the train/test split and
the fit/validation split inside train. Features are standardised with fit-set statistics.
Metric-key convention: :func:`cell_key` → ``cs0.2_pi0.5``; :func:`t_key` → ``T2.5``, ``T20``.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..batched import accuracy, ensemble_logits, train_ensemble
from ..budget import Budget
from ..device import precision_name
from ..losses import check_alpha, check_temperature
from ..models import EnsembleMLP
from kdbook.cache import load_or_compute
from kdbook.cost import Plan
from kdbook.run import Run, current
from kdbook.protocol import Card, Protocol, per_profile
from kdbook.stats import paired_interval
from kdbook.references import Ref

# The Harvard tutorial's numbers (one run each): cited by the results overview
REFERENCES = {"seedproto_cs0.2_pi0.5_student_acc": Ref(94.12, "Harvard tutorial", unit="%"),
              "seedproto_cs0.2_pi0.5_T2_acc": Ref(98.01, "Harvard tutorial", unit="%"),
              "seedproto_cells_T_opt_min": Ref(2.5, "Harvard tutorial"),
              "seedproto_cells_T_opt_max": Ref(5, "Harvard tutorial"),
              "width_T_opt": Ref("suspected to grow with width", "tutorial")}
# the results overview's rows: (experiment, reference, metric key, unit)
HEADLINES = [
    ("Synthetic cs0.2/pi0.5, 2×50 student on hard labels: the tutorial's protocol rerun",
     REFERENCES["seedproto_cs0.2_pi0.5_student_acc"].cite("one run"), "seedproto_cs0.2_pi0.5_student_acc", "%"),
    ("… distilled at T = 2, rerun", REFERENCES["seedproto_cs0.2_pi0.5_T2_acc"].cite("one run"),
     "seedproto_cs0.2_pi0.5_T2_acc", "%"),
    ("Best T over the 9 data sets, rerun: lowest",
     f"{REFERENCES['seedproto_cells_T_opt_min'].number} (Harvard tutorial: {REFERENCES['seedproto_cells_T_opt_min'].number}"
     f"–{REFERENCES['seedproto_cells_T_opt_max'].number} everywhere)", "seedproto_cells_T_opt_min", "ratio"),
    ("… highest", str(REFERENCES["seedproto_cells_T_opt_max"]), "seedproto_cells_T_opt_max", "ratio"),
    ("Best T for a 10-unit student (teacher 3×400)", str(REFERENCES["width_T_opt"]), "width10_T_opt", "ratio"),
    ("Best T for a 300-unit student", str(REFERENCES["width_T_opt"]), "width300_T_opt", "ratio"),
]
# the metric keys the chapter must record (tests/test_notebooks.py)
METRIC_KEYS = ({f"seedproto_cs{cs}_pi{pi}_{k}" for cs in ("0.2", "0.6", "1.0") for pi in ("0.5", "0.8", "1.0")
                for k in ("teacher_acc", "student_acc", "T_opt",
                          *(f"T{t}_acc" for t in ("1", "2", "2.5", "3", "4", "5", "10", "15", "20")))}
               | {f"width{w}_T_opt" for w in (10, 30, 50, 100, 300)}
               | {"width_trend_rho", "width_trend_rho_lo", "width_trend_rho_hi"})

CLASS_SEPS = (0.2, 0.6, 1.0)
P_INFS = (0.5, 0.8, 1.0)
TEMPERATURES = (1, 2, 2.5, 3, 4, 5, 10, 15, 20)
N_SAMPLES = {"smoke": 2_000, "cpu": 50_000, "full": 50_000}  # make_classification's samples per data set
_DATA = ("make_classification: {n:,} samples, 100 features (round(p·100) informative, the rest redundant), "
         "10 classes, 1 cluster per class; 80/20 split; standardised with the training statistics")


def _keras_adam(epochs: int, precision: str = "float32") -> Budget:
    # Keras: Adam at its default rate; the tutorial passes batch_size=100
    return Budget.keras_adam(epochs, 100, precision=precision)


def _mlp(hidden, dropout: float = 0.0) -> dict:
    return {"arch": "mlp", "hidden": list(hidden), "in_features": 100, **({"dropout": dropout} if dropout else {})}


# The chapter's protocol, declared once. The tutorial's grid ("teacher", "student"): a 3 × 100 ReLU teacher
# with dropout 0.2 and a 2 × 50 student, Adam 1e-3 at batch 100 for 50 epochs (float32, as Keras), soft targets
# alone without T² (alpha 1, Keras's initialisation: :func:`_study`). The width study ("width_teacher",
# "width_student": 2 × w for every w in WIDTHS): a 3 × 400 teacher (wider than every student), 20 epochs in
# bf16 in the cpu profile (a 300-unit student costs 9 times a 50-unit one), 50 in float32 in the full one.
# Three seeds per setting (the notebook's n_seeds); the smoke profile: 2,000 samples, 2 epochs.
PROTOCOL = Protocol(
    data={p: _DATA.format(n=n) + "; a fresh draw per seed" for p, n in N_SAMPLES.items()},
    models={"teacher": _mlp((100, 100, 100), 0.2), "student": _mlp((50, 50)),
            "width_teacher": _mlp((400, 400, 400), 0.2), "width_student": _mlp((50, 50))},
    budgets={"teacher": {"smoke": _keras_adam(2), "cpu": _keras_adam(50), "full": _keras_adam(50)},
             "student": {"smoke": _keras_adam(2), "cpu": _keras_adam(50), "full": _keras_adam(50)},
             "width_teacher": {"smoke": _keras_adam(2, "auto"), "cpu": _keras_adam(20, "auto"),
                               "full": _keras_adam(50, "float32")},
             "width_student": {"smoke": _keras_adam(2, "auto"), "cpu": _keras_adam(20, "auto"),
                               "full": _keras_adam(50, "float32")}},
    loss="CE(softmax(t/T), softmax(s/T)): soft targets alone, no T²", seeds=3, input_shape=(100,))


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
    from sklearn.datasets import make_classification  # heavy (over a second): only when a data set is drawn

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


# --------------------------------------------------------------------------- choosing T on validation
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


# --------------------------------------------------------------------------- the study
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
    val_fraction: float = 0.2  # of the training split; 0: half of the test split chooses, the other reports
    data_seed: object = 0  # make_classification's random_state: an int, or "per_seed" (a fresh draw per seed)
    init: str = "torch"  # "glorot": Keras's initialisation

    def __post_init__(self):
        check_alpha(self.alpha)
        if not (self.data_seed == "per_seed" or isinstance(self.data_seed, int)):
            raise ValueError(f"data_seed must be an int or 'per_seed', got {self.data_seed!r}")
        if self.init not in ("torch", "glorot"):
            raise ValueError(f"init must be 'torch' or 'glorot', got {self.init!r}")
        for name in ("teacher", "student"):
            b = getattr(self, name)
            if not isinstance(b, Budget) or b.schedule not in ("cosine", "constant"):
                raise ValueError(f"StudyConfig.{name} must be a kd.Budget with a cosine or constant schedule")

    def parts(self) -> dict:
        return {"n_samples": self.n_samples, "teacher_hidden": list(self.teacher_hidden),
                "teacher_dropout": self.teacher_dropout, "teacher": self.teacher.parts(),
                "student": self.student.parts(), "alpha": self.alpha, "t2_scale": self.t2_scale,
                "val_fraction": self.val_fraction, "data_seed": self.data_seed, "init": self.init}


def _splits(cells, seeds, cfg: StudyConfig) -> list[Split]:
    """One split per (cell, seed), cells outer, seeds inner."""
    return [make_split(cs, pi, s, n_samples=cfg.n_samples, val_fraction=cfg.val_fraction,
                       data_seed=s if cfg.data_seed == "per_seed" else cfg.data_seed) for cs, pi in cells for s in seeds]


def _stack(splits, part):
    return torch.stack([getattr(sp, f"x_{part}") for sp in splits]), torch.stack([getattr(sp, f"y_{part}") for sp in splits])


def _precisions(budget: Budget) -> tuple[str, str]:
    """(training, evaluation) precision in the current run (a worker of kd.parallel.prefetch runs the
    notebook's): training in the budget's own (float32 for the tutorial), evaluation in the run's."""
    run = current()
    return run.precision_for(budget.precision), run.precision


def _cached(name, parts, compute, device, budget: Budget):
    run = current()
    device = torch.device(device) if device is not None else run.device
    precision = precision_name(device, run.precision_for(budget.precision))  # float32 for the tutorial
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
                            dropout=cfg.teacher_dropout, init_seeds=init, init=cfg.init)
        x, y = _stack(splits, "fit")
        train_p, eval_p = _precisions(cfg.teacher)
        out = train_ensemble(model, x, y, range(len(splits)), cfg.teacher, seed=min(seeds), device=device,
                             desc=f"{len(splits)} teachers", progress=progress, precision=train_p)
        res = {"loss": out["loss"]}
        for part in ("fit", "val", "test"):
            xp, yp = _stack(splits, part)
            logits = ensemble_logits(model, xp, range(len(splits)), device=device, precision=eval_p).cpu()
            res[f"{part}_logits"] = logits
            res[f"{part}_acc"] = accuracy(logits, yp, range(len(splits))).view(len(cells), len(seeds))
        return res

    return _cached("synthetic-teachers", {"cells": cells, "seeds": seeds, **cfg.parts()}, compute, device, cfg.teacher)


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
        model = EnsembleMLP(D * K, hidden, splits[0].x_fit.shape[1], 10, init_seeds=init, init=cfg.init)
        x, y = _stack(splits, "fit")
        T = [1.0, *temps] * D
        alpha = [0.0, *[cfg.alpha] * len(temps)] * D
        train_p, eval_p = _precisions(cfg.student)
        out = train_ensemble(model, x, y, source, cfg.student, teacher_logits=teachers["fit_logits"][rows],
                             temperature=T, alpha=alpha, t2_scale=cfg.t2_scale, seed=min(seeds) + 7,
                             device=device, desc=f"{D * K} students {'x'.join(map(str, hidden))}",
                             progress=progress, precision=train_p)
        res = {"loss": out["loss"]}
        for part in ("val", "test"):
            xp, yp = _stack(splits, part)
            acc = accuracy(ensemble_logits(model, xp, source, device=device, precision=eval_p), yp, source)
            res[f"{part}_acc"] = acc.cpu().view(len(cells), len(seeds), K)
        return res

    return _cached("synthetic-students", {"cells": cells, "seeds": seeds, "hidden": hidden, "temperatures": temps,
                                          "teacher_cells": all_cells, **cfg.parts()}, compute, device, cfg.student)


def tutorial_grid(cells, seeds, temperatures, cfg: StudyConfig) -> None:
    """Train (into the cache) the tutorial grid: its teachers, then its students."""
    train_students(cells, seeds, [50, 50], temperatures, train_teachers(cells, seeds, cfg), cfg)


def width_grid(cells, seeds, widths, temperatures, cfg: StudyConfig) -> None:
    """Train (into the cache) the width study: its teachers, then the students of every width."""
    teachers = train_teachers(cells, seeds, cfg)
    for w in widths:
        train_students(cells, seeds, [w, w], temperatures, teachers, cfg)


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


def temperature_summary(test, val, temperatures, *, stds: bool = True, n_boot: int = 2000,
                        whole_test: bool = False) -> dict:
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
    if whole_test:  # validation = the test split's other half: T_opt as read off the whole test set
        both = (test + val) / 2
        ch = choose_temperature(both.transpose(1, 0, 2)[..., 1:], temperatures, n_boot=n_boot)
        j = 1 + list(map(float, temperatures)).index(ch["T_opt"])
        out.update({"T_opt_on_test": ch["T_opt"], "T_opt_on_test_lo": ch["lo"], "T_opt_on_test_hi": ch["hi"],
                    "T_opt_on_test_acc": float(both.mean(0)[:, j].mean()),
                    "T1_acc_on_test": float(both.mean(0)[:, 1 + list(map(float, temperatures)).index(1.0)].mean())
                    if 1.0 in list(map(float, temperatures)) else float("nan")})
    return out


def grid_metrics(cells, temperatures, teachers: dict, students: dict, *, n_boot: int = 2000,
                 whole_test: bool = False) -> dict:
    """The chapter's metrics per cell (accuracies in %, means over seeds, ``_std`` = sample std)."""
    out, ci_lo = {}, {}
    for i, (cs, pi) in enumerate(cells):
        k = cell_key(cs, pi)
        t_acc = teachers["test_acc"][i].numpy()
        out[f"{k}_teacher_acc"], out[f"{k}_teacher_acc_std"] = float(t_acc.mean()), _sd(t_acc)
        block = temperature_summary(students["test_acc"][i:i + 1].numpy(), students["val_acc"][i:i + 1].numpy(),
                                    temperatures, n_boot=n_boot, whole_test=whole_test)
        ci_lo[k] = block.pop("gain_ci95_lo")
        out.update({f"{k}_{name}": v for name, v in block.items()})
    keys = [cell_key(*c) for c in cells]
    out["cells_gain_positive"] = sum(out[f"{k}_gain"] > 0 for k in keys)
    # cells whose paired 95 % t-interval over seeds for the gain lies above 0
    out["cells_gain_ci95_above0"] = sum(ci_lo[k] > 0 for k in keys)
    out["cells_T_opt_min"] = min(out[f"{k}_T_opt"] for k in keys)
    out["cells_T_opt_max"] = max(out[f"{k}_T_opt"] for k in keys)
    out["cells_T_opt_in_2.5_5"] = sum(2.5 <= out[f"{k}_T_opt"] <= 5 for k in keys)
    if whole_test:
        out["cells_T_opt_on_test_min"] = min(out[f"{k}_T_opt_on_test"] for k in keys)
        out["cells_T_opt_on_test_max"] = max(out[f"{k}_T_opt_on_test"] for k in keys)
        out["cells_T_opt_on_test_in_2.5_5"] = sum(2.5 <= out[f"{k}_T_opt_on_test"] <= 5 for k in keys)
    return out


def width_metrics(widths, results: dict, temperatures, *, n_boot: int = 2000, stds: bool = False) -> dict:
    """Per student width W (``results[W]`` from :func:`train_students` over the width cells):
    :func:`temperature_summary` pooled over those cells, as ``width<W>_…``."""
    out = {}
    for w in widths:
        block = temperature_summary(results[w]["test_acc"].numpy(), results[w]["val_acc"].numpy(),
                                    temperatures, stds=stds, n_boot=n_boot)
        block.pop("gain_ci95_lo")
        out.update({f"width{w}_{name}": v for name, v in block.items()})
    return out


def long_table(cells, temperatures, teachers: dict, students: dict) -> "pd.DataFrame":
    """One row per (cell, seed, model): test and validation accuracy in %."""
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


def width_trend(widths, results: dict, temperatures, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """Does T_opt grow with the student's width? Spearman's ρ between width and T_opt (T_opt on
    validation accuracy pooled over the data sets), and its bootstrap 5th–95th percentile over
    seeds: the same resample of seeds for every width (the widths share their seeds). ρ = 0 when
    every width picks the same T."""
    from scipy.stats import spearmanr  # heavy (about a second): only for the width trend

    temps = np.asarray(temperatures, dtype=float)
    val = {w: results[w]["val_acc"].numpy()[..., 1:].mean(0) for w in widths}  # [seeds, T], pooled over sets

    def rho(rows):
        t_opt = [temps[val[w][rows].mean(0).argmax()] for w in widths]
        r = spearmanr(widths, t_opt).statistic if len(set(t_opt)) > 1 else 0.0
        return float(r), t_opt

    n = next(iter(val.values())).shape[0]
    point, t_opt = rho(np.arange(n))
    rng = np.random.default_rng(seed)
    boot = np.array([rho(rng.integers(0, n, n))[0] for _ in range(n_boot)])
    return {"width_trend_rho": point, "width_trend_rho_lo": float(np.percentile(boot, 5)),
            "width_trend_rho_hi": float(np.percentile(boot, 95)), "width_T_opts": t_opt}


# --------------------------------------------------------------------------- the chapter's protocols
TUTORIAL = "the Harvard tutorial (2018)"
WIDTHS = (10, 30, 50, 100, 300)
WIDTH_CELLS = ((0.2, 0.5), (0.6, 0.8), (1.0, 1.0))  # low, middle and high data quality


def _study(run: Run, teacher: str, student: str) -> StudyConfig:
    """The study of a teacher role and a student role of :data:`PROTOCOL` in the run's profile: the
    tutorial's data (a fresh draw per seed; validation = half of the test split), soft targets alone
    without T², Keras's initialisation."""
    t = PROTOCOL.model(teacher, run)
    return StudyConfig(n_samples=per_profile(N_SAMPLES, run), teacher_hidden=tuple(t["hidden"]),
                       teacher_dropout=t["dropout"], teacher=PROTOCOL.budget(teacher, run),
                       student=PROTOCOL.budget(student, run), alpha=1.0, t2_scale=False, val_fraction=0.0,
                       data_seed="per_seed", init="glorot")


def tutorial_study(run: Run) -> StudyConfig:
    """The tutorial's protocol: 50,000 samples, an 80/20 split, a 3 × 100 teacher with dropout 0.2,
    Adam 1e-3 at batch 100 for 50 epochs, soft targets alone without T², Keras's initialisation,
    a fresh data draw per seed; validation = half of the test split (the tutorial chose on test)."""
    return _study(run, "teacher", "student")


def width_study(run: Run) -> StudyConfig:
    """The width study: the tutorial's optimiser, loss and data, a 3 × 400 teacher (wider than
    every student); the cpu profile trains 20 epochs in bf16 (a 300-unit student costs 9 times a
    50-unit one), the full profile 50 in float32."""
    return _study(run, "width_teacher", "width_student")


def _mlp_flops(widths, n_in: int = 100, n_out: int = 10) -> float:
    """Forward FLOPs of one example through an MLP with these hidden widths."""
    dims = [n_in, *widths, n_out]
    return 2.0 * sum(a * b for a, b in zip(dims[:-1], dims[1:]))


def plan(run: Run, tutorial: StudyConfig, width: StudyConfig, *, n_cells: int, n_seeds: int, temperatures):
    """The chapter's training FLOPs and a time estimate: each ensemble priced by a probe of a plain
    MLP of the same shape at the ensemble's whole batch (the members' batches side by side)."""
    p = Plan(run)
    n_fit = int(tutorial.n_samples * 0.8)
    K = 1 + len(temperatures)
    jobs = [("tutorial teachers 3 × 100", tutorial.teacher, list(tutorial.teacher_hidden), n_cells * n_seeds),
            ("tutorial students 2 × 50", tutorial.student, PROTOCOL.model("student", run)["hidden"],
             n_cells * n_seeds * K),
            ("width teachers 3 × 400", width.teacher, list(width.teacher_hidden), len(WIDTH_CELLS) * n_seeds)]
    jobs += [(f"width students 2 × {w}", width.student, [w, w], len(WIDTH_CELLS) * n_seeds * K) for w in WIDTHS]
    for what, budget, hidden, members in jobs:
        cfg = {"arch": "mlp", "hidden": hidden, "in_features": 100}
        probe = budget.replace(batch_size=min(budget.batch_size * members, 8192), epochs=1)
        p.add(what, cfg, probe.replace(epochs=budget.epochs), samples=n_fit * members, input_shape=(100,))
    return p


def grid_table(metrics: dict, cells, prefix: str = "") -> "pd.DataFrame":
    """One row per data set: teacher, hard-label student, T_opt (half A; whole test), the distilled
    student at T_opt and the paired gain, mean ± std over seeds."""
    def g(c, k):
        return metrics[f"{prefix}{cell_key(*c)}_{k}"]
    rows = {c: {"teacher": f"{g(c, 'teacher_acc'):.2f} ± {g(c, 'teacher_acc_std'):.2f}",
                "hard labels": f"{g(c, 'student_acc'):.2f} ± {g(c, 'student_acc_std'):.2f}",
                "T_opt (half A) [5–95 %]": f"{g(c, 'T_opt'):g} [{g(c, 'T_opt_lo'):g}, {g(c, 'T_opt_hi'):g}]",
                "T_opt (whole test)": f"{g(c, 'T_opt_on_test'):g}",
                "distilled at T_opt": f"{g(c, 'T_opt_acc'):.2f}",
                "gain (points)": f"{g(c, 'gain'):+.2f} ± {g(c, 'gain_std'):.2f}"} for c in cells}
    return pd.DataFrame(rows).T.rename_axis(["class_sep", "p_inf"])


def width_table(metrics: dict, widths) -> "pd.DataFrame":
    return pd.DataFrame({w: {"hard labels": f"{metrics[f'width{w}_student_acc']:.2f} ± {metrics[f'width{w}_student_acc_std']:.2f}",
                             "T_opt [5–95 %]": f"{metrics[f'width{w}_T_opt']:g} [{metrics[f'width{w}_T_opt_lo']:g}, "
                                               f"{metrics[f'width{w}_T_opt_hi']:g}]",
                             "distilled at T_opt": f"{metrics[f'width{w}_T_opt_acc']:.2f}",
                             "gain (points)": f"{metrics[f'width{w}_gain']:+.2f} ± {metrics[f'width{w}_gain_std']:.2f}",
                             "acc(T 10–20) − acc(T 2–4)": f"{metrics[f'width{w}_high_minus_low']:+.2f} ± "
                                                         f"{metrics[f'width{w}_high_minus_low_std']:.2f}"}
                         for w in widths}).T.rename_axis("units per layer")


def tutorial_card(run: Run):
    """The tutorial's protocol beside its rerun here: our column is :data:`PROTOCOL`'s (tutorial grid)."""
    p = run.profile
    # column()'s teacher and student are roles: the rows that name the tutorial's networks replace its own
    nets = {"teacher": "3 × 100 ReLU, dropout 0.2 (Keras initialisation)", "student": "2 × 50 ReLU"}
    common = dict(temperature="2, 2.5, 3, 4, 5, 10, 15, 20", weights="soft term only")
    published = PROTOCOL.column(run, teacher=None, data=_DATA.format(n=50_000) + "; no random_state: a fresh draw "
                                "per run", teacher_training="Adam, batch 100, 50 epochs", seeds="one run per setting",
                                selection="best T read off the test set", precision="float32 (Keras)", **common) | nets
    ours = PROTOCOL.column(run, teacher=None, **{**common, "temperature": "1, " + common["temperature"]},
                           teacher_training=f"Adam, batch 100, {PROTOCOL.budget('teacher', run).epochs} epochs",
                           selection="T chosen on half A of the test split, reported on half B (and on the whole "
                                     "test set as the tutorial did)") | nets
    return Card.versus(TUTORIAL, published, ours, run, ours_label="rerun here", deviations={
        "data": "the smoke profile checks that the code runs, on 2,000 samples",
        "teacher training": "the smoke profile trains 2 epochs", "epochs": "the smoke profile trains 2 epochs",
        "temperature": "T = 1 added: does a high temperature help at all?",
        "seeds": "three seeds: one run cannot tell neighbouring temperatures apart",
        "selection": "choosing on the same images that report the accuracy flatters it",
        "precision": "float32 as published (the smoke profile: float32 too)"},
        title=f"The synthetic temperature study as in {TUTORIAL}, and rerun here")


# --------------------------------------------------------------------------- figures
def plot_grid(table: "pd.DataFrame", temperatures):
    """Test accuracy against T per data set (mean ± std over seeds): the distilled students, with the
    teacher and the hard-label student as lines with ±1 std bands. Rows: class separation; columns:
    share of informative features; short labels and one legend above the panels, so that the
    figure reads at the book's width (≈ 700 px)."""
    import matplotlib.pyplot as plt  # heavy (about a second): imported when a figure is drawn

    seps, pis = sorted(table.class_sep.unique()), sorted(table.p_inf.unique())
    fig, axes = plt.subplots(len(seps), len(pis), figsize=(7, 1.8 * len(seps) + 1.2),
                             sharex=True, squeeze=False)
    ticks = [t for t in temperatures if t in (1, 2, 5, 10, 20)]
    for r, cs in enumerate(seps):
        for c, pi in enumerate(pis):
            ax, t = axes[r, c], table[(table.class_sep == cs) & (table.p_inf == pi)]
            d = t[t.model == "distilled"].groupby("T")["test_acc"].agg(["mean", "std"])
            ax.errorbar(d.index, d["mean"], yerr=d["std"], marker="o", ms=3, capsize=2,
                        label="distilled at T")
            for model, color, ls in (("teacher", "k", "--"), ("hard labels", "C3", ":")):
                m, s = t[t.model == model]["test_acc"].agg(["mean", "std"])
                ax.axhline(m, color=color, ls=ls, lw=1, label=model)
                ax.axhspan(m - s, m + s, color=color, alpha=0.1, lw=0)
            ax.set_xscale("log")
            ax.set_xticks(ticks, [f"{x:g}" for x in ticks])
            ax.minorticks_off()
            ax.tick_params(labelsize=8)
            if r == 0:
                ax.set_title(f"{pi:.0%} informative", fontsize=10)
            if c == 0:
                ax.set_ylabel(f"class_sep {cs:.1f}", fontsize=10)
    fig.supxlabel("temperature T", fontsize=10)
    fig.supylabel("test accuracy (%)", fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def plot_t_opt_heatmap(metrics: dict, cells, prefix: str = ""):
    """T_opt (chosen on validation) per data set, with the bootstrap 5–95 % range."""
    import matplotlib.pyplot as plt  # heavy (about a second): imported when a figure is drawn
    import seaborn as sns

    seps, pis = sorted({c[0] for c in cells}), sorted({c[1] for c in cells})
    val = pd.DataFrame(np.nan, index=[f"{s:.1f}" for s in seps], columns=[f"{p:.0%}" for p in pis])
    ann = val.astype(object)
    for cs, pi in cells:
        k = prefix + cell_key(cs, pi)
        val.loc[f"{cs:.1f}", f"{pi:.0%}"] = metrics[f"{k}_T_opt"]
        ann.loc[f"{cs:.1f}", f"{pi:.0%}"] = f"{metrics[f'{k}_T_opt']:g}\n[{metrics[f'{k}_T_opt_lo']:g}, {metrics[f'{k}_T_opt_hi']:g}]"
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    sns.heatmap(val.astype(float), annot=ann.values, fmt="", cmap="viridis", cbar_kws={"label": "T_opt"}, ax=ax)
    ax.set(xlabel="informative features", ylabel="class_sep",
           title="T_opt (validation); [bootstrap 5–95 %]")
    return fig


def plot_width(widths, results: dict, metrics: dict, temperatures):
    """Top: validation accuracy against T per width, relative to its hard-label student (mean ± std
    over seeds, pooled over the width cells). Bottom: T_opt per width with the bootstrap 5–95 %
    range. Stacked, with the legend beside the top panel, for the book's width."""
    import matplotlib.pyplot as plt  # heavy (about a second): imported when a figure is drawn

    fig, (a, b) = plt.subplots(2, 1, figsize=(7, 7))
    for w in widths:
        v = results[w]["val_acc"].numpy().mean(0)  # [seeds, K], mean over cells
        rel = v[:, 1:] - v[:, :1]
        sd = rel.std(0, ddof=1) if len(rel) > 1 else np.zeros(rel.shape[1])
        a.errorbar(temperatures, rel.mean(0), yerr=sd, marker="o", ms=3, capsize=2, label=f"{w}")
    a.axhline(0, color="k", lw=0.8)
    a.set_xscale("log")
    a.set_xticks(list(temperatures), [f"{x:g}" for x in temperatures])
    a.minorticks_off()
    a.set(xlabel="temperature T", ylabel="gain over hard labels\n(val. accuracy, points)",
          title="distilled students by width")
    a.legend(title="units per layer", loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)
    t = np.array([metrics[f"width{w}_T_opt"] for w in widths])
    lo = np.array([metrics[f"width{w}_T_opt_lo"] for w in widths])
    hi = np.array([metrics[f"width{w}_T_opt_hi"] for w in widths])
    # a point estimate may fall outside its bootstrap range: no negative bar
    b.errorbar(widths, t, yerr=[np.clip(t - lo, 0, None), np.clip(hi - t, 0, None)], marker="s",
               capsize=4, ls="-")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xticks(list(widths), [str(w) for w in widths])
    b.set_yticks(list(temperatures), [f"{x:g}" for x in temperatures])
    b.minorticks_off()
    b.set(xlabel="units per hidden layer", ylabel="T_opt (validation)",
          title="T_opt, bootstrap 5–95 % over seeds")
    fig.tight_layout()
    return fig
