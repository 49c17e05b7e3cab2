#!/usr/bin/env python
"""Does the PyTorch rewrite of the Keras ``Distiller`` example compute what the Keras code computes?
Layer by layer and step by step, on real MNIST images, in a few seconds of compute.

It builds the slides' Keras networks (``benchmarks/keras_reference.py``) and the rewrite's
(``kd.build_model(K.TEACHER / K.STUDENT)``), then checks

1. the networks' shapes and parameter counts;
2. the initial weights' distributions (Glorot-uniform bound, std, a two-sample KS test, zero biases:
   not draw for draw, which two libraries' generators cannot give);
3. the forward pass, layer by layer, with the Keras weights copied into the PyTorch networks (conv
   kernels HWIO → OIHW; the Dense kernel's rows permuted from Keras's height-width-channels flatten
   to PyTorch's channels-height-width);
4. the loss (the Distiller's ``compute_loss`` against ``KerasDistillerLoss`` and the book's
   ``DistillationLoss(10, α = 0.9)``) and its gradient for every parameter, teacher included;
5. Adam: the same gradients fed to Keras's Adam and to the rewrite's ``make_optimizer`` (where ε
   sits), then whole training steps from identical weights on identical batches (``kd.fit`` against
   Keras's ``train_on_batch``), scratch and distilled: with the teacher frozen (the rewrite's
   ``K.train_student``), and as the published Keras 3 code runs, with the teacher trained along (the
   rewrite's opt-in ``K.cotrained_student``); with a trained teacher, its accuracy after a few
   such steps;
6. the batching of ``fit`` (shuffle every epoch, batch 32, the last partial batch), the evaluation
   (``evaluate`` against ``kd.evaluate``) and the input scaling (x / 255, no mean/std).

It prints one table row per check with the measured difference. It trains nothing beyond a few
batches and runs on one thread (about a minute). A trained Keras teacher makes checks 4-5 more
telling (peaked soft targets): ``--teacher-weights`` (a ``.weights.h5`` of keras_reference.py), by
default the reference run's cached teacher in ``$KD_CACHE_DIR`` if there is one, else the teacher
as initialised.

Usage (``--teacher-weights``, or ``KD_CACHE_DIR`` set to the reference run's cache, for its teacher)::

    KD_DATA_DIR=../shared/data .venv/bin/python benchmarks/keras_step_compare.py \
        --teacher-weights <cache>/keras-reference-teacher-seed0-keras<version>.weights.h5
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("KD_PROGRESS", "0")
if "KD_DATA_DIR" not in os.environ and (REPO.parent / "shared" / "data" / "MNIST").is_dir():
    os.environ["KD_DATA_DIR"] = str(REPO.parent / "shared" / "data")
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

import keras  # noqa: E402
from scipy import stats  # noqa: E402
from torch import nn  # noqa: E402

import keras_reference as R  # noqa: E402
import kdhelpers as kd  # noqa: E402
import kdbook as kb
from kdbook.chapter import load  # noqa: E402
from kdhelpers.budget import make_optimizer  # noqa: E402

K = load("keras_distiller")  # the chapter's cells tagged `define`: its networks, Adam, losses
F32 = float(np.finfo(np.float32).eps)  # 1.19e-7
FWD_TOL = 1e-5   # relative (to the largest value) difference allowed in a forward pass: float32 rounding
GRAD_TOL = 1e-4  # the same for a gradient (sums over a batch and positions, with cancellation)
LR = 1e-3
ROWS: list[tuple[str, str, str, str]] = []


def row(section: str, check: str, measured: str, ok: bool | None) -> None:
    verdict = {True: "same", False: "DIFFERS", None: "info"}[ok]
    ROWS.append((section, check, measured, verdict))
    print(f"  [{verdict:7}] {check}: {measured}", flush=True)


def rel(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(max |a − b|, max |a − b| / max |b|)."""
    d = float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())
    return d, d / max(float(np.abs(b).max()), 1e-30)


def npy(v) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(v))


