"""Training many small networks at once: the batched ensemble behind the temperature studies, and
:func:`fit_together`, :func:`kdhelpers.fit` for many students of one shape as one stacked network.

:class:`kdhelpers.models.EnsembleMLP` stacks ``M`` same-shaped MLPs; :func:`train_ensemble` trains
them in one loop with one optimiser. The members never interact: the loss is the *sum* of the
per-member losses, so each member's gradient is its own, and Adam/SGD update every weight
element-wise, so the result equals ``M`` independent trainings (tested in ``tests/test_ensemble.py``).
Each member minimises the book's one distillation loss, :func:`kdhelpers.losses.distillation_loss`,
with its own temperature and α (α = 0: hard labels only).
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from . import dryrun
from .budget import Budget, make_optimizer, make_schedule
from .data import TensorData
from .device import amp_dtype, default_device, grad_scaler, seed_everything, show_progress
from .losses import CrossEntropy, check_alpha, check_temperature, distillation_loss, hard_loss
from .models import EnsembleMLP
from .train import predict_logits


def _as_stack(xs, name):
    if isinstance(xs, torch.Tensor):
        return xs
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) != 1:
        raise ValueError(f"all {name} must have the same shape, got {sorted(shapes)}")
    return torch.stack(list(xs))


def optimiser_step(opt, scaler, sched, loss, *, clip: float | None = None, stacked=None) -> None:
    """Backpropagate ``loss`` (summed over members: each gets its own gradient) and step, as fit does:
    per-member gradient clipping to ``clip``, then the optimiser, then the schedule."""
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if clip:
        scaler.unscale_(opt)
        clip_per_member(stacked, clip)
    scaler.step(opt)
    scaler.update()
    if sched is not None:
        sched.step()


def _sets(x, y, source, M: int, device):
    """The training sets ``x [D, N, F]``, ``y [D, N]`` and each member's set index, checked."""
    x, y = _as_stack(x, "x").to(device), _as_stack(y, "y").to(device)
    D, N = y.shape
    if x.shape[:2] != (D, N):
        raise ValueError(f"x must be [sets, examples, features] matching y {tuple(y.shape)}, got {tuple(x.shape)}")
    src = torch.as_tensor(source, dtype=torch.long)
    if src.shape != (M,) or int(src.min()) < 0 or int(src.max()) >= D:
        raise ValueError(f"source must give each of the {M} members a set index in 0..{D - 1}")
    return x, y, src.to(device)


def _soft_targets(teacher_logits, temperature, alpha, sets: tuple, M: int, device):
    """The teachers' logits ``[D, N, C]`` and each member's temperature and α, checked (None without
    a teacher)."""
    if teacher_logits is None:
        if temperature is not None or alpha is not None:
            raise ValueError("temperature/alpha need teacher_logits")
        return None, None, None
    tl = _as_stack(teacher_logits, "teacher_logits").to(device)
    if tl.shape[:2] != sets:
        raise ValueError(f"teacher_logits must be [{sets[0]}, {sets[1]}, classes], got {tuple(tl.shape)}")
    T = torch.as_tensor(temperature if temperature is not None else [1.0] * M, dtype=torch.float32)
    a = torch.as_tensor(alpha if alpha is not None else [1.0] * M, dtype=torch.float32)
    for t in T.tolist():
        check_temperature(t)
    for v in a.tolist():
        check_alpha(v)
    if T.shape != (M,) or a.shape != (M,):
        raise ValueError(f"temperature and alpha must have one value per member ({M})")
    return tl, T.to(device), a.to(device)


