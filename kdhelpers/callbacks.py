"""The extension points of :func:`kdhelpers.fit`, as fastai has them: callbacks.

``fit`` is a short loop: for each epoch, for each batch, get the inputs, run the student, get the
teacher's outputs, compute the loss, backpropagate, step. Everything else happens in a callback,
called at a named point of the loop (an *event*) with the :class:`Loop` the loop and the callbacks
share:

==================  ==========================================================================
``before_fit``      after the optimiser is made, before the first epoch (set-up)
``before_epoch``    after ``model.train()``
``before_batch``    before anything is drawn for the batch (a dry run stops here)
``before_pred``     the batch is ready in ``loop.xb`` / ``loop.yb``
``after_pred``      ``loop.out`` holds the student's outputs; a teacher callback sets ``loop.teacher_out``
``after_backward``  the gradients are there, not yet stepped
``after_step``      the optimiser has stepped
``after_epoch``     after the epoch's last batch
``after_fit``       after the last epoch, before ``model.eval()``
==================  ==========================================================================

Callbacks run in the order of their list at every event (:func:`kdhelpers.train.callbacks_for`
assembles it from the budget and the model). A callback raises :class:`CancelEpoch` to end the
epoch early or :class:`CancelFit` to end training; ``after_epoch`` and ``after_fit`` still loop.
A model declares callbacks of its own with a ``fit_callbacks()`` method (airbench's hooks).
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from . import dryrun
from .budget import make_schedule
from .augment import alternating_flip_mask

EVENTS = ("before_fit", "before_epoch", "before_batch", "before_pred", "after_pred", "after_backward",
          "after_step", "after_epoch", "after_fit")


class CancelEpoch(Exception):
    """Raised by a callback: skip the rest of the epoch's batches (``after_epoch`` still runs)."""


class CancelFit(Exception):
    """Raised by a callback: train no further epochs (``after_fit`` still runs)."""


class Callback:
    """A method per event it acts at; the others do nothing."""

    def before_fit(self, loop): pass
    def before_epoch(self, loop): pass
    def before_batch(self, loop): pass
    def before_pred(self, loop): pass
    def after_pred(self, loop): pass
    def after_backward(self, loop): pass
    def after_step(self, loop): pass
    def after_epoch(self, loop): pass
    def after_fit(self, loop): pass

    def __repr__(self):
        return type(self).__name__


class Loop:
    """What the loop and its callbacks share. Set once: ``model``, ``data`` (on the device),
    ``budget``, ``device``, ``gen`` (the generator of the batch order and the augmentation),
    ``batch_size``, ``steps`` (optimiser steps in the whole fit), ``opt``, ``scaler``. Per epoch:
    ``epoch`` (from 0), per batch: ``step`` (batches begun so far, from 1), ``idx`` (the batch's
    indices into ``data``), ``xb``, ``yb``, ``out``, ``teacher_out``, ``loss``. ``history``: the mean
    loss of each epoch, ``start``: when training began (``time.perf_counter``).

    ``loop(event)`` calls the callbacks that act at ``event``, in order."""

    def __init__(self, model: nn.Module, data, budget, callbacks: list[Callback], *, device, seed: int,
                 batch_size: int, steps: int):
        self.model, self.data, self.budget, self.device = model, data, budget, device
        self.callbacks = list(callbacks)
        self.gen = torch.Generator().manual_seed(seed)
        self.batch_size, self.steps = batch_size, steps
        self.epoch, self.step, self.history, self.start = 0, 0, [], time.perf_counter()
        self.idx = self.xb = self.yb = self.out = self.teacher_out = self.loss = None
        # only the callbacks that act at an event are called at it: 9 events × ~10 callbacks a batch adds up
        self._acting = {e: [getattr(cb, e) for cb in self.callbacks
                            if getattr(type(cb), e) is not getattr(Callback, e)] for e in EVENTS}

    def __call__(self, event: str) -> None:
        for handler in self._acting[event]:
            handler(self)


# --------------------------------------------------------------------------- the teacher
class Teacher(Callback):
    """The teacher, in eval mode, run on every batch: on the very inputs the student sees (with an
    augmentation that has no finite set of views, or ``budget.cache_teacher=False``)."""

    def __init__(self, teacher: nn.Module, channels_last: bool = False):
        self.teacher, self.channels_last = teacher, channels_last

    def before_fit(self, loop):
        self.teacher.to(loop.device).eval()
        if self.channels_last:
            self.teacher.to(memory_format=torch.channels_last)

    @torch.no_grad()
    def after_pred(self, loop):
        loop.teacher_out = self.teacher(loop.xb)


class TeacherOutputCache(Teacher):
    """The teacher's outputs over the whole transfer set, computed once by ``outputs(teacher, data,
    device)`` (``kdhelpers.train.teacher_outputs``, which shares them between the students of one
    teacher) and indexed per batch. ``mirrored``: for the alternating flip, whose views of an image
    are the image and its mirror, the outputs for both, and per batch those of the view it shows."""

    def __init__(self, teacher: nn.Module, outputs: Callable, *, mirrored: bool = False, channels_last: bool = False):
        super().__init__(teacher, channels_last)
        self.outputs, self.mirrored = outputs, mirrored

    def before_fit(self, loop):
        super().before_fit(loop)
        self.plain = self.outputs(self.teacher, loop.data, loop.device)
        if self.mirrored:
            flipped = replace(loop.data, x=loop.data.x.flip(-1), name=f"{loop.data.name}|mirrored")
            self.flipped = self.outputs(self.teacher, flipped, loop.device)

    def after_pred(self, loop):
        t = self.plain.index_select(0, loop.idx)
        if self.mirrored:
            flip = alternating_flip_mask(loop.idx, loop.epoch)[:, None].to(loop.device)
            t = torch.where(flip, self.flipped.index_select(0, loop.idx), t)
        loop.teacher_out = t


