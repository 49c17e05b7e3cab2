"""The loss zoo (kdhelpers.losses) and the soft-target analysis functions the temperature chapter defines
(notebooks/temperature.ipynb, its cells tagged `define`)."""
import math

import pytest
import torch

import kdhelpers as kd
import kdbook as kb
from kdhelpers import losses as L
from kdbook.chapter import load
from kdhelpers.losses import DistillationLoss

ST = load("temperature")


def _softmax(z, T):
    e = [math.exp(x / T) for x in z]
    return [x / sum(e) for x in e]


S, TCH = [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]  # worked example: student and teacher logits, 3 classes


def test_softmax_t_and_entropy_on_worked_example():
    assert ST.softmax_t(torch.tensor(S), 2.0).tolist() == pytest.approx(_softmax(S, 2.0), rel=1e-12)
    assert ST.entropy_bits(torch.full((4,), 0.25)).item() == pytest.approx(2.0)
    assert ST.entropy_bits(torch.tensor([1.0, 0.0])).item() == 0.0
    p = _softmax(TCH, 1.0)
    assert ST.entropy_bits(torch.tensor(p)).item() == pytest.approx(-sum(x * math.log2(x) for x in p))
    with pytest.raises(ValueError):
        ST.entropy_bits(torch.tensor([0.5, 0.6]))


def test_soft_cross_entropy_module_equals_formula_with_and_without_t2():
    T = 2.0
    p, q = _softmax(TCH, T), _softmax(S, T)
    ce = -sum(pi * math.log(qi) for pi, qi in zip(p, q))
    s, t = torch.tensor([S]), torch.tensor([TCH])
    assert L.SoftCrossEntropy(T)(s, t).item() == pytest.approx(ce, rel=1e-6)
    assert L.SoftCrossEntropy(T, t2_scale=True)(s, t).item() == pytest.approx(T * T * ce, rel=1e-6)
    hard = -math.log(_softmax(S, 1.0)[0])
    got = L.SoftCrossEntropy(T, alpha=0.9)(s, t, torch.tensor([0]))
    assert got.item() == pytest.approx(0.9 * ce + 0.1 * hard, rel=1e-6)


def test_logit_mse_equals_formula():
    expected = sum((a - b) ** 2 for a, b in zip(S, TCH)) / (2 * 3)  # (4 + 0 + 4) / 6
    assert expected == pytest.approx(4 / 3)
    got = L.LogitMSE()(torch.tensor([S, S]), torch.tensor([TCH, TCH]))
    assert got.shape == () and got.item() == pytest.approx(expected)


def test_prob_cosine_equals_formula_and_vanishes_on_agreement():
    T = 3.0
    p, q = _softmax(TCH, T), _softmax(S, T)
    cos = sum(a * b for a, b in zip(p, q)) / math.sqrt(sum(a * a for a in p) * sum(b * b for b in q))
    got = L.ProbCosine(T)(torch.tensor([S]), torch.tensor([TCH]))
    assert got.shape == () and got.item() == pytest.approx(T * T * (1 - cos), rel=1e-5)
    same = torch.randn(5, 10)
    assert L.ProbCosine(T)(same, same.clone()).item() == pytest.approx(0.0, abs=1e-6)


def test_soft_ce_gradient_is_q_minus_p_over_T_by_autograd():
    torch.manual_seed(0)
    z, v = torch.randn(32, 10, dtype=torch.float64) * 3, torch.randn(32, 10, dtype=torch.float64) * 5
    for T in (1.0, 2.5, 20.0):
        formula = ST.soft_ce_grad_formula(z, v, T)
        assert torch.allclose(ST.soft_ce_grad_autograd(z, v, T), formula, atol=1e-14)
        assert not torch.allclose(formula, torch.zeros_like(formula))


def test_t2_scaled_soft_ce_has_the_gradient_of_hinton_kl():
    torch.manual_seed(1)
    z = torch.randn(8, 10, dtype=torch.float64, requires_grad=True)
    v = torch.randn(8, 10, dtype=torch.float64) * 4
    g_ce, = torch.autograd.grad(L.SoftCrossEntropy(4.0, t2_scale=True)(z, v), z)
    g_kl, = torch.autograd.grad(DistillationLoss(4.0, 1.0)(z, v), z)
    assert torch.allclose(g_ce, g_kl, atol=1e-12)


def test_high_temperature_gradient_approaches_logit_matching():
    torch.manual_seed(2)
    z, v = torch.randn(16, 10, dtype=torch.float64), torch.randn(16, 10, dtype=torch.float64) * 3
    errs = []
    for T in (10.0, 100.0, 1000.0):
        approx = ST.logit_matching_grad(z, v, T)
        errs.append(((ST.soft_ce_grad_formula(z, v, T) - approx).norm() / approx.norm()).item())
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-2
    # the T²-scaled limit is the gradient of LogitMSE on centred logits (batch mean → divide by batch)
    zc = ST.center(z).requires_grad_(True)
    g, = torch.autograd.grad(L.LogitMSE()(zc, ST.center(v)), zc)
    assert torch.allclose(g * len(z), ST.logit_matching_grad(z, v, 1.0))