# ------------------------------------------------------------------ layouts: Keras → PyTorch
def weighted(kmodel, tmodel):
    """[(name, keras layer, torch module, channels feeding it)] for the conv, conv, dense layers."""
    klayers = [layer for layer in kmodel.layers if layer.weights]
    tmods = [m for m in tmodel.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(klayers) == len(tmods) == 3, (klayers, tmods)
    channels = [None, tmods[0].out_channels, tmods[1].out_channels]
    return [(n, k, t, c) for n, k, t, c in zip(("conv1", "conv2", "dense"), klayers, tmods, channels)]


def kernel_to_torch(kernel: np.ndarray, channels: int | None, permute_flatten: bool = True) -> np.ndarray:
    """A Keras kernel in PyTorch's layout: conv HWIO → OIHW; dense (in, out) → (out, in), its input
    rows reordered from Keras's flatten of NHWC (h, w, c) to PyTorch's flatten of NCHW (c, h, w)."""
    if kernel.ndim == 4:
        return kernel.transpose(3, 2, 0, 1)
    n_in, n_out = kernel.shape
    if not permute_flatten:
        return kernel.T
    side = math.isqrt(n_in // channels)
    return kernel.reshape(side, side, channels, n_out).transpose(3, 2, 0, 1).reshape(n_out, n_in)


def keras_params(kmodel, tmodel, grads: bool = False) -> dict[str, np.ndarray]:
    """Every Keras weight (or its gradient) in PyTorch's layout, named like ``conv1.weight``."""
    out = {}
    for name, kl, _, c in weighted(kmodel, tmodel):
        kk, kb = kl.kernel, kl.bias
        k, b = (npy(kk.value.grad), npy(kb.value.grad)) if grads else (npy(kk), npy(kb))
        out[f"{name}.weight"], out[f"{name}.bias"] = kernel_to_torch(k, c), b
    return out


def torch_params(kmodel, tmodel, grads: bool = False) -> dict[str, np.ndarray]:
    out = {}
    for name, _, t, _ in weighted(kmodel, tmodel):
        w, b = (t.weight.grad, t.bias.grad) if grads else (t.weight, t.bias)
        out[f"{name}.weight"], out[f"{name}.bias"] = w.detach().numpy().copy(), b.detach().numpy().copy()
    return out


def copy_keras_to_torch(kmodel, tmodel, permute_flatten: bool = True) -> None:
    with torch.no_grad():
        for _, kl, t, c in weighted(kmodel, tmodel):
            t.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel_to_torch(npy(kl.kernel), c, permute_flatten))))
            t.bias.copy_(torch.from_numpy(npy(kl.bias)))


def flat(d: dict) -> np.ndarray:
    return np.concatenate([v.ravel() for v in d.values()]).astype(np.float64)


# ------------------------------------------------------------------ forward passes, layer by layer
def keras_stages(kmodel, x_nhwc: np.ndarray) -> list[tuple[str, np.ndarray]]:
    out, h = [], x_nhwc
    with torch.no_grad():
        for layer in kmodel.layers:
            h = layer(h)
            out.append((type(layer).__name__, npy(h)))
    return out


def torch_stages(tmodel, x_nchw: torch.Tensor) -> list[np.ndarray]:
    """The output after each layer that is not a padding (SamePad belongs to the layer after it)."""
    out, h = [], x_nchw
    with torch.no_grad():
        for m in tmodel:
            h = m(h)
            if type(m).__name__ != "SamePad":
                out.append(h.numpy().copy())
    return out


