"""``kd.fit`` is a short loop whose extras are callbacks; it must train exactly as the one long loop it
replaced.

``reference_fit`` below is that loop, written out once more in plain PyTorch: the teacher's outputs
computed per transfer set (and per mirrored view), channels-last, augmentation from the batch-order
generator, autocast and the gradient scaler, gradient clipping, the schedule, max-norm, Lookahead, the
airbench model's own hooks, the loss per epoch, ``on_epoch_end`` and the dry run's stop. Every case
trains a tiny model both ways from the same start and requires the same weights, BatchNorm statistics,
losses and per-epoch measurements to the bit (``torch.equal``), not to a tolerance.
"""
import copy
import math
from dataclasses import replace

import pytest
import torch
from torch import nn

import kdhelpers as kd
import kdbook as kb
from kdhelpers.budget import make_optimizer, make_schedule
from kdhelpers.augment import AUGMENTATIONS, VIEW_AUGMENTATIONS, alternating_flip_mask, batches
from kdhelpers.data import TensorData
from kdhelpers.device import amp_dtype, grad_scaler
from kdbook.chapter import load

CPU = torch.device("cpu")


# --------------------------------------------------------------------------- the loop fit must equal
def _has_conv(model):
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def _precision(budget):
    return budget.precision if budget.precision in ("float32", "float16") else None


def reference_fit(model, data, budget, *, teacher=None, loss=None, seed=0, on_epoch_end=None, dry_run=False):
    """The training loop as one function (kdhelpers' fit before it became a loop with callbacks)."""
    max_batches, dry_batch = 2, 8  # kdhelpers.dryrun's MAX_BATCHES and BATCH
    loss = loss or kd.CrossEntropy(budget.label_smoothing)
    augment = AUGMENTATIONS[budget.augment] if budget.augment else None
    dtype = amp_dtype(CPU, _precision(budget))
    gen = torch.Generator().manual_seed(seed)
    conv = data.x.dim() == 4 and _has_conv(model)
    if conv:
        model.to(memory_format=torch.channels_last)
    teacher_out = teacher_views = None
    teacher_conv = False
    if teacher is not None:
        teacher.eval()
        teacher_conv = data.x.dim() == 4 and _has_conv(teacher)
        if teacher_conv:
            teacher.to(memory_format=torch.channels_last)
        if augment is None and budget.cache_teacher:
            teacher_out = kd.predict_logits(teacher, data, device=CPU)
        elif budget.augment in VIEW_AUGMENTATIONS and budget.cache_teacher:
            teacher_views = (kd.predict_logits(teacher, data, device=CPU),
                             kd.predict_logits(teacher, replace(data, x=data.x.flip(-1)), device=CPU))
    if hasattr(model, "data_init"):
        model.data_init(data.prepare(data.x[:5000]))
    params = [p for p in model.parameters() if p.requires_grad or hasattr(model, "epoch_start")]
    groups = model.param_groups(budget.lr, budget.weight_decay) if hasattr(model, "param_groups") else params
    opt = make_optimizer(groups, budget, fused=True)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def lookahead(decay):
        state = model.state_dict()
        for k, avg in ema.items():
            avg.lerp_(state[k], 1 - decay)
            state[k].copy_(avg)

    batch_size = min(budget.batch_size, dry_batch) if dry_run else budget.batch_size
    steps = budget.epochs * math.ceil(len(data) / batch_size)
    sched = None if budget.schedule == "constant" else make_schedule(opt, budget, steps)
    scaler = grad_scaler(CPU, dtype)
    history, done = [], 0
    for epoch in range(budget.epochs):
        model.train()
        if hasattr(model, "epoch_start"):
            model.epoch_start(epoch)
        total = torch.zeros(())
        for idx in batches(len(data), batch_size, generator=gen):
            if dry_run and done >= max_batches:
                break
            done += 1
            xb = data.x.index_select(0, idx)
            if augment is not None:
                xb = augment(xb, generator=gen, epoch=epoch, idx=idx)
            xb, yb = data.prepare(xb), data.y.index_select(0, idx)
            if conv or (teacher_conv and teacher_out is None):
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                out = model(xb)
                t = None
                if teacher_out is not None:
                    t = teacher_out.index_select(0, idx)
                elif teacher_views is not None:
                    t = torch.where(alternating_flip_mask(idx, epoch)[:, None],
                                    teacher_views[1].index_select(0, idx), teacher_views[0].index_select(0, idx))
                elif teacher is not None:
                    with torch.no_grad():
                        t = teacher(xb)
                value = loss(out, t, yb)
            opt.zero_grad(set_to_none=True)
            scaler.scale(value).backward()
            if budget.clip_grad_norm:
                scaler.unscale_(opt)
                grads = [p.grad for p in params if p.grad is not None]
                norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
                if norm + 1e-6 > budget.clip_grad_norm:
                    torch._foreach_mul_(grads, budget.clip_grad_norm / (norm + 1e-6))
            scaler.step(opt)
            scaler.update()
            if sched is not None:
                sched.step()
            if budget.max_norm:
                with torch.no_grad():
                    for m in model.modules():
                        if isinstance(m, nn.Linear):
                            m.weight.renorm_(2, 0, budget.max_norm)
            if budget.lookahead and done % 5 == 0:
                lookahead(0.95 ** 5 * (done / steps) ** 3)
            total += value.detach() * len(idx)
        history.append(float(total) / len(data))
        if on_epoch_end is not None:
            model.eval()
            on_epoch_end(epoch + 1, model)
        if dry_run and done >= max_batches and on_epoch_end is None:
            break
    if budget.lookahead:
        lookahead(1.0)
    model.eval()
    return history


