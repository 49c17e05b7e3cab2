"""Keras 3's own distillation API (``keras.distillation``, Keras >= 3.15) beside the slides' example, and
the traps a Keras user falls into with it, on tiny random tensors (seconds, one thread).

What the installed source does (keras/src/distillation/, Keras 3.15.1):

* ``Distiller.__init__`` sets ``self.teacher.trainable = False`` (distiller.py, "Freeze teacher
  model"): the teacher stays put, and the teacher object the user passed in is frozen from then on;
* ``Distiller.compute_loss`` returns ``student_loss_weight · hard + (1 − student_loss_weight) ·
  distillation``: ``student_loss_weight`` weights the *hard* term, as the example's ``alpha`` does
  and the opposite of Hinton's α (the soft term's weight);
* ``LogitsDistillation.compute_loss`` divides both logits by T; only when its loss ``isinstance`` of
  ``keras.losses.KLDivergence`` does it take the softmax and multiply by T². Every other loss is applied
  to the temperature-scaled *logits*. Its default, ``loss="kl_divergence"``, is a string that
  ``keras.losses.get`` turns into the *function* ``keras.losses.kl_divergence``, not an instance: so the
  default takes the logits branch, no softmax and no T² (``kl_divergence`` clips both arguments to
  [1e-7, 1]).
"""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
if not hasattr(keras, "distillation"):
    pytest.skip("keras.distillation needs Keras >= 3.15", allow_module_level=True)

import torch  # noqa: E402

import kdhelpers as kd  # noqa: E402
from conftest import load_script  # noqa: E402

T = 10.0
pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch", reason="the book runs Keras on torch")


def _logits(seed=0, n=6, k=10, scale=8.0):
    rng = np.random.default_rng(seed)
    return ((rng.normal(size=(n, k)) * scale).astype("float32"), (rng.normal(size=(n, k)) * scale).astype("float32"))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def test_logits_distillation_with_a_kl_instance_is_hintons_t2_kl():
    t, s = _logits()
    p, q = _softmax(t / T), _softmax(s / T)
    by_hand = T * T * (p * np.log(p / q)).sum(axis=1).mean()
    loss = keras.distillation.LogitsDistillation(temperature=T, loss=keras.losses.KLDivergence())
    assert float(_np(loss.compute_loss(t, s))) == pytest.approx(by_hand, rel=1e-5)
    # the same number as the book's soft term (SoftTargetKL: T²·KL of the softened distributions)
    book = kd.SoftTargetKL(T)(torch.from_numpy(s), torch.from_numpy(t)).item()
    assert float(_np(loss.compute_loss(t, s))) == pytest.approx(book, rel=1e-5)


def test_the_default_loss_is_the_kl_function_on_clipped_logits_without_softmax_or_t2():
    # the trap: LogitsDistillation(temperature=10) as the docstring shows it
    default = keras.distillation.LogitsDistillation(temperature=T)
    assert default.loss is keras.losses.kl_divergence  # the string became the function ...
    assert not isinstance(default.loss, keras.losses.KLDivergence)  # ... so the T² branch is skipped
    t, s = _logits()
    clip = lambda v: np.clip(v, 1e-7, 1.0)  # noqa: E731  (kl_divergence's clip)
    on_logits = (clip(t / T) * np.log(clip(t / T) / clip(s / T))).sum(axis=1).mean()
    value = float(_np(default.compute_loss(t, s)))
    assert value == pytest.approx(on_logits, rel=1e-5)
    p, q = _softmax(t / T), _softmax(s / T)
    hinton = T * T * (p * np.log(p / q)).sum(axis=1).mean()
    assert abs(value - hinton) > 0.3 * hinton  # measured: 23.2 against 45.2, not a rounding difference


def test_the_default_loss_gives_no_gradient_to_a_student_logit_outside_0_to_t():
    # kl_divergence clips s/T to [1e-7, 1]: a student logit ≤ 0 or ≥ T gets no gradient at all, and a
    # teacher logit ≤ 0 weights its class by 1e-7, whatever the softmax would say
    t, s = _logits(1)
    s_var = torch.tensor(s, requires_grad=True)
    loss = keras.distillation.LogitsDistillation(temperature=T).compute_loss(torch.tensor(t), s_var)
    g, = torch.autograd.grad(loss, s_var)
    outside = (s <= 0) | (s >= T)
    assert outside.sum() > 0.3 * s.size  # about half of these logits (29 of 60)
    assert torch.all(g[torch.from_numpy(outside)] == 0)
    # Hinton's soft term moves every logit
    s_var2 = torch.tensor(s, requires_grad=True)
    hinton = keras.distillation.LogitsDistillation(temperature=T, loss=keras.losses.KLDivergence())
    g2, = torch.autograd.grad(hinton.compute_loss(torch.tensor(t), s_var2), s_var2)
    assert torch.all(g2 != 0)