def nhwc_to_nchw(a: np.ndarray, channels_last_flat: int | None = None) -> np.ndarray:
    if a.ndim == 4:
        return a.transpose(0, 3, 1, 2)
    if channels_last_flat:  # Keras's flatten (h, w, c) → PyTorch's (c, h, w)
        n, m = a.shape
        side = math.isqrt(m // channels_last_flat)
        return a.reshape(n, side, side, channels_last_flat).transpose(0, 3, 1, 2).reshape(n, m)
    return a


# ------------------------------------------------------------------ the checks
def check_networks(nets) -> None:
    print("1. networks")
    for role, (km, tm) in nets.items():
        kshapes = {k: v.shape for k, v in keras_params(km, tm).items()}
        tshapes = {k: v.shape for k, v in torch_params(km, tm).items()}
        nk, nt = km.count_params(), kd.count_params(tm)
        row("1 networks", f"{role}: parameter shapes (Keras in torch layout vs rewrite), count",
            f"{'equal' if kshapes == tshapes else f'{kshapes} vs {tshapes}'}; {nk:,} vs {nt:,}",
            kshapes == tshapes and nk == nt)


def check_init(nets) -> None:
    print("2. initial weights (distributions)")
    for role, (km, tm) in nets.items():
        kp, tp = keras_params(km, tm), torch_params(km, tm)
        for name, _, t, _ in weighted(km, tm):
            w = t.weight
            fan_in = w.shape[1] * (w[0, 0].numel() if w.dim() == 4 else 1)
            fan_out = w.shape[0] * (w[0, 0].numel() if w.dim() == 4 else 1)
            bound = math.sqrt(6 / (fan_in + fan_out))  # Glorot-uniform
            kw, tw = kp[f"{name}.weight"].ravel(), tp[f"{name}.weight"].ravel()
            ks = stats.ks_2samp(kw, tw)
            uni_k = stats.kstest(kw, "uniform", args=(-bound, 2 * bound)).pvalue
            uni_t = stats.kstest(tw, "uniform", args=(-bound, 2 * bound)).pvalue
            sd = bound / math.sqrt(3)
            bias = max(abs(kp[f"{name}.bias"]).max(), abs(tp[f"{name}.bias"]).max())
            ok = (max(abs(kw).max(), abs(tw).max()) <= bound * (1 + 1e-6) and min(ks.pvalue, uni_k, uni_t) > 1e-3
                  and bias == 0)
            row("2 init", f"{role} {name} {tuple(w.shape)}: Glorot bound {bound:.4f}",
                f"max|w|/bound K {abs(kw).max() / bound:.4f} T {abs(tw).max() / bound:.4f}; "
                f"std/(bound/√3) K {kw.std() / sd:.4f} T {tw.std() / sd:.4f}; KS K-vs-T p={ks.pvalue:.2f}, "
                f"vs U(±bound) p={uni_k:.2f}/{uni_t:.2f}; bias max|b| {bias:g}", ok)


def check_forward(nets, xk: np.ndarray, xt: torch.Tensor) -> None:
    print(f"3. forward pass, Keras weights copied ({len(xk)} test images)")
    for role, (km, tm) in nets.items():
        copy_keras_to_torch(km, tm)
        f2 = weighted(km, tm)[1][2].out_channels
        ks, ts = keras_stages(km, xk), torch_stages(tm.eval(), xt)
        assert len(ks) == len(ts) == 6, (len(ks), len(ts))
        worst = 0.0
        parts = []
        for (lname, ka), ta in zip(ks, ts):
            d, r = rel(ta, nhwc_to_nchw(ka, f2 if lname == "Flatten" else None))
            worst = max(worst, r)
            parts.append(f"{lname} {d:.1e}")
        row("3 forward", f"{role}: layer by layer, max |Δ| (conv1, LeakyReLU, MaxPool, conv2, Flatten, Dense)",
            "; ".join(parts) + f"; worst relative {worst:.1e}", worst <= FWD_TOL)
        kl = ks[-1][1]
        cl = tm.to(memory_format=torch.channels_last)
        with torch.no_grad():
            tl = cl(xt.contiguous(memory_format=torch.channels_last)).numpy()
        tm.to(memory_format=torch.contiguous_format)
        d, r = rel(tl, kl)
        row("3 forward", f"{role}: logits with the network channels-last (as kd.fit and kd.evaluate run it)",
            f"max |Δ| {d:.1e} (relative {r:.1e}); argmax agrees on {int((tl.argmax(1) == kl.argmax(1)).sum())}"
            f"/{len(kl)}", r <= FWD_TOL)
        if role == "student":  # the control: the Dense rows copied without the flatten permutation
            naive = kd.build_model(K.STUDENT).eval()
            copy_keras_to_torch(km, naive, permute_flatten=False)
            with torch.no_grad():
                nl = naive(xt).numpy()
            d, r = rel(nl, kl)
            row("3 forward", "control: student with the Dense rows NOT permuted (flatten order ignored)",
                f"max |Δ| {d:.2f} (relative {r:.2f}): the permutation matters for copied weights, not for a "
                f"Glorot init, whose rows are exchangeable", None)


def keras_distiller(Distiller, student, teacher):
    d = Distiller(student=student, teacher=teacher)
    d.compile(optimizer=keras.optimizers.Adam(), metrics=[keras.metrics.SparseCategoricalAccuracy()],
              student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              distillation_loss_fn=keras.losses.KLDivergence(), alpha=K.KERAS_ALPHA, temperature=int(K.TEMPERATURE))
    return d


def zero_keras_grads(model) -> None:
    for v in model.weights:
        v.value.grad = None


def grad_rows(section, what, kg: dict, tg: dict) -> None:
    worst, parts = 0.0, []
    for k in kg:
        d, r = rel(tg[k], kg[k])
        worst = max(worst, r)
        parts.append(f"{k} {r:.1e}")
    row(section, what, "relative max |Δ|: " + "; ".join(parts), worst <= GRAD_TOL)


def check_loss(Distiller, nets, xk, yk, xt, yt) -> None:
    print(f"4. loss and gradients ({len(xk)} training images)")
    (kt, tt), (ks, ts) = nets["teacher"], nets["student"]
    dist = keras_distiller(Distiller, ks, kt)
    zero_keras_grads(ks), zero_keras_grads(kt)
    kloss = dist.compute_loss(x=xk, y=yk, y_pred=ks(xk))
    kloss.backward()
    kl = float(kloss)
    kg = keras_params(ks, ts, grads=True)
    with torch.no_grad():
        t_logits = tt.eval()(xt)
    losses = {"KerasDistillerLoss(0.1, 10)": K.keras_loss(), "DistillationLoss(10, α=0.9)": K.book_loss()}
    for name, fn in losses.items():
        ts.zero_grad()
        v = fn(ts(xt), t_logits, yt)
        v.backward()
        row("4 loss", f"distillation loss: Keras compute_loss {kl:.6f} vs {name} {float(v):.6f}",
            f"|Δ| {abs(float(v) - kl):.1e} (relative {abs(float(v) - kl) / abs(kl):.1e})",
            abs(float(v) - kl) <= FWD_TOL * abs(kl))
        grad_rows("4 gradient", f"student gradients, Keras compute_loss vs {name}", kg, torch_params(ks, ts, True))
    p = torch.softmax(t_logits / K.TEMPERATURE, 1)
    q = torch.softmax(ts(xt).detach() / K.TEMPERATURE, 1)
    row("4 loss", "softened probabilities below Keras's clip 1e-7 (teacher / student, T = 10)",
        f"{int((p < 1e-7).sum())} / {int((q < 1e-7).sum())} of {p.numel()}: the clip is idle here", None)

    # the teacher: Keras's Distiller trains every weight it tracks, the teacher's included
    names_s = {id(v) for v in ks.trainable_weights}
    n_teacher = sum(id(v) not in names_s for v in dist.trainable_weights)
    tg = {k: np.abs(v) for k, v in keras_params(kt, tt, grads=True).items()}
    s_norm = float(np.sqrt(sum((g ** 2).sum() for g in kg.values())))
    t_norm = float(np.sqrt(sum((g ** 2).sum() for g in tg.values())))
    row("4 gradient", "gradient reaching the TEACHER (Keras: compute_loss calls it inside the tape; rewrite: "
        "frozen, outputs cached)",
        f"Keras: Distiller.trainable_weights holds {len(dist.trainable_weights)} variables, {n_teacher} of them "
        f"the teacher's; ‖∇teacher‖ {t_norm:.2e} (student's ‖∇‖ {s_norm:.2e}); rewrite: none", False)

    # scratch: SparseCategoricalCrossentropy(from_logits=True) vs kd's CrossEntropy
    zero_keras_grads(ks)
    kce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(yk, ks(xk))
    kce.backward()
    ts.zero_grad()
    tce = kd.CrossEntropy()(ts(xt), None, yt)
    tce.backward()
    row("4 loss", f"scratch loss: SparseCategoricalCrossentropy {float(kce):.6f} vs kd.CrossEntropy {float(tce):.6f}",
        f"|Δ| {abs(float(kce) - float(tce)):.1e}", abs(float(kce) - float(tce)) <= FWD_TOL * float(kce))
    grad_rows("4 gradient", "student gradients, scratch loss", keras_params(ks, ts, True), torch_params(ks, ts, True))
    zero_keras_grads(ks), zero_keras_grads(kt)


def fit_optimizer(model, budget, fused: bool = True):
    """The optimiser as kd.fit builds it: over the model's param_groups where it has them, with the
    step hook that the chapter's networks' callback (K.KerasAdam) attaches for Keras's ε placement."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = model.param_groups(budget.lr, budget.weight_decay) if hasattr(model, "param_groups") else params
    opt = make_optimizer(groups, budget, fused=fused)
    opt.register_step_pre_hook(K.keras_adam_epsilon)  # it acts on the groups marked keras_adam only
    return opt


def check_adam(Distiller, nets, batches_k) -> None:
    print(f"5a. Adam on identical gradients ({len(batches_k)} steps, distillation loss)")
    (kt, tt), (ks, ts) = nets["teacher"], nets["student"]
    w0 = ks.get_weights()
    dist = keras_distiller(Distiller, ks, kt)
    kopt = keras.optimizers.Adam()
    budget = K.PROTOCOL.budget("student", kb.Run(profile="cpu"))
    variants = {}
    for name in ("rewrite (kd.fit's optimiser, fused)", "rewrite, unfused", "torch's ε placement"):
        m = kd.build_model(K.STUDENT)
        copy_keras_to_torch(ks, m)
        params = [p for mod in weighted(ks, m) for p in (mod[2].weight, mod[2].bias)]
        opt = (make_optimizer(params, budget, fused=True) if name.startswith("torch") else
               fit_optimizer(m, budget, fused="unfused" not in name))
        variants[name] = (m, params, opt)
    start = flat(keras_params(ks, ts))
    for step, (xk, yk) in enumerate(batches_k, 1):
        zero_keras_grads(ks), zero_keras_grads(kt)
        dist.compute_loss(x=xk, y=yk, y_pred=ks(xk)).backward()
        grads = [v.value.grad.clone() for v in ks.trainable_weights]
        gk = keras_params(ks, ts, grads=True)
        before = flat(keras_params(ks, ts))
        with torch.no_grad():
            kopt.apply(grads, ks.trainable_weights)
        after = keras_params(ks, ts)
        upd = np.abs(flat(after) - before).max()
        parts, ok = [], True
        for name, (m, params, opt) in variants.items():
            for p, g in zip(params, gk.values()):
                p.grad = torch.from_numpy(np.ascontiguousarray(g)).clone()
            opt.step()
            d = np.abs(flat(torch_params(ks, m)) - flat(after))
            parts.append(f"{name.split(' (')[0]} {d.max() / LR:.1e}·lr ({int((d > 1e-3 * LR).sum())} weights "
                         f"> 1e-3·lr)")
            if name.startswith("rewrite"):
                ok = ok and d.max() <= 1e-4 * LR
        row("5a Adam", f"step {step}: max |w − w_Keras| (largest update this step {upd / LR:.2f}·lr)",
            "; ".join(parts), ok)
    total = np.linalg.norm(flat(after) - start)
    for name, (m, _, _) in variants.items():
        d = np.linalg.norm(flat(torch_params(ks, m)) - flat(after))
        row("5a Adam", f"after {len(batches_k)} steps, {name}: ‖w − w_Keras‖ / ‖w_Keras − w₀‖", f"{d / total:.1e}",
            d / total <= 1e-4 if name.startswith("rewrite") else None)
    ks.set_weights(w0)
    zero_keras_grads(ks), zero_keras_grads(kt)


def check_steps(Distiller, make_student, make_teacher, nets, sub_k, sub_t, perm, seed, xk_eval, xt_eval) -> dict:
    """Whole training steps: kd.fit (1 epoch over the few images) against Keras's train_on_batch on the
    batches kd.fit draws, from identical weights."""
    print(f"5b. whole steps: kd.fit vs Keras train_on_batch ({len(perm) // 32} batches of 32, same order)")
    (kt, tt), (ks, ts) = nets["teacher"], nets["student"]
    w0, wt0 = ks.get_weights(), kt.get_weights()
    (xk, yk) = sub_k
    order = [perm[i:i + 32] for i in range(0, len(perm), 32)]
    budget = K.PROTOCOL.budget("student", kb.Run(profile="cpu")).replace(epochs=1)
    out = {}

    def rewrite(teacher=None):
        m = kd.build_model(K.STUDENT)
        copy_keras_to_torch(ks, m)
        loss = None
        if teacher is not None:
            kb.current().remember(teacher, None, precision="float32")  # its logits in float32, as Keras computes them
            loss = K.keras_loss()
        kd.fit(m, sub_t, budget, teacher=teacher, loss=loss, seed=seed, progress=False, device="cpu")
        return flat(torch_params(ks, m)), m

    def keras_run(kind):
        keras.utils.set_random_seed(seed)
        s = make_student()
        s.set_weights(w0)
        if kind == "scratch":
            s.compile(optimizer=keras.optimizers.Adam(),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[keras.metrics.SparseCategoricalAccuracy()])
            model, t = s, None
        else:
            t = make_teacher()
            t.set_weights(wt0)
            if kind == "frozen":
                t.trainable = False
            model = keras_distiller(Distiller, s, t)
        for idx in order:
            model.train_on_batch(xk[idx], yk[idx])
        ts_ = kd.build_model(K.STUDENT)
        return flat(keras_params(s, ts_)), s, t

    start = flat(keras_params(ks, ts))
    w_scratch, m_scratch = rewrite()
    k_scratch, ks_scratch, _ = keras_run("scratch")
    d = np.linalg.norm(w_scratch - k_scratch) / np.linalg.norm(k_scratch - start)
    row("5b steps", "scratch student: kd.fit vs Keras fit steps, ‖Δw‖ / ‖update‖",
        f"{d:.1e} (max |Δw| {np.abs(w_scratch - k_scratch).max() / LR:.1e}·lr)", d <= 1e-2)
    out["scratch"] = ks_scratch

    tcopy = kd.build_model(K.TEACHER)
    copy_keras_to_torch(kt, tcopy)
    w_kd, _ = rewrite(tcopy.eval())
    for kind in ("frozen", "as published"):
        k_kd, s_k, t_k = keras_run(kind)
        d = np.linalg.norm(w_kd - k_kd) / np.linalg.norm(k_kd - start)
        if kind == "frozen":
            row("5b steps", "distilled student: kd.fit vs Keras Distiller with teacher.trainable = False, "
                "‖Δw‖ / ‖update‖", f"{d:.1e} (max |Δw| {np.abs(w_kd - k_kd).max() / LR:.1e}·lr)", d <= 1e-2)
            continue
        row("5b steps", "distilled student: kd.fit vs Keras Distiller as published (teacher trainable), "
            "‖Δw‖ / ‖update‖", f"{d:.1e} (max |Δw| {np.abs(w_kd - k_kd).max() / LR:.1e}·lr)", d <= 1e-2)
        k_teacher = flat(keras_params(t_k, kd.build_model(K.TEACHER)))
        t_start = flat(keras_params(kt, kd.build_model(K.TEACHER)))
        for lname, loss in (("KerasDistillerLoss", K.keras_loss()), ("DistillationLoss α = 0.9", K.book_loss())):
            joint = K.CoTrained(kd.build_model(K.STUDENT), kd.build_model(K.TEACHER))
            copy_keras_to_torch(ks, joint.student)
            copy_keras_to_torch(kt, joint.teacher)
            kd.fit(joint, sub_t, budget, loss=K.TeacherInOutput(loss), seed=seed, progress=False, device="cpu")
            ws = flat(torch_params(ks, joint.student))
            wt = flat(torch_params(kt, joint.teacher))
            ds = np.linalg.norm(ws - k_kd) / np.linalg.norm(k_kd - start)
            dt = np.linalg.norm(wt - k_teacher) / np.linalg.norm(k_teacher - t_start)
            row("5b steps", f"opt-in K.CoTrained (teacher trained along, {lname}) vs Keras Distiller as published, "
                "‖Δw‖ / ‖update‖", f"student {ds:.1e}, teacher {dt:.1e}", max(ds, dt) <= 1e-2)
        tw0 = np.concatenate([w.ravel() for w in wt0])
        tw1 = np.concatenate([w.ravel() for w in t_k.get_weights()])
        with torch.no_grad():
            before, after = kt(xk_eval), t_k(xk_eval)
        before, after = npy(before), npy(after)
        pb, pa = (torch.softmax(torch.from_numpy(v) / K.TEMPERATURE, 1).numpy() for v in (before, after))
        row("5b steps", f"the Keras TEACHER after {len(order)} distillation steps (as published)",
            f"weights moved: max |Δ| {np.abs(tw1 - tw0).max() / LR:.2f}·lr, ‖Δ‖/‖w‖ "
            f"{np.linalg.norm(tw1 - tw0) / np.linalg.norm(tw0):.1e}; logits on {len(xk_eval)} test images: max "
            f"|Δ| {np.abs(after - before).max():.2e}, soft targets (T = 10) max |Δ| {np.abs(pa - pb).max():.1e}, "
            f"argmax changed on {int((after.argmax(1) != before.argmax(1)).sum())}; rewrite: teacher fixed "
            f"(K.train_student), "
            f"trained along only in the opt-in K.cotrained_student",
            bool(np.abs(tw1 - tw0).max() == 0))
    return out


def check_teacher_drift(Distiller, make_student, make_teacher, wt0, x_train, y_train, x_test, y_test,
                        steps: int, seed: int) -> None:
    """How far a trained teacher drifts in the first ``steps`` steps of the published distillation."""
    keras.utils.set_random_seed(seed)
    s, t = make_student(), make_teacher()
    t.set_weights(wt0)
    t.compile(metrics=[keras.metrics.SparseCategoricalAccuracy()],
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    acc0 = t.evaluate(x_test, y_test, verbose=0, batch_size=256)[1]
    dist = keras_distiller(Distiller, s, t)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x_train))[:32 * steps]
    for i in range(steps):
        b = idx[32 * i:32 * (i + 1)]
        dist.train_on_batch(x_train[b], y_train[b])
    acc1 = t.evaluate(x_test, y_test, verbose=0, batch_size=256)[1]
    row("5b steps", f"trained Keras teacher's test accuracy ({len(x_test)} images) before / after {steps} steps of "
        "the published distillation", f"{100 * acc0:.2f} % → {100 * acc1:.2f} %", acc0 == acc1)


def check_batches() -> None:
    print("6. batching, evaluation, inputs")

    class Recorder(keras.Model):
        """Records the rows fit() hands to each train step (x holds each row's index)."""

        def __init__(self):
            super().__init__()
            self.dense, self.seen = keras.layers.Dense(1), []

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            self.seen.append(npy(data[0])[:, 0].astype(np.int64))
            return {}

    for n, epochs in ((60_000, 1), (500, 2)):
        rec = Recorder()
        rec.compile(optimizer="adam", loss="mse")
        rec.fit(np.arange(n, dtype=np.float32)[:, None], np.zeros(n, np.float32), epochs=epochs, verbose=0)
        gen = torch.Generator().manual_seed(0)
        ours = [b.numpy() for _ in range(epochs) for b in kd.augment.batches(n, 32, generator=gen)]  # as kd.fit calls it

        def describe(seen):
            per = len(seen) // epochs
            eps = [np.concatenate(seen[e * per:(e + 1) * per]) for e in range(epochs)]
            perm = all(np.array_equal(np.sort(e), np.arange(n)) for e in eps)
            shuffled = all(not np.array_equal(e, np.arange(n)) for e in eps)
            differ = epochs == 1 or not np.array_equal(eps[0], eps[1])
            return (per, sorted({len(b) for b in seen[:per - 1]}), len(seen[per - 1]), perm, shuffled, differ)

        k, t = describe(rec.seen), describe(ours)
        fmt = "{} batches/epoch of {}, last {}, every row once {}, shuffled {}, reshuffled each epoch {}"
        row("6 batches", f"fit over {n:,} rows × {epochs} epoch(s): Keras fit() vs kd.fit's batches()",
            "Keras: " + fmt.format(*k) + " | kd: " + fmt.format(*t), k == t)


def check_eval(Distiller, nets, keras_student, x_test, y_test, test) -> None:
    ks = keras_student
    m = kd.build_model(K.STUDENT)
    copy_keras_to_torch(ks, m)  # the same weights on both sides
    kb.current().remember(m, None, precision="float32")  # as kd.trained records it for the float32 budget
    k_acc = ks.evaluate(x_test, y_test, verbose=0)[1]
    ours = kd.evaluate(m, test, device="cpu")
    kp = ks.predict(x_test, verbose=0, batch_size=1024).argmax(1)
    tp = kd.predict_logits(m, test, device="cpu").argmax(1).numpy()
    row("6 evaluate", f"Keras student after 5 steps, weights copied, {len(y_test):,} test images: Keras "
        "evaluate() vs kd.evaluate",
        f"{100 * k_acc:.2f} % vs {ours['accuracy']:.2f} %; predictions differ on {int((kp != tp).sum())}",
        abs(100 * k_acc - ours["accuracy"]) < 1e-9 + 100 / len(y_test) / 2 and int((kp != tp).sum()) == 0)
    (kt, _), _ = nets["teacher"], nets["student"]
    d = keras_distiller(Distiller, ks, kt)
    n = 256
    da = d.evaluate(x_test[:n], y_test[:n], verbose=0, return_dict=True)["sparse_categorical_accuracy"]
    sa = ks.evaluate(x_test[:n], y_test[:n], verbose=0, return_dict=True)["sparse_categorical_accuracy"]
    row("6 evaluate", f"Distiller.evaluate() vs student.evaluate() ({n} images): what the slides report",
        f"{100 * da:.2f} % vs {100 * sa:.2f} % (the Distiller's metric reads the student's outputs)", da == sa)
    # the teacher's precision in the chapter's cpu profile: "auto" (bf16 on a CPU with AMX/AVX512-BF16)
    t = nets["teacher"][1]
    sub = kd.TensorData(test.x[:64], test.y[:64], "mnist:test|first64")
    kb.current().remember(t, None, precision="float32")
    f32 = kd.predict_logits(t, sub, device="cpu")
    kb.current().remember(t, None, precision="auto")
    auto = kd.predict_logits(t, sub, device="cpu")
    dtype = kd.device.amp_dtype("cpu", "auto")
    p32, pa = (torch.softmax(v / K.TEMPERATURE, 1) for v in (f32, auto))
    row("6 evaluate", "teacher logits as the cpu profile computes them (budget precision 'auto') vs float32",
        f"{dtype or 'float32'} here: logits max |Δ| {float((auto - f32).abs().max()):.1e} (relative "
        f"{float((auto - f32).abs().max() / f32.abs().max()):.1e}); soft targets (T = 10) max |Δ| "
        f"{float((pa - p32).abs().max()):.1e}; the card names it (teacher in bf16 in the cpu profile)", None)


def check_inputs(x_train, y_train, x_test, y_test) -> tuple:
    train, test = K.datasets(kb.Run(profile="cpu"))
    worst = 0.0
    for xk, yk, data in ((x_train, y_train, train), (x_test, y_test, test)):
        for i in range(0, len(data), 10_000):
            xt = data.prepare(data.x[i:i + 10_000]).permute(0, 2, 3, 1).numpy()
            worst = max(worst, float(np.abs(xt - xk[i:i + 10_000]).max()))
        assert np.array_equal(data.y.numpy(), yk.astype(np.int64))
    lo, hi = float(x_train.min()), float(x_train.max())
    row("6 inputs", "images: Keras x.astype(float32) / 255 (NHWC) vs K.datasets() + prepare (NCHW), all 70,000",
        f"max |Δ| {worst:g}; labels equal; mean {train.mean}, std {train.std} (no normalisation); range "
        f"[{lo:g}, {hi:g}]; {len(train):,} / {len(test):,} images", worst == 0 and train.mean == (0.0,)
        and train.std == (1.0,))
    return train, test


def find_teacher(path: str | None) -> Path | None:
    if path:
        return Path(path)
    cache = Path(os.environ.get("KD_CACHE_DIR", Path.home() / ".cache" / "kdhelpers")).expanduser()
    found = sorted(cache.glob(f"keras-reference-teacher-seed*-keras{keras.__version__}.weights.h5"))
    return found[0] if found else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=64, help="images for the forward and gradient checks")
    p.add_argument("--steps", type=int, default=5, help="Adam steps compared")
    p.add_argument("--teacher-weights", help="a trained Keras teacher (.weights.h5); default: the reference "
                   "run's cached one in $KD_CACHE_DIR, if any")
    p.add_argument("--drift-steps", type=int, default=20,
                   help="with a trained teacher: distillation steps after which its accuracy is measured again")
    a = p.parse_args(argv)
    if keras.backend.backend() != "torch":
        raise SystemExit(f"run with KERAS_BACKEND=torch (got {keras.backend.backend()!r})")
    t0 = time.perf_counter()
    Distiller, make_teacher, make_student = R.networks()
    x_train, y_train, x_test, y_test = R.data(kd.data.data_root())

    keras.utils.set_random_seed(a.seed)
    kt, ks = make_teacher(), make_student()
    kd.seed_everything(a.seed)
    tt, ts = kd.build_model(K.TEACHER), kd.build_model(K.STUDENT)
    nets = {"teacher": (kt, tt), "student": (ks, ts)}
    check_networks(nets)
    check_init(nets)

    weights = find_teacher(a.teacher_weights)
    if weights is not None and weights.exists():
        kt.load_weights(weights)
        teacher_note = f"trained teacher {weights.name}"
    else:
        weights = None
        teacher_note = "teacher as initialised (no trained Keras teacher found)"
    print(f"   checks 3-5 use the {teacher_note}")
    wt0 = kt.get_weights()

    train, test = check_inputs(x_train, y_train, x_test, y_test)
    gen = np.random.default_rng(a.seed)
    ev = gen.choice(len(x_test), a.batch, replace=False)
    xk_eval, xt_eval = x_test[ev], test.prepare(test.x[ev])
    check_forward(nets, xk_eval, xt_eval)

    tr = gen.choice(len(x_train), a.batch, replace=False)
    check_loss(Distiller, nets, x_train[tr], y_train[tr], train.prepare(train.x[tr]), train.y[tr])

    rows = gen.choice(len(x_train), 32 * a.steps, replace=False)
    batches_k = [(x_train[rows[i:i + 32]], y_train[rows[i:i + 32]]) for i in range(0, len(rows), 32)]
    check_adam(Distiller, nets, batches_k)

    sub_t = kd.TensorData(train.x[rows], train.y[rows], f"mnist:train|keras-step-compare{len(rows)}")
    perm = torch.randperm(len(rows), generator=torch.Generator().manual_seed(a.seed)).numpy()  # kd.fit's order
    pair = check_steps(Distiller, make_student, make_teacher, nets, (x_train[rows], y_train[rows]), sub_t, perm,
                       a.seed, xk_eval, xt_eval)
    if weights is not None and a.drift_steps:
        check_teacher_drift(Distiller, make_student, make_teacher, wt0, x_train, y_train, x_test[:1000],
                            y_test[:1000], a.drift_steps, a.seed)

    check_batches()
    check_eval(Distiller, nets, pair["scratch"], x_test, y_test, test)

    print(f"\n{teacher_note}; keras {keras.__version__} ({keras.backend.backend()}), torch {torch.__version__}, "
          f"1 thread, {time.perf_counter() - t0:.0f} s\n")
    w = [max(len(r[i]) for r in ROWS) for i in range(2)]
    print(f"{'section':{w[0]}}  {'check':{w[1]}}  verdict  measured")
    for s, c, m, v in sorted(ROWS, key=lambda r: r[0][0]):  # by section, in the order measured
        print(f"{s:{w[0]}}  {c:{w[1]}}  {v:7}  {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
