"""Synthetic classification data and a trainer for many small MLPs at once.

The temperature study on ``make_classification`` data trains hundreds of tiny networks
(3 data-quality levels × 3 feature mixes × seeds × temperatures × widths). One such network leaves
a 2-core CPU idle, so :class:`EnsembleMLP` stacks ``M`` same-shaped MLPs into ``[M, in, out]``
weight tensors and runs them with batched matmuls (``torch.baddbmm``); :func:`train_ensemble`
trains them in one loop with one optimizer. The members never interact: the loss is the *sum*
of the per-member losses, so each member's gradient is its own, and Adam/SGD update every weight
element-wise, so the result equals ``M`` independent trainings (tested in
``tests/test_synthetic.py``).

Data convention (:func:`make_split`): the data set of a (class_sep, p_inf) cell is generated once
with ``random_state=data_seed`` (default 0), like the single data set of the Keras tutorial; the
``seed`` of a run draws the 80/20 train/test split, the fit/validation split inside train, the
networks' initialisation and the batch order. Features are standardised with fit-set statistics.

Metric-key convention: :func:`cell_key` → ``cs0.2_pi0.5``; :func:`t_key` → ``T2.5``, ``T20``.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import dryrun
from .device import amp_dtype, default_device, precision_name, show_progress
from .losses import check_alpha, check_temperature

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
    redundant (linear combinations of the informative ones), one cluster per class. ``seed``
    draws the test split (``test_fraction``) and then a validation split (``val_fraction`` of
    what is left) that is used to choose temperatures; features are standardised with the
    statistics of the remaining fit set.
    """
    if not (isinstance(class_sep, (int, float)) and math.isfinite(class_sep) and class_sep > 0):
        raise ValueError(f"class_sep must be a finite number > 0, got {class_sep!r}")
    if not (isinstance(p_inf, (int, float)) and 0 < p_inf <= 1):
        raise ValueError(f"p_inf (fraction of informative features) must be in (0, 1], got {p_inf!r}")
    if n_classes < 2 or n_features < 1 or 2 ** round(p_inf * n_features) < n_classes:
        raise ValueError(f"{n_classes} classes need ≥ log2({n_classes}) informative features; "
                         f"got {round(p_inf * n_features)} of {n_features}")
    if not (0 < test_fraction < 1 and 0 < val_fraction < 1):
        raise ValueError(f"test_fraction and val_fraction must be in (0, 1), got {test_fraction}, {val_fraction}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    n_test = int(round(test_fraction * n_samples))
    n_val = int(round(val_fraction * (n_samples - n_test)))
    if n_samples - n_test - n_val < n_classes or n_val < 1 or n_test < 1:
        raise ValueError(f"n_samples={n_samples} is too small for the requested splits")
    x, y = _generate(float(class_sep), float(p_inf), int(n_samples), int(n_features), int(n_classes),
                     int(data_seed))
    perm = np.random.default_rng(seed).permutation(n_samples)
    test, val, fit = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    mean, std = x[fit].mean(0), x[fit].std(0) + 1e-8
    t = lambda a: torch.from_numpy(((x[a] - mean) / std).astype(np.float32))  # noqa: E731
    l = lambda a: torch.from_numpy(y[a].astype(np.int64))  # noqa: E731
    name = f"make_classification:{cell_key(class_sep, p_inf)}:n{n_samples}:d{data_seed}:split{seed}"
    return Split(t(fit), l(fit), t(val), l(val), t(test), l(test), name)


# --------------------------------------------------------------------------- model
class EnsembleMLP(nn.Module):
    """``M`` ReLU MLPs of identical shape with weights stacked as ``[M, in, out]``.

    ``forward(x)`` takes ``x`` as ``[M, B, in]`` (member m sees ``x[m]``) or ``[B, in]`` (all see the
    same batch) and returns logits ``[M, B, classes]``. Member ``m`` is initialised like
    ``nn.Linear`` (uniform ±1/√fan_in for weights and biases) from its own generator seeded with
    ``init_seeds[m]``, so a member's start does not depend on who else is in the ensemble.
    Dropout (if any) follows every hidden ReLU, as in :class:`kdhelpers.models.MLP`.
    """

    def __init__(self, n_models: int, hidden, in_features: int, n_classes: int, *,
                 dropout: float = 0.0, init_seeds=None):
        super().__init__()
        hidden = [int(h) for h in hidden]
        if n_models < 1 or in_features < 1 or n_classes < 1 or any(h < 1 for h in hidden):
            raise ValueError(f"need n_models, in_features, n_classes and widths ≥ 1; got "
                             f"{n_models}, {in_features}, {n_classes}, {hidden}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        init_seeds = list(range(n_models)) if init_seeds is None else [int(s) for s in init_seeds]
        if len(init_seeds) != n_models:
            raise ValueError(f"{len(init_seeds)} init seeds for {n_models} models")
        self.n_models, self.dropout, self.dims = n_models, float(dropout), [in_features, *hidden, n_classes]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        pairs = list(zip(self.dims[:-1], self.dims[1:]))
        ws = [torch.empty(n_models, a, b) for a, b in pairs]
        bs = [torch.empty(n_models, b) for _, b in pairs]
        for m, s in enumerate(init_seeds):
            gen = torch.Generator().manual_seed(s)
            for (a, _), w, b in zip(pairs, ws, bs):
                bound = 1 / math.sqrt(a)
                w[m].uniform_(-bound, bound, generator=gen)
                b[m].uniform_(-bound, bound, generator=gen)
        for w, b in zip(ws, bs):
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.n_models, -1, -1)
        if x.dim() != 3 or x.shape[0] != self.n_models or x.shape[2] != self.dims[0]:
            raise ValueError(f"input must be [{self.n_models}, batch, {self.dims[0]}] or "
                             f"[batch, {self.dims[0]}], got {tuple(x.shape)}")
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b.unsqueeze(1).to(x.dtype), x, w.to(x.dtype))
            if i < last:
                x = F.relu(x)
                if self.training and self.dropout > 0:
                    x = x * (torch.rand_like(x) >= self.dropout) * (1.0 / (1.0 - self.dropout))
        return x

    @classmethod
    def from_linears(cls, mlps, dropout: float = 0.0) -> "EnsembleMLP":
        """Stack MLPs given as sequences of ``nn.Linear`` layers (e.g. ``kd.models.MLP``)."""
        layer_lists = [[m for m in mlp.modules() if isinstance(m, nn.Linear)] for mlp in mlps]
        if not layer_lists or not layer_lists[0]:
            raise ValueError("need at least one MLP with nn.Linear layers")
        dims = [layer_lists[0][0].in_features] + [l.out_features for l in layer_lists[0]]
        if any([l.in_features for l in ls] + [ls[-1].out_features] != dims for ls in layer_lists):
            raise ValueError("all MLPs must have the same layer sizes")
        ens = cls(len(layer_lists), dims[1:-1], dims[0], dims[-1], dropout=dropout)
        with torch.no_grad():
            for i in range(len(dims) - 1):
                ens.weights[i].copy_(torch.stack([ls[i].weight.t() for ls in layer_lists]))
                ens.biases[i].copy_(torch.stack([ls[i].bias for ls in layer_lists]))
        return ens

    def member(self, m: int) -> nn.Sequential:
        """Member ``m`` as a plain ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU`` (a copy)."""
        if not 0 <= m < self.n_models:
            raise ValueError(f"member {m} out of range 0..{self.n_models - 1}")
        layers = []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            lin = nn.Linear(w.shape[1], w.shape[2])
            with torch.no_grad():
                lin.weight.copy_(w[m].t())
                lin.bias.copy_(b[m])
            layers += [lin, nn.ReLU()] if i < len(self.weights) - 1 else [lin]
        return nn.Sequential(*layers)


