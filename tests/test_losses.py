import math

import pytest
import torch
import torch.nn.functional as F

from kdhelpers.losses import DistillationLoss, SoftTargetKL, soft_target_loss


def _softmax(z, T):
    e = [math.exp(v / T) for v in z]
    return [v / sum(e) for v in e]


def test_soft_term_equals_hand_computed_formula():
    s, t, T = [1.0, 2.0, 3.0], [3.0, 2.0, 1.0], 2.0
    p, q = _softmax(t, T), _softmax(s, T)
    expected = T * T * sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    got = soft_target_loss(torch.tensor([s]), torch.tensor([t]), T)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # by hand: the logit gaps are ±1, so KL = p0 - p2 = (e^1.5 - e^0.5) / (e^1.5 + e + e^0.5)
    assert expected == pytest.approx(4 * 0.3201567, abs=1e-5)


def test_total_is_alpha_soft_plus_one_minus_alpha_hard():
    s, t, y, T, a = [0.5, -1.0, 2.0], [2.0, 0.0, -1.0], 1, 4.0, 0.3
    p, q = _softmax(t, T), _softmax(s, T)
    soft = T * T * sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    hard = -math.log(_softmax(s, 1.0)[y])
    got = DistillationLoss(T, a)(torch.tensor([s]), torch.tensor([t]), torch.tensor([y]))
    assert got.item() == pytest.approx(a * soft + (1 - a) * hard, rel=1e-6)


def test_batchmean_kl_equals_soft_cross_entropy_minus_teacher_entropy():
    torch.manual_seed(0)
    s, t, T = torch.randn(16, 10), torch.randn(16, 10) * 3, 5.0
    p = F.softmax(t / T, 1)
    soft_ce = -(p * F.log_softmax(s / T, 1)).sum(1).mean()
    entropy = -(p * p.log()).sum(1).mean()
    assert soft_target_loss(s, t, T).item() == pytest.approx((T * T * (soft_ce - entropy)).item(), rel=1e-5)


def _soft_grad(s, t, T, scaled=True):
    s = s.clone().requires_grad_(True)
    loss = soft_target_loss(s, t, T)
    (loss if scaled else loss / (T * T)).backward()
    return s.grad


def test_t_squared_keeps_soft_gradient_size_independent_of_temperature():
    torch.manual_seed(1)
    s, t = torch.randn(64, 10) * 4, torch.randn(64, 10) * 4
    scaled = [_soft_grad(s, t, T).norm().item() for T in (2.0, 5.0, 20.0)]
    unscaled = [_soft_grad(s, t, T, scaled=False).norm().item() for T in (2.0, 20.0)]
    assert max(scaled) / min(scaled) < 2.0           # with T²: same order of magnitude
    assert unscaled[0] / unscaled[1] > 30            # without: shrinks roughly as 1/T²


def test_high_temperature_gradient_approaches_logit_matching():
    # Hinton §2.1: for zero-mean logits, dC/dz_i -> (z_i - v_i) / (N T²) as T grows.
    torch.manual_seed(2)
    z, v = torch.randn(1, 10), torch.randn(1, 10)
    z, v = z - z.mean(), v - v.mean()
    T, N = 100.0, 10
    grad = _soft_grad(z, v, T, scaled=False)
    limit = (z - v) / (N * T * T)
    assert ((grad - limit).norm() / limit.norm()).item() < 1e-2


@pytest.mark.parametrize("T", [0, -1.0, float("nan"), float("inf"), "3", True])
def test_bad_temperature_is_rejected_with_its_value(T):
    with pytest.raises(ValueError, match="temperature"):
        DistillationLoss(T, 0.5)
    with pytest.raises(ValueError, match="temperature"):
        SoftTargetKL(T)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_bad_alpha_is_rejected_with_its_value(alpha):
    with pytest.raises(ValueError, match=f"got {alpha}"):
        DistillationLoss(2.0, alpha)


def test_mismatched_shapes_are_rejected():
    loss = DistillationLoss(2.0, 0.5)
    with pytest.raises(ValueError, match=r"\(4, 10\) and \(4, 9\)"):
        loss(torch.zeros(4, 10), torch.zeros(4, 9), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="targets"):
        loss(torch.zeros(4, 10), torch.zeros(4, 10), torch.zeros(3, dtype=torch.long))