def test_a_non_kl_loss_is_applied_to_temperature_scaled_logits_not_probabilities():
    t, s = _logits(2)
    for loss_fn in (keras.losses.CategoricalCrossentropy(from_logits=True), keras.losses.MeanSquaredError()):
        got = float(_np(keras.distillation.LogitsDistillation(temperature=T, loss=loss_fn).compute_loss(t, s)))
        assert got == pytest.approx(float(_np(loss_fn(t / T, s / T))), rel=1e-5)  # the logits themselves
        on_probs = float(_np(loss_fn(_softmax(t / T), s / T if loss_fn.get_config().get("from_logits")
                                     else _softmax(s / T))))
        assert abs(got - on_probs) > 1e-3 * abs(on_probs)  # not what Hinton's soft targets give
    # cross-entropy with from_logits=True takes the teacher's scaled *logits* as its target distribution:
    # its "targets" do not sum to 1, so the loss is not the soft-target cross-entropy
    assert not np.allclose((t / T).sum(axis=1), 1.0)


def _tiny_networks(seed=0):
    """A tiny teacher and student (Dense on 8 features, 4 classes), as Sequentials."""
    keras.utils.set_random_seed(seed)

    def net(width, name):
        return keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(width, activation="relu"),
                                 keras.layers.Dense(4)], name=name)

    return net(32, "teacher"), net(4, "student")


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8)).astype("float32"), rng.integers(0, 4, size=n)


def test_student_loss_weight_weights_the_hard_term_the_opposite_of_hintons_alpha():
    teacher, student = _tiny_networks()
    x, y = _data()
    hard = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    soft = keras.distillation.LogitsDistillation(temperature=T, loss=keras.losses.KLDivergence())
    s_logits, t_logits = _np(student(x)), _np(teacher(x))
    h = float(_np(hard(y, s_logits)))
    d = float(_np(soft.compute_loss(t_logits, s_logits)))
    totals = {}
    for w in (0.0, 0.1, 1.0):
        dist = keras.distillation.Distiller(teacher=teacher, student=student, distillation_losses=soft,
                                            student_loss_weight=w)
        dist.compile(optimizer="adam", loss=hard)
        totals[w] = float(_np(dist.compute_loss(x=x, y=y, y_pred=student(x))))
    assert totals[1.0] == pytest.approx(h, rel=1e-5)  # weight 1: the labels alone
    assert totals[0.0] == pytest.approx(d, rel=1e-5)  # weight 0: the teacher alone
    assert totals[0.1] == pytest.approx(0.1 * h + 0.9 * d, rel=1e-5)
    # student_loss_weight = 0.1 is Hinton's α = 0.9 (the book's DistillationLoss), not α = 0.1
    st, tt, yt = (torch.from_numpy(v) for v in (s_logits.astype("float32"), t_logits.astype("float32"), y))
    assert totals[0.1] == pytest.approx(kd.DistillationLoss(T, alpha=0.9)(st, tt, yt).item(), rel=1e-4)
    assert abs(totals[0.1] - kd.DistillationLoss(T, alpha=0.1)(st, tt, yt).item()) > 0.05 * totals[0.1]


def _flat(model):
    return np.concatenate([_np(w).ravel() for w in model.weights])


@pytest.fixture(scope="module")
def script():
    return load_script("benchmarks/keras_reference.py")


def _fit(script, variant, seed=0, steps=3):
    """``steps`` fit steps of the script's ``variant`` distiller on the example's networks (random images);
    returns (student before, student after, teacher before, teacher after, the teacher object)."""
    _, make_teacher, make_student = script.networks()
    keras.utils.set_random_seed(100)
    teacher = make_teacher()
    keras.utils.set_random_seed(seed)
    student = make_student()
    rng = np.random.default_rng(0)
    x, y = rng.random((8 * steps, 28, 28, 1), dtype="float32"), rng.integers(0, 10, 8 * steps)
    t0, s0 = _flat(teacher), _flat(student)
    distiller = script.distiller_for(variant, student, teacher)
    distiller.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return s0, _flat(student), t0, _flat(teacher), teacher


def test_the_builtin_distiller_keeps_its_teacher_and_the_printed_one_trains_it(script):
    *_, t0, t_printed, _ = _fit(script, "printed")
    assert np.abs(t_printed - t0).max() > 1e-4  # Adam moved the teacher's weights (≈ lr = 1e-3 a step)
    for variant in ("frozen", "builtin", "builtin_kl"):
        s0, s1, t0, t1, teacher = _fit(script, variant)
        assert np.array_equal(t1, t0), variant  # the teacher is exactly as it was
        assert np.abs(s1 - s0).max() > 1e-4, variant  # while the student trained
        assert teacher.trainable is False  # the built-in Distiller froze the teacher object it was given


def test_the_builtin_distiller_with_a_kl_instance_steps_as_the_frozen_example(script):
    # the same loss and weights (student_loss_weight = the example's alpha = 0.1, T²·KL at T = 10),
    # the same frozen teacher: the same steps, to float32 rounding
    s0, s_frozen, *_ = _fit(script, "frozen")
    _, s_builtin_kl, *_ = _fit(script, "builtin_kl")
    _, s_builtin, *_ = _fit(script, "builtin")
    step = np.linalg.norm(s_frozen - s0)
    assert np.linalg.norm(s_builtin_kl - s_frozen) < 1e-4 * step
    assert np.linalg.norm(s_builtin - s_frozen) > 0.05 * step  # the default loss takes other steps