# --------------------------------------------------------------------------- loss
def soft_target_loss_per_model(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                               temperature: torch.Tensor) -> torch.Tensor:
    """:func:`kdhelpers.soft_target_loss` for each member: ``[M]`` values of
    T_m² · KL(softmax(t_m/T_m) ‖ softmax(s_m/T_m)), batch-mean, from ``[M, B, C]`` logits."""
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 3:
        raise ValueError(f"student and teacher logits must both be [models, batch, classes]; got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    T = torch.as_tensor(temperature, dtype=torch.float32, device=student_logits.device)
    if T.shape != student_logits.shape[:1] or not bool((T > 0).all()) or not bool(torch.isfinite(T).all()):
        raise ValueError(f"temperature must be [models]={student_logits.shape[0]} finite values > 0, "
                         f"got {T.tolist() if T.numel() < 20 else tuple(T.shape)}")
    Tb = T.view(-1, 1, 1)
    log_p = F.log_softmax(teacher_logits.float() / Tb, dim=-1)
    log_q = F.log_softmax(student_logits.float() / Tb, dim=-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1).mean(-1)
    return T * T * kl


def distillation_loss_per_model(student_logits, teacher_logits, targets, temperature, alpha) -> torch.Tensor:
    """``[M]`` values of α_m · T_m²·KL + (1 − α_m) · CE(s_m, y_m); α_m = 0 is a hard-label member
    (``teacher_logits`` may then be ``None`` if every α is 0)."""
    M, B, C = student_logits.shape
    a = torch.as_tensor(alpha, dtype=torch.float32, device=student_logits.device)
    if a.shape != (M,) or not bool(((a >= 0) & (a <= 1)).all()):
        raise ValueError(f"alpha must be [models]={M} values in [0, 1]")
    if targets.shape != (M, B):
        raise ValueError(f"targets must be [models, batch]={(M, B)}, got {tuple(targets.shape)}")
    hard = F.cross_entropy(student_logits.float().reshape(M * B, C), targets.reshape(-1),
                           reduction="none").view(M, B).mean(1)
    if teacher_logits is None:
        if bool((a > 0).any()):
            raise ValueError("alpha > 0 needs teacher logits")
        return hard
    return a * soft_target_loss_per_model(student_logits, teacher_logits, temperature) + (1 - a) * hard


# --------------------------------------------------------------------------- training
def _as_stack(xs, name):
    if isinstance(xs, torch.Tensor):
        return xs
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) != 1:
        raise ValueError(f"all {name} must have the same shape, got {sorted(shapes)}")
    return torch.stack(list(xs))