# --------------------------------------------------------------------------- the cases
def _images(n, shape, seed=0, name="img"):
    """uint8 images whose class k brightens pixel k, so training moves the weights the same way each time."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.randint(0, 120, (n, *shape), generator=g, dtype=torch.uint8)
    x.view(n, -1)[torch.arange(n), y] = 255
    mean, std = ((0.3,) * shape[0], (0.25,) * shape[0]) if shape[0] == 3 else ((0.0,), (1.0,))
    return TensorData(x, y, f"{name}{n}s{seed}", mean, std)


MLP = {"arch": "mlp", "hidden": [24], "in_features": 64}
MLP_DROP = {"arch": "mlp", "hidden": [24, 24], "in_features": 64, "dropout": 0.3, "input_dropout": 0.1}
MLP_TEACHER = {"arch": "mlp", "hidden": [40], "in_features": 64}
load("keras_distiller")  # registers keras_convnet, the Keras example's network (on its chapter's page)
load("cifar_resnet_vgg")  # registers airbench, the fast-CIFAR network (on its chapter's page)
CONV = {"arch": "keras_convnet", "filters": [4, 8]}  # a convolutional net without hooks of its own
CONV_TEACHER = {"arch": "keras_convnet", "filters": [6, 8]}
AIRBENCH = {"arch": "airbench", "widths": [4, 8, 8], "residual": True}  # data_init, epoch_start, param_groups
AIRBENCH_TEACHER = {"arch": "airbench", "widths": [8, 8, 8]}
MLP_RGB = {"arch": "mlp", "hidden": [16], "in_features": 3 * 32 * 32}

CASES = {
    # name: (student, teacher or None, data shape, n, budget, loss)
    "mlp hard labels, cosine, label smoothing": (
        MLP, None, (1, 8, 8), 160, kd.Budget(epochs=3, batch_size=32, lr=0.05, label_smoothing=0.1), None),
    "mlp distilled, cached teacher, dropout, linear warm-up, max-norm, clipping": (
        MLP_DROP, MLP_TEACHER, (1, 8, 8), 160,
        kd.Budget(epochs=3, batch_size=32, lr=0.2, schedule="linear", warmup=0.3, lr_start=0.1, lr_end=0.05,
                  max_norm=0.6, clip_grad_norm=0.5), kd.DistillationLoss(4.0, alpha=0.7)),
    "mlp distilled, teacher per batch, jitter, onecycle, adam": (
        MLP, MLP_TEACHER, (1, 8, 8), 128,
        kd.Budget(epochs=2, batch_size=32, lr=1e-2, optimizer="adam", schedule="onecycle", augment="jitter",
                  cache_teacher=False), kd.DistillationLoss(2.0, alpha=0.5)),
    "conv net distilled, crop_flip, conv teacher per batch, multistep, weight decay": (
        CONV, CONV_TEACHER, (1, 28, 28), 48,
        kd.Budget(epochs=3, batch_size=16, lr=0.05, schedule="multistep", milestones=(1, 2), gamma=0.5,
                  augment="crop_flip", weight_decay=5e-4), kd.DistillationLoss(3.0, alpha=0.9)),
    "conv net distilled, alternating flip, mirrored teacher views": (
        CONV, CONV_TEACHER, (1, 28, 28), 48,
        kd.Budget(epochs=2, batch_size=16, lr=0.05, augment="alternating_flip"), kd.DistillationLoss(4.0, alpha=0.5)),
    "mlp student of a conv teacher's mirrored views": (
        MLP_RGB, AIRBENCH_TEACHER, (3, 32, 32), 48,
        kd.Budget(epochs=2, batch_size=16, lr=0.05, augment="alternating_flip"), kd.DistillationLoss(4.0, alpha=0.5)),
    "airbench, alternating flip, mirrored views, lookahead, nesterov, clipping, 4 epochs": (
        AIRBENCH, AIRBENCH_TEACHER, (3, 32, 32), 48,
        kd.Budget(epochs=4, batch_size=16, lr=0.2, momentum=0.85, nesterov=True, weight_decay=5e-3,
                  schedule="linear", warmup=0.25, lr_start=0.2, lr_end=0.07, augment="alternating_flip",
                  lookahead=True, clip_grad_norm=2.0), kd.DistillationLoss(4.0, alpha=0.5)),
    "airbench hard labels, flip + translate, label smoothing, lookahead": (
        AIRBENCH, None, (3, 32, 32), 48,
        kd.Budget(epochs=4, batch_size=16, lr=0.2, momentum=0.85, nesterov=True, weight_decay=5e-3,
                  augment="alternating_flip_translate", label_smoothing=0.2, lookahead=True), None),
    "mlp float16 with a gradient scaler and clipping": (
        MLP, MLP_TEACHER, (1, 8, 8), 128,
        kd.Budget(epochs=2, batch_size=32, lr=1e-2, optimizer="adam", schedule="constant", precision="float16",
                  clip_grad_norm=0.5), kd.DistillationLoss(4.0, alpha=0.7)),
}


def _start(case):
    student_cfg, teacher_cfg, shape, n, budget, loss = CASES[case]
    data = _images(n, shape, name=case.split(",")[0].replace(" ", "-"))
    teacher = None
    if teacher_cfg is not None:
        torch.manual_seed(11)
        teacher = kd.build_model(teacher_cfg).eval()
        kb.current().remember(teacher, f"test-fit-callbacks|{case}", precision=budget.precision)
    torch.manual_seed(5)
    student = kd.build_model(student_cfg)
    return student, teacher, data, budget, loss


def _train_both(case, *, track, dry_run=False, monkeypatch=None):
    """The case trained by kd.fit and by reference_fit from the same start, the global RNG (dropout)
    seeded alike: (model, history, measurements) for each."""
    by_fit, teacher, data, budget, loss = _start(case)
    by_ref = copy.deepcopy(by_fit)
    results = []
    for model, train in ((by_fit, "fit"), (by_ref, "ref")):
        seen = []

        def hook(epoch, m):
            seen.append((epoch, m.training, kd.predict_logits(m, data, device="cpu")))

        t = None if teacher is None else copy.deepcopy(teacher)
        if t is not None:
            kb.current().alias(t, of=teacher)
        torch.manual_seed(7)
        if train == "fit":
            history = kd.fit(model, data, budget, teacher=t, loss=loss, seed=3, device="cpu", progress=False,
                             on_epoch_end=hook if track else None)["loss"]
        else:
            history = reference_fit(model, data, budget, teacher=t, loss=loss, seed=3,
                                    on_epoch_end=hook if track else None, dry_run=dry_run)
        results.append((model, history, seen))
    return results


def _assert_identical(a, b):
    (m1, h1, s1), (m2, h2, s2) = a, b
    assert h1 == h2, f"losses per epoch differ: {h1} vs {h2}"
    sd1, sd2 = m1.state_dict(), m2.state_dict()
    assert sd1.keys() == sd2.keys()
    for k in sd1:
        assert torch.equal(sd1[k], sd2[k]), f"{k}: max |diff| {(sd1[k].float() - sd2[k].float()).abs().max().item():.3e}"
    assert [(e, tr) for e, tr, _ in s1] == [(e, tr) for e, tr, _ in s2]
    assert all(torch.equal(x, y) for (_, _, x), (_, _, y) in zip(s1, s2))
    assert not m1.training and not m2.training


@pytest.mark.parametrize("case", list(CASES))
def test_fit_trains_exactly_as_the_one_loop(case, monkeypatch):
    if CASES[case][4].precision == "float16":
        monkeypatch.setenv("KD_AMP", "1")  # the tests' default turns autocast off
    fit, ref = _train_both(case, track=True)
    start = _start(case)[0].state_dict()
    assert any(not torch.equal(start[k], v) for k, v in fit[0].state_dict().items()), "nothing trained"
    assert len(fit[2]) == CASES[case][4].epochs
    _assert_identical(fit, ref)


@pytest.mark.parametrize("track", [True, False])
def test_a_dry_run_stops_as_the_one_loop(track, monkeypatch):
    monkeypatch.setenv("KD_DRY_RUN", "1")
    case = "mlp distilled, cached teacher, dropout, linear warm-up, max-norm, clipping"
    fit, ref = _train_both(case, track=track, dry_run=True)
    _assert_identical(fit, ref)
    assert len(fit[1]) == (3 if track else 1)  # every epoch ends (for the hook), or the fit ends with the first