def train_ensemble(model: EnsembleMLP, x, y, source, budget: Budget, *, teacher_logits=None,
                   temperature=None, alpha=None, t2_scale: bool = True, seed: int = 0, device=None,
                   desc: str = "ensemble", progress: bool | None = None, precision: str = "float32") -> dict:
    """Train every member of ``model`` on its own data set, in one loop, with ``budget``.

    ``x [D, N, F]``, ``y [D, N]``: D training sets of equal size (or lists of tensors);
    ``source[m]`` is the index of member m's set. Every set gets its own shuffle per epoch
    (drawn from ``seed``), shared by the members that train on it. With ``teacher_logits
    [D, N, C]`` (the teacher of each set) member m minimises α_m·T_m²·KL + (1−α_m)·CE with its
    own ``temperature[m]`` and ``alpha[m]``; ``t2_scale=False`` drops the T² (the Keras tutorial's
    soft cross-entropy). Without a teacher every member is trained on the hard labels.
    ``precision``: "float32" (default), "float16", or "auto" (bf16 autocast where the CPU has it).
    """
    if not isinstance(budget, Budget):
        raise TypeError(f"train_ensemble takes a kd.Budget, got {type(budget).__name__}")
    device = torch.device(device) if device is not None else default_device()
    x, y, src = _sets(x, y, source, model.n_models, device)
    D, N = y.shape
    tl, T, a = _soft_targets(teacher_logits, temperature, alpha, (D, N), model.n_models, device)
    model.to(device).train()
    torch.manual_seed(seed)  # dropout masks from the seed, whatever this process ran before (a cache hit)
    opt = make_optimizer(model.parameters(), budget, fused=device.type in ("cpu", "cuda"))
    dtype = amp_dtype(device, budget.precision if budget.precision in ("float32", "float16") else precision)
    scaler = grad_scaler(device, dtype)
    x = x if dtype is None else x.to(dtype)  # the first matmul casts anyway: gather half the bytes
    gen, batch_size, history, done = torch.Generator().manual_seed(seed), dryrun.batch_size(budget.batch_size), [], 0
    steps = math.ceil(N / batch_size)
    sched = None if budget.schedule == "constant" else make_schedule(opt, budget, budget.epochs * steps)
    bar = tqdm(range(budget.epochs), desc=desc, disable=not show_progress(progress), leave=False)
    for _ in bar:
        if dryrun.stop(done):
            break
        perm = torch.argsort(torch.rand(D, N, generator=gen), dim=1).to(device)
        total = torch.zeros(model.n_models, device=device)
        for s in range(steps):
            if dryrun.stop(done):
                break
            done += 1
            idx = perm[:, s * batch_size:(s + 1) * batch_size][src]  # [M, B]
            rows = (src.unsqueeze(1), idx)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = model(x[rows])
            losses = hard_loss(out, y[rows]) if tl is None else distillation_loss(out, tl[rows], y[rows], T, a,
                                                                                  t2_scale=t2_scale)
            optimiser_step(opt, scaler, sched, losses.sum())
            total += losses.detach() * idx.shape[1]
        history.append((total / N).cpu())
        bar.set_postfix(loss=f"{float(history[-1].mean()):.4f}")
    model.eval()
    return {"loss": torch.stack(history)}  # [epochs, M]


@torch.no_grad()
def ensemble_logits(model: EnsembleMLP, x, source, *, batch_size: int = 2048, device=None,
                    precision: str = "float32") -> torch.Tensor:
    """Logits ``[M, N, C]`` of member m on set ``x[source[m]]`` (``x [D, N, F]``), eval mode, float32."""
    device = torch.device(device) if device is not None else default_device()
    x = _as_stack(x, "x").to(device)
    src = torch.as_tensor(source, dtype=torch.long, device=device)
    model.to(device).eval()
    dtype = amp_dtype(device, precision)
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


# --------------------------------------------------------------------------- many students of one shape
@torch.no_grad()
def clip_per_member(stacked: list[torch.Tensor], max_norm: float) -> None:
    """fit's gradient clipping (:func:`kdhelpers.callbacks.clip_grad_norm`) for each member of a
    stack on its own: member m's gradients, over all its tensors, scaled to norm ≤ ``max_norm``."""
    grads = [p.grad for p in stacked if p.grad is not None]
    norms = torch.stack([g.flatten(1).float().norm(dim=1) for g in grads], dim=1)  # [M, tensors]
    total = torch.linalg.vector_norm(norms, dim=1)  # [M]
    coef = torch.where(total + 1e-6 > max_norm, max_norm / (total + 1e-6), torch.ones_like(total))
    for g in grads:
        g.mul_(coef.view(-1, *[1] * (g.dim() - 1)).to(g.dtype))