def train_ensemble(model: EnsembleMLP, x, y, source, *, epochs: int, batch_size: int = 256,
                   lr: float = 1e-3, weight_decay: float = 0.0, teacher_logits=None,
                   temperature=None, alpha=None, seed: int = 0, cosine: bool = True, device=None,
                   desc: str = "ensemble", progress: bool | None = None) -> dict:
    """Train every member of ``model`` with Adam on its own data set, in one loop
    (learning rate decayed to 0 on a per-step cosine unless ``cosine=False``).

    ``x [D, N, F]``, ``y [D, N]``: D training sets of equal size (or lists of tensors);
    ``source[m]`` is the index of member m's set. Every set gets its own shuffle per epoch
    (drawn from ``seed``), shared by the members that train on it. With ``teacher_logits
    [D, N, C]`` (the teacher of each set) member m minimises α_m·T_m²·KL + (1−α_m)·CE with its
    own ``temperature[m]`` and ``alpha[m]`` (α = soft-target weight; α_m = 0 → hard labels only).
    Without a teacher every member is trained on the hard labels.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if batch_size < 1 or not lr > 0:
        raise ValueError(f"need batch_size ≥ 1 and lr > 0, got {batch_size}, {lr}")
    device = torch.device(device) if device is not None else default_device()
    x, y = _as_stack(x, "x").to(device), _as_stack(y, "y").to(device)
    D, N = y.shape
    if x.shape[:2] != (D, N):
        raise ValueError(f"x must be [sets, examples, features] matching y {tuple(y.shape)}, got {tuple(x.shape)}")
    M = model.n_models
    src = torch.as_tensor(source, dtype=torch.long)
    if src.shape != (M,) or int(src.min()) < 0 or int(src.max()) >= D:
        raise ValueError(f"source must give each of the {M} members a set index in 0..{D - 1}")
    src = src.to(device)
    tl = None
    if teacher_logits is not None:
        tl = _as_stack(teacher_logits, "teacher_logits").to(device)
        if tl.shape[:2] != (D, N):
            raise ValueError(f"teacher_logits must be [{D}, {N}, classes], got {tuple(tl.shape)}")
        T = torch.as_tensor(temperature if temperature is not None else [1.0] * M, dtype=torch.float32)
        a = torch.as_tensor(alpha if alpha is not None else [1.0] * M, dtype=torch.float32)
        for t in T.tolist():
            check_temperature(t)
        for v in a.tolist():
            check_alpha(v)
        if T.shape != (M,) or a.shape != (M,):
            raise ValueError(f"temperature and alpha must have one value per member ({M})")
        T, a = T.to(device), a.to(device)
    elif temperature is not None or alpha is not None:
        raise ValueError("temperature/alpha need teacher_logits")
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay,
                           fused=device.type in ("cpu", "cuda"))
    dtype = amp_dtype(device)
    if dtype is not None:  # the first matmul casts to it anyway: gather half the bytes per batch
        x = x.to(dtype)
    gen = torch.Generator().manual_seed(seed)
    batch_size = dryrun.batch_size(batch_size)
    steps = math.ceil(N / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps) if cosine else None
    history, done = [], 0
    bar = tqdm(range(epochs), desc=desc, disable=not show_progress(progress), leave=False)
    for _ in bar:
        if dryrun.stop(done):
            break
        perm = torch.argsort(torch.rand(D, N, generator=gen), dim=1).to(device)
        total = torch.zeros(M, device=device)
        for s in range(steps):
            if dryrun.stop(done):
                break
            done += 1
            idx = perm[:, s * batch_size:(s + 1) * batch_size][src]  # [M, B]
            xb = x[src.unsqueeze(1), idx]
            yb = y[src.unsqueeze(1), idx]
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = model(xb)
            if tl is None:
                losses = F.cross_entropy(out.float().flatten(0, 1), yb.flatten(),
                                         reduction="none").view(yb.shape).mean(1)
            else:
                losses = distillation_loss_per_model(out, tl[src.unsqueeze(1), idx], yb, T, a)
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += losses.detach() * idx.shape[1]
        history.append((total / N).cpu())
        bar.set_postfix(loss=f"{float(history[-1].mean()):.4f}")
    model.eval()
    return {"loss": torch.stack(history)}  # [epochs, M]


@torch.no_grad()
def ensemble_logits(model: EnsembleMLP, x, source, *, batch_size: int = 2048, device=None) -> torch.Tensor:
    """Logits ``[M, N, C]`` of member m on set ``x[source[m]]`` (``x [D, N, F]``), eval mode, float32."""
    device = torch.device(device) if device is not None else default_device()
    x = _as_stack(x, "x").to(device)
    src = torch.as_tensor(source, dtype=torch.long, device=device)
    model.to(device).eval()
    dtype = amp_dtype(device)
    outs = []
    for i in range(0, dryrun.eval_rows(x.shape[1]), batch_size):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            outs.append(model(x[src, i:i + dryrun.eval_rows(batch_size)]).float())
    return dryrun.fill(torch.cat(outs, dim=1), x.shape[1], dim=1)


def accuracy(logits: torch.Tensor, y, source) -> torch.Tensor:
    """``[M]`` accuracies in % of ``[M, N, C]`` logits against labels ``y[source[m]]``."""
    y = _as_stack(y, "y").to(logits.device)
    src = torch.as_tensor(source, dtype=torch.long, device=logits.device)
    return 100.0 * (logits.argmax(-1) == y[src]).float().mean(1)


# --------------------------------------------------------------------------- T_opt statistics
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


# --------------------------------------------------------------------------- the study
@dataclass(frozen=True)
class StudyConfig:
    """Everything that determines the study's numbers (it keys the result cache)."""
    n_samples: int = 50_000
    teacher_hidden: tuple = (100, 100, 100)
    teacher_dropout: float = 0.2
    teacher_epochs: int = 50
    student_epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    schedule: str = "cosine"  # per-step cosine decay of the learning rate to 0, or "constant"
    alpha: float = 0.9  # soft-target weight of the distilled students (Keras's example: 0.1 on hard labels)

    def __post_init__(self):
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        check_alpha(self.alpha)

    def parts(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


def _splits(cells, seeds, cfg: StudyConfig) -> list[Split]:
    """One split per (cell, seed), cells outer, seeds inner."""
    return [make_split(cs, pi, s, n_samples=cfg.n_samples) for cs, pi in cells for s in seeds]


def _stack(splits, part):
    return torch.stack([getattr(sp, f"x_{part}") for sp in splits]), torch.stack([getattr(sp, f"y_{part}") for sp in splits])


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
        out = train_ensemble(model, x, y, range(len(splits)), epochs=cfg.teacher_epochs,
                             batch_size=cfg.batch_size, lr=cfg.lr, seed=min(seeds), device=device,
                             cosine=cfg.schedule == "cosine",
                             desc=f"{len(splits)} teachers", progress=progress)
        res = {"loss": out["loss"]}
        for part in ("fit", "val", "test"):
            xp, yp = _stack(splits, part)
            logits = ensemble_logits(model, xp, range(len(splits)), device=device).cpu()
            res[f"{part}_logits"] = logits
            res[f"{part}_acc"] = accuracy(logits, yp, range(len(splits))).view(len(cells), len(seeds))
        return res

    from .cache import load_or_compute
    return load_or_compute("synthetic-teachers", {"cells": cells, "seeds": seeds, **cfg.parts(),
                                                  "computed_in": _precision(device)}, compute,
                           meta={"device": str(_device(device)), "precision": _precision(device)})


def train_students(cells, seeds, hidden, temperatures, teachers: dict, cfg: StudyConfig, *,
                   all_cells=None, device=None, progress=None) -> dict:
    """For every (cell, seed): one hard-label student and one distilled student per temperature,
    all trained together. A (cell, seed)'s students share their initialisation and batch order,
    so temperatures are compared on common random numbers. ``teachers`` comes from
    :func:`train_teachers` over ``all_cells`` (default ``cells``) and the same seeds.
    Returns val/test accuracies ``[cells, seeds, 1 + len(temperatures)]`` (index 0 = hard labels).
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
        out = train_ensemble(model, x, y, source, epochs=cfg.student_epochs, batch_size=cfg.batch_size,
                             lr=cfg.lr, teacher_logits=teachers["fit_logits"][rows], temperature=T,
                             alpha=alpha, seed=min(seeds) + 7, device=device, cosine=cfg.schedule == "cosine",
                             desc=f"{D * K} students {'x'.join(map(str, hidden))}", progress=progress)
        res = {"loss": out["loss"]}
        for part in ("val", "test"):
            xp, yp = _stack(splits, part)
            acc = accuracy(ensemble_logits(model, xp, source, device=device), yp, source)
            res[f"{part}_acc"] = acc.cpu().view(len(cells), len(seeds), K)
        return res

    from .cache import load_or_compute
    return load_or_compute("synthetic-students", {"cells": cells, "seeds": seeds, "hidden": hidden,
                                                  "temperatures": temps, "teacher_cells": all_cells,
                                                  **cfg.parts(), "computed_in": _precision(device)}, compute,
                           meta={"device": str(_device(device)), "precision": _precision(device)})


def _device(device):
    return torch.device(device) if device is not None else default_device()


def _precision(device) -> str:
    return precision_name(_device(device))


# --------------------------------------------------------------------------- summaries and plots
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


def grid_metrics(cells, temperatures, teachers: dict, students: dict, *, n_boot: int = 2000) -> dict:
    """The chapter's metrics per cell (accuracies in %, means over seeds, ``_std`` = sample std)."""
    out = {}
    for i, (cs, pi) in enumerate(cells):
        k = cell_key(cs, pi)
        test, val = students["test_acc"][i].numpy(), students["val_acc"][i].numpy()  # [seeds, 1 + T]
        sd = lambda a: float(np.std(a, ddof=1)) if len(a) > 1 else 0.0  # noqa: E731
        t_acc = teachers["test_acc"][i].numpy()
        out[f"{k}_teacher_acc"], out[f"{k}_teacher_acc_std"] = float(t_acc.mean()), sd(t_acc)
        out[f"{k}_student_acc"], out[f"{k}_student_acc_std"] = float(test[:, 0].mean()), sd(test[:, 0])
        for j, T in enumerate(temperatures, start=1):
            out[f"{k}_{t_key(T)}_acc"], out[f"{k}_{t_key(T)}_acc_std"] = float(test[:, j].mean()), sd(test[:, j])
        ch = choose_temperature(val[:, 1:], temperatures, n_boot=n_boot)
        j = 1 + list(map(float, temperatures)).index(ch["T_opt"])
        out[f"{k}_T_opt"], out[f"{k}_T_opt_lo"], out[f"{k}_T_opt_hi"] = ch["T_opt"], ch["lo"], ch["hi"]
        out[f"{k}_T_opt_share"] = 100 * ch["share"]
        out[f"{k}_T_opt_acc"] = float(test[:, j].mean())
        out[f"{k}_gain"] = float((test[:, j] - test[:, 0]).mean())
        out[f"{k}_gain_std"] = sd(test[:, j] - test[:, 0])
        out.update({f"{k}_{name}": v for name, v in _high_minus_low(test[None], temperatures).items()})
    n = students["test_acc"].shape[1]
    keys = [cell_key(*c) for c in cells]
    out["cells_gain_positive"] = sum(out[f"{k}_gain"] > 0 for k in keys)
    # cells whose paired 95 % t-interval over seeds for the gain lies above 0
    if n > 1:
        from scipy.stats import t as student_t
        q = float(student_t.ppf(0.975, n - 1))
        out["cells_gain_ci95_above0"] = sum(out[f"{k}_gain"] > q * out[f"{k}_gain_std"] / math.sqrt(n) for k in keys)
    else:
        out["cells_gain_ci95_above0"] = 0
    out["cells_T_opt_min"] = min(out[f"{k}_T_opt"] for k in keys)
    out["cells_T_opt_max"] = max(out[f"{k}_T_opt"] for k in keys)
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


def plot_grid(table: "pd.DataFrame", temperatures):
    """Accuracy vs T per data set (mean ± std over seeds), teacher and hard-label baseline as bands."""
    import matplotlib.pyplot as plt

    seps, pis = sorted(table.class_sep.unique()), sorted(table.p_inf.unique())
    fig, axes = plt.subplots(len(seps), len(pis), figsize=(3.3 * len(pis), 2.6 * len(seps)),
                             sharex=True, squeeze=False)
    for r, cs in enumerate(seps):
        for c, pi in enumerate(pis):
            ax, t = axes[r, c], table[(table.class_sep == cs) & (table.p_inf == pi)]
            d = t[t.model == "distilled"].groupby("T")["test_acc"].agg(["mean", "std"])
            ax.errorbar(d.index, d["mean"], yerr=d["std"], marker="o", ms=3, capsize=2, label="distilled")
            for model, color, ls in (("teacher", "k", "--"), ("hard labels", "C3", ":")):
                m, s = t[t.model == model]["test_acc"].agg(["mean", "std"])
                ax.axhline(m, color=color, ls=ls, lw=1, label=model)
                ax.axhspan(m - s, m + s, color=color, alpha=0.1, lw=0)
            ax.set_xscale("log")
            ax.set_xticks(list(temperatures)[::2], [f"{x:g}" for x in list(temperatures)[::2]])
            ax.minorticks_off()
            ax.set_title(f"class_sep {cs:.1f}, informative {pi:.0%}", fontsize=9)
            if c == 0:
                ax.set_ylabel("test accuracy (%)")
            if r == len(seps) - 1:
                ax.set_xlabel("T")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_t_opt_heatmap(metrics: dict, cells):
    """T_opt (chosen on validation) per data set, with the bootstrap 5–95 % range."""
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    seps, pis = sorted({c[0] for c in cells}), sorted({c[1] for c in cells})
    val = pd.DataFrame(np.nan, index=[f"{s:.1f}" for s in seps], columns=[f"{p:.0%}" for p in pis])
    ann = val.astype(object)
    for cs, pi in cells:
        k = cell_key(cs, pi)
        val.loc[f"{cs:.1f}", f"{pi:.0%}"] = metrics[f"{k}_T_opt"]
        ann.loc[f"{cs:.1f}", f"{pi:.0%}"] = f"{metrics[f'{k}_T_opt']:g}\n[{metrics[f'{k}_T_opt_lo']:g}, {metrics[f'{k}_T_opt_hi']:g}]"
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    sns.heatmap(val.astype(float), annot=ann.values, fmt="", cmap="viridis", cbar_kws={"label": "T_opt"}, ax=ax)
    ax.set(xlabel="informative features", ylabel="class_sep",
           title="T_opt (validation); [bootstrap 5–95 %]")
    return fig


def _high_minus_low(test, temperatures, high=(10, 15, 20), low=(2, 2.5, 3, 4)) -> dict:
    """Mean test accuracy at high T (10–20) minus at the paper's small-student range (2.5–4, with 2),
    per seed (averaged over cells): ``high_minus_low`` and its std over seeds. ``test [cells, seeds, 1+T]``."""
    temps = [float(t) for t in temperatures]
    hi = [1 + temps.index(float(t)) for t in high if float(t) in temps]
    lo = [1 + temps.index(float(t)) for t in low if float(t) in temps]
    if not hi or not lo:
        return {}
    d = (test[..., hi].mean(-1) - test[..., lo].mean(-1)).mean(0)  # [seeds]
    return {"high_minus_low": float(d.mean()), "high_minus_low_std": float(np.std(d, ddof=1)) if len(d) > 1 else 0.0}


def width_metrics(widths, results: dict, temperatures, *, n_boot: int = 2000) -> dict:
    """Per student width W (``results[W]`` from :func:`train_students` over the width cells):
    T_opt on validation accuracy pooled over the cells, its bootstrap over seeds, and mean test
    accuracies (over cells and seeds) of the hard-label and distilled students."""
    out = {}
    for w in widths:
        test, val = results[w]["test_acc"].numpy(), results[w]["val_acc"].numpy()  # [cells, seeds, K]
        ch = choose_temperature(val.transpose(1, 0, 2)[..., 1:], temperatures, n_boot=n_boot)
        j = 1 + list(map(float, temperatures)).index(ch["T_opt"])
        out[f"width{w}_T_opt"], out[f"width{w}_T_opt_lo"], out[f"width{w}_T_opt_hi"] = ch["T_opt"], ch["lo"], ch["hi"]
        out[f"width{w}_T_opt_share"] = 100 * ch["share"]
        out[f"width{w}_student_acc"] = float(test[..., 0].mean())
        for k, T in enumerate(temperatures, start=1):
            out[f"width{w}_{t_key(T)}_acc"] = float(test[..., k].mean())
        out[f"width{w}_T_opt_acc"] = float(test[..., j].mean())
        gain = (test[..., j] - test[..., 0]).mean(0)  # per seed, averaged over cells
        out[f"width{w}_gain"] = float(gain.mean())
        out[f"width{w}_gain_std"] = float(np.std(gain, ddof=1)) if len(gain) > 1 else 0.0
        out.update({f"width{w}_{k}": v for k, v in _high_minus_low(test, temperatures).items()})
    return out


def plot_width(widths, results: dict, metrics: dict, temperatures):
    """Left: validation accuracy vs T per width, relative to its hard-label student (mean ± std over
    seeds, pooled over the width cells). Right: T_opt per width with the bootstrap 5–95 % range."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for w in widths:
        v = results[w]["val_acc"].numpy().mean(0)  # [seeds, K], mean over cells
        rel = v[:, 1:] - v[:, :1]
        sd = rel.std(0, ddof=1) if len(rel) > 1 else np.zeros(rel.shape[1])
        a.errorbar(temperatures, rel.mean(0), yerr=sd, marker="o", ms=3, capsize=2, label=f"{w} units")
    a.axhline(0, color="k", lw=0.8)
    a.set_xscale("log")
    a.set_xticks(list(temperatures), [f"{x:g}" for x in temperatures])
    a.minorticks_off()
    a.set(xlabel="T", ylabel="val. accuracy − hard-label student (pp)", title="distilled students by width")
    a.legend(fontsize=8)
    t = np.array([metrics[f"width{w}_T_opt"] for w in widths])
    lo = np.array([metrics[f"width{w}_T_opt_lo"] for w in widths])
    hi = np.array([metrics[f"width{w}_T_opt_hi"] for w in widths])
    b.errorbar(widths, t, yerr=[t - lo, hi - t], marker="s", capsize=4, ls="-")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xticks(list(widths), [str(w) for w in widths])
    b.set_yticks(list(temperatures), [f"{x:g}" for x in temperatures])
    b.minorticks_off()
    b.set(xlabel="units per hidden layer", ylabel="T_opt (validation)", title="T_opt, bootstrap 5–95 % over seeds")
    fig.tight_layout()
    return fig