# --------------------------------------------------------------------------- the step
def clip_grad_norm(params, max_norm: float) -> torch.Tensor:
    """Scale the gradients so their total L2 norm is at most ``max_norm``; returns the norm before.

    The same scaling as ``torch.nn.utils.clip_grad_norm_`` (coefficient max_norm / (norm + 1e-6)),
    but the gradients are only rewritten when it is below 1: 0.26 instead of 0.61 ms per step for
    an 800-800 MLP on a 2-core CPU (measured), a sixth of its whole training step.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if not norm.is_cpu:  # on a GPU, multiply always rather than wait for the norm (torch's way)
        torch._foreach_mul_(grads, torch.clamp(max_norm / (norm + 1e-6), max=1.0))
    elif norm + 1e-6 > max_norm:
        torch._foreach_mul_(grads, max_norm / (norm + 1e-6))
    return norm


class GradClip(Callback):
    """``budget.clip_grad_norm``: the whole gradient's norm clipped (unscaled first under float16),
    over the parameters trainable when training starts."""

    def __init__(self, max_norm: float):
        self.max_norm = max_norm

    def before_fit(self, loop):
        self.params = [p for p in loop.model.parameters() if p.requires_grad]

    def after_backward(self, loop):
        loop.scaler.unscale_(loop.opt)
        clip_grad_norm(self.params, self.max_norm)


class Schedule(Callback):
    """The budget's learning-rate schedule (:func:`kdhelpers.budget.make_schedule`), stepped after
    every optimiser step."""

    def before_fit(self, loop):
        self.sched = make_schedule(loop.opt, loop.budget, loop.steps)

    def after_step(self, loop):
        self.sched.step()


@torch.no_grad()
def apply_max_norm(model: nn.Module, max_norm: float) -> None:
    """Clip every unit's incoming weight vector to L2 norm ≤ ``max_norm`` (dropout paper's constraint)."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.weight.renorm_(2, 0, max_norm)  # dim 0: one row = one unit's incoming weights


class MaxNorm(Callback):
    """``budget.max_norm``: every unit's incoming weights back to norm ≤ max_norm after each step."""

    def __init__(self, max_norm: float):
        self.max_norm = max_norm

    def after_step(self, loop):
        apply_max_norm(loop.model, self.max_norm)


class Lookahead(Callback):
    """airbench's Lookahead: every 5 steps, an exponential average of the weights (and BatchNorm
    statistics) moves towards them with weight 1 − 0.95⁵·(step/steps)³ and is copied back into
    them; at the end the average replaces the weights."""

    def before_fit(self, loop):
        self.ema = {k: v.detach().clone() for k, v in loop.model.state_dict().items() if v.is_floating_point()}

    def after_step(self, loop):
        if loop.step % 5 == 0:
            self.update(loop.model, 0.95 ** 5 * (loop.step / loop.steps) ** 3)

    def after_fit(self, loop):
        self.update(loop.model, 1.0)

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        state = model.state_dict()
        for k, avg in self.ema.items():
            avg.lerp_(state[k], 1 - decay)
            state[k].copy_(avg)


# --------------------------------------------------------------------------- epochs
class Recorder(Callback):
    """The mean training loss of every epoch, into ``loop.history``; ``loop.start``."""

    def before_fit(self, loop):
        loop.start = time.perf_counter()

    def before_epoch(self, loop):
        self.total = torch.zeros((), device=loop.device)

    def after_step(self, loop):
        self.total += loop.loss.detach() * len(loop.idx)

    def after_epoch(self, loop):
        loop.history.append(float(self.total) / len(loop.data))


class ProgressBar(Callback):
    """A progress bar over the epochs, with the last epoch's loss (after :class:`Recorder`)."""

    def __init__(self, desc: str, show: bool):
        self.desc, self.show = desc, show

    def before_fit(self, loop):
        self.bar = tqdm(total=loop.budget.epochs, desc=self.desc, disable=not self.show, leave=False)

    def after_epoch(self, loop):
        self.bar.set_postfix(loss=f"{loop.history[-1]:.4f}", refresh=False)
        self.bar.update()

    def after_fit(self, loop):
        self.bar.close()


class OnEpochEnd(Callback):
    """``hook(epoch, model)`` after every epoch (counted from 1), the model in eval mode."""

    def __init__(self, hook: Callable):
        self.hook = hook

    def after_epoch(self, loop):
        loop.model.eval()
        self.hook(loop.epoch + 1, loop.model)


class DryRunStop(Callback):
    """``KD_DRY_RUN=1``: no batch after the first :data:`kdhelpers.dryrun.MAX_BATCHES`. The epochs
    still end one by one when something is done at each epoch's end (``every_epoch``), else the fit
    ends with the first."""

    def __init__(self, every_epoch: bool):
        self.every_epoch = every_epoch

    def before_batch(self, loop):
        if dryrun.stop(loop.step):
            raise CancelEpoch

    def after_epoch(self, loop):
        if not self.every_epoch and dryrun.stop(loop.step):
            raise CancelFit