def fit_together(models: list[nn.Module], data: TensorData, budget: Budget, *, seeds: list[int],
                 teachers: list, losses: list, device, precision: str = "float32", outputs=None,
                 desc: str = "together", progress: bool | None = None) -> None:
    """:func:`kdhelpers.train.fit` for ``M`` same-shaped ``models`` on one transfer set, as one
    stacked network (``torch.func``: one batched matmul per layer instead of ``M``). Member m gets
    what ``fit`` would give it alone: its own batch order (a generator seeded with ``seeds[m]``),
    its teacher's outputs over the set (``teachers[m]``, or None) and its loss (``losses[m]``); the
    loss summed over members gives each its own gradient, and Adam/SGD step element-wise.
    ``outputs(teacher, data, device)``: the teacher's outputs over the set (default: computed here;
    the book's run shares them between chapters' students)."""
    M, dtype = len(models), amp_dtype(device, precision)
    outputs = outputs or (lambda t, d, dev: predict_logits(t, d, device=dev))
    params, buffers = stack_module_state([m.to(device) for m in models])  # [M, ...] leaves
    skeleton = copy.deepcopy(models[0]).to("meta")
    forward = vmap(lambda p, b, x: functional_call(skeleton, (p, b), (x,)))
    data = data.to(device)
    losses = [CrossEntropy(budget.label_smoothing) if loss is None else loss for loss in losses]
    groups: dict = {}  # members sharing a loss (its settings) and teacher-or-not: one loss call
    for m, (loss, teacher) in enumerate(zip(losses, teachers)):
        groups.setdefault((repr(loss), teacher is None), []).append(m)
    t_out = [None if t is None else outputs(t, data, device) for t in teachers]
    opt = make_optimizer(list(params.values()), budget, fused=device.type in ("cpu", "cuda"))
    scaler = grad_scaler(device, dtype)
    # every member gathers its own batch: prepare the whole set once (the same values fit's per-batch
    # prepare gives), already in the autocast dtype the first layer would cast it to
    inputs = data.prepare(data.x)
    inputs = inputs if dtype is None else inputs.to(dtype)
    gens = [torch.Generator().manual_seed(s) for s in seeds]  # fit's: its Loop.gen
    batch_size, N, done = dryrun.batch_size(budget.batch_size), len(data), 0
    # fit's Schedule callback: the same schedule for every member, stepped after every optimiser step
    steps = budget.epochs * math.ceil(N / batch_size)
    sched = None if budget.schedule == "constant" else make_schedule(opt, budget, steps)
    for _ in tqdm(range(budget.epochs), desc=desc, disable=not show_progress(progress), leave=False):
        order = torch.stack([torch.randperm(N, generator=g) for g in gens]).to(device)  # fit's draws
        for idx in order.split(batch_size, dim=1):  # [M, B]
            if dryrun.stop(done):
                break
            done += 1
            B = idx.shape[1]
            xb = inputs.index_select(0, idx.reshape(-1)).view(M, B, *data.x.shape[1:])
            yb = data.y.index_select(0, idx.reshape(-1)).view(M, B)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = forward(params, buffers, xb)  # [M, B, classes]
                total = _grouped_loss(out, yb, idx, groups, losses, t_out)
            optimiser_step(opt, scaler, sched, total, clip=budget.clip_grad_norm, stacked=list(params.values()))
    _unstack(models, params, buffers, precision)


def _grouped_loss(out, yb, idx, groups: dict, losses: list, t_out: list):
    """The members' losses summed: one call per group of members sharing a loss and teacher-or-not,
    on their stacked batch (the per-example mean over k·B rows, times k, is the sum of their means)."""
    total = 0
    for (_, no_teacher), ms in groups.items():
        tb = None if no_teacher else torch.stack([t_out[m].index_select(0, idx[m]) for m in ms])
        total = total + len(ms) * losses[ms[0]](out[ms].flatten(0, 1), None if tb is None else tb.flatten(0, 1),
                                                yb[ms].flatten())
    return total


def _unstack(models: list[nn.Module], params: dict, buffers: dict, precision: str) -> None:
    """Member m's trained weights back into ``models[m]``, in eval mode."""
    for m, model in enumerate(models):
        state = {**{k: v[m].detach() for k, v in params.items()}, **{k: v[m] for k, v in buffers.items()}}
        model.load_state_dict(state)
        model.eval()
        model.kd_precision = precision