def test_top_wrong_classes_skips_the_label():
    logits = torch.tensor([[5.0, 4.0, 1.0, 3.0], [0.0, 1.0, 2.0, 3.0]])
    cls, probs = ST.top_wrong_classes(logits, torch.tensor([0, 3]), k=2)
    assert cls.tolist() == [[1, 3], [2, 1]]
    assert probs.shape == (2, 2) and (probs > 0).all()


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "3", True])
def test_bad_temperature_raises(bad):
    with pytest.raises(ValueError, match="temperature"):
        L.SoftCrossEntropy(bad)
    with pytest.raises(ValueError, match="temperature"):
        L.ProbCosine(bad)
    with pytest.raises(ValueError, match="temperature"):
        ST.soft_ce_grad_formula(torch.zeros(1, 3), torch.zeros(1, 3), bad)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="alpha"):
        L.LogitMSE(alpha=1.5)
    with pytest.raises(ValueError, match=r"\[batch, classes\]"):
        L.LogitMSE()(torch.zeros(4, 10), torch.zeros(4, 9))
    with pytest.raises(ValueError, match="teacher"):
        L.ProbCosine(2.0)(torch.zeros(4, 10), None)
    with pytest.raises(ValueError, match="hard targets"):
        L.LogitMSE(alpha=0.5)(torch.zeros(4, 10), torch.zeros(4, 10))
    with pytest.raises(ValueError, match="reduction"):
        L.soft_cross_entropy(torch.zeros(2, 3), torch.zeros(2, 3), 1.0, reduction="avg")
    with pytest.raises(ValueError, match="needs its loss"):
        kb.mnist.student(10, kb.Run(profile="smoke"), 0, teacher=torch.nn.Identity())


def test_losses_are_scalars_with_gradients_and_repr_names_settings():
    torch.manual_seed(3)
    s, t, y = torch.randn(6, 10, requires_grad=True), torch.randn(6, 10), torch.randint(0, 10, (6,))
    for loss in (L.SoftCrossEntropy(3.0, 0.9), L.LogitMSE(0.9), L.ProbCosine(3.0, 0.9)):
        out = loss(s, t, y)
        assert out.shape == () and torch.isfinite(out)
        g, = torch.autograd.grad(out, s)
        assert g.shape == s.shape and g.abs().sum() > 0
        assert "alpha=0.9" in repr(loss)
    assert repr(L.SoftCrossEntropy(3.0, 0.9)) != repr(L.SoftCrossEntropy(3.0, 0.9, t2_scale=True))


def test_every_loss_mixes_alpha_soft_with_one_minus_alpha_hard():
    """One naming of the weights across the zoo: α · soft + (1 − α) · CE."""
    torch.manual_seed(4)
    s, t, y = torch.randn(6, 10), torch.randn(6, 10), torch.randint(0, 10, (6,))
    ce = torch.nn.functional.cross_entropy(s, y)
    for make in (lambda a: L.DistillationLoss(3.0, a), lambda a: L.SoftCrossEntropy(3.0, a),
                 lambda a: L.LogitMSE(a), lambda a: L.ProbCosine(3.0, a)):
        soft = make(1.0)(s, t)
        assert make(0.0)(s, t, y).item() == pytest.approx(ce.item(), rel=1e-6)
        assert make(0.3)(s, t, y).item() == pytest.approx(0.3 * soft.item() + 0.7 * ce.item(), rel=1e-6)


def test_logit_mse_scale_one_is_torch_mse_loss_and_batched_kd_equals_per_model_kd():
    s, t = torch.randn(5, 10), torch.randn(5, 10)
    assert L.LogitMSE(scale=1.0)(s, t).item() == pytest.approx(torch.nn.functional.mse_loss(s, t).item())
    # [models, batch, classes] with one T and α per model equals each model on its own
    s3, t3, y3 = torch.randn(3, 7, 10), torch.randn(3, 7, 10), torch.randint(0, 10, (3, 7))
    T, a = torch.tensor([1.0, 4.0, 20.0]), torch.tensor([0.0, 0.5, 1.0])
    batched = L.distillation_loss(s3, t3, y3, T, a)
    single = [L.DistillationLoss(float(T[m]), float(a[m]))(s3[m], t3[m], y3[m]) for m in range(3)]
    # equal to float32 rounding, which the T² = 400 of the T = 20 model magnifies (~1e-5 relative)
    assert torch.allclose(batched, torch.stack(single), rtol=1e-4, atol=1e-6)
    no_t2 = L.distillation_loss(s3, t3, y3, T, torch.ones(3), t2_scale=False)
    assert torch.allclose(no_t2 * T * T, L.distillation_loss(s3, t3, y3, T, torch.ones(3)), atol=1e-5)
    with pytest.raises(ValueError, match="alpha"):
        L.distillation_loss(s3, t3, y3, T, torch.tensor([0.0, 0.5, 1.5]))
    with pytest.raises(ValueError, match="temperature"):
        L.distillation_loss(s3, t3, y3, torch.tensor([1.0, 0.0, 2.0]), a)
