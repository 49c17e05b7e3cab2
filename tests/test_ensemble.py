"""The many-small-models trainer equals independent models; the synthetic data, keys and the
T_opt statistics of the chapter fake_data_temperature (notebooks/fake_data_temperature.ipynb, its
cells tagged `define`) are what the chapter says."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import kdhelpers as kd
from kdhelpers import batched as E
from kdbook import stats
from kdbook.chapter import load
from kdhelpers.losses import distillation_loss, soft_target_loss
from kdhelpers.models import EnsembleMLP

syn = load("fake_data_temperature")


@pytest.fixture(autouse=True)
def _float32(monkeypatch):
    monkeypatch.setenv("KD_AMP", "0")  # exact comparisons: no bf16 autocast on AMX CPUs
    monkeypatch.setenv("KD_DEVICE", "cpu")


def _mlps(n=3, hidden=(7, 5), d=4, c=3):
    torch.manual_seed(0)
    return [kd.MLP(hidden, in_features=d, n_classes=c) for _ in range(n)]


def test_keys():
    assert syn.cell_key(0.2, 0.5) == "cs0.2_pi0.5" and syn.cell_key(1, 1) == "cs1.0_pi1.0"
    assert [syn.t_key(t) for t in (1, 2.5, 20)] == ["T1", "T2.5", "T20"]


def test_forward_equals_independent_mlps():
    mlps = _mlps()
    ens = EnsembleMLP.from_linears(mlps)
    x = torch.randn(3, 6, 4)
    out = ens(x)
    assert out.shape == (3, 6, 3)
    for m, mlp in enumerate(mlps):
        torch.testing.assert_close(out[m], mlp(x[m]))
        torch.testing.assert_close(ens.member(m)(x[m]), mlp(x[m]))
    shared = ens(x[0])  # a [B, in] batch goes to every member
    for m, mlp in enumerate(mlps):
        torch.testing.assert_close(shared[m], mlp(x[0]))


def test_one_sgd_step_equals_independent_steps():
    mlps = _mlps()
    ens = EnsembleMLP.from_linears(mlps)
    x, y = torch.randn(3, 8, 4), torch.randint(0, 3, (3, 8))
    opt = torch.optim.SGD(ens.parameters(), lr=0.5)
    losses = F.cross_entropy(ens(x).flatten(0, 1), y.flatten(), reduction="none").view(3, 8).mean(1)
    losses.sum().backward()
    opt.step()
    for m, mlp in enumerate(mlps):
        o = torch.optim.SGD(mlp.parameters(), lr=0.5)
        F.cross_entropy(mlp(x[m]), y[m]).backward()
        o.step()
        torch.testing.assert_close(ens(x)[m], mlp(x[m]))


def test_train_ensemble_equals_independent_adam_full_batch():
    """Full-batch epochs (order-free) with per-member data sets, temperatures and soft weights."""
    mlps = _mlps(4)
    ens = EnsembleMLP.from_linears(mlps)
    x, y = torch.randn(2, 10, 4), torch.randint(0, 3, (2, 10))
    teacher = torch.randn(2, 10, 3) * 3
    source, T, alpha = [0, 1, 1, 0], [1.0, 2.5, 20.0, 4.0], [1.0, 0.9, 0.5, 0.0]
    budget = kd.Budget(epochs=3, batch_size=10, lr=0.01, optimizer="adam", schedule="constant")
    E.train_ensemble(ens, x, y, source, budget, teacher_logits=teacher, temperature=T, alpha=alpha, progress=False)
    for m, mlp in enumerate(mlps):
        d = source[m]
        loss_fn = kd.DistillationLoss(T[m], alpha[m])
        opt = torch.optim.Adam(mlp.parameters(), lr=0.01)
        for _ in range(3):
            opt.zero_grad()
            loss_fn(mlp(x[d]), teacher[d], y[d]).backward()
            opt.step()
        torch.testing.assert_close(ens.member(m)(x[d]), mlp(x[d]), rtol=1e-4, atol=1e-5)


def test_vectorised_losses_equal_kd_losses():
    torch.manual_seed(1)
    s, t, y = torch.randn(3, 5, 4), torch.randn(3, 5, 4) * 4, torch.randint(0, 4, (3, 5))
    T, a = torch.tensor([1.0, 2.5, 20.0]), torch.tensor([1.0, 0.9, 0.0])
    soft = soft_target_loss(s, t, T)
    full = distillation_loss(s, t, y, T, a)
    for m in range(3):
        torch.testing.assert_close(soft[m], kd.soft_target_loss(s[m], t[m], float(T[m])))
        torch.testing.assert_close(full[m], kd.DistillationLoss(float(T[m]), float(a[m]))(s[m], t[m], y[m]))
    torch.testing.assert_close(distillation_loss(s, None, y, T, torch.zeros(3)),
                               F.cross_entropy(s.flatten(0, 1), y.flatten(), reduction="none").view(3, 5).mean(1))


def test_bad_input_raises():
    s = torch.randn(2, 5, 4)
    with pytest.raises(ValueError):
        soft_target_loss(s, s, torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError):
        soft_target_loss(s, s, torch.tensor([1.0]))
    with pytest.raises(ValueError):
        distillation_loss(s, None, torch.zeros(2, 5, dtype=torch.long), [1.0, 1.0], [0.5, 0.0])
    with pytest.raises(ValueError):
        syn.make_split(0.2, 0.0, 0, n_samples=200)
    with pytest.raises(ValueError):
        syn.make_split(-1.0, 0.5, 0, n_samples=200)
    ens = EnsembleMLP(2, [3], 4, 2)
    with pytest.raises(ValueError):
        ens(torch.randn(3, 5, 4))
    one = kd.Budget(epochs=1, optimizer="adam", lr=1e-3)
    with pytest.raises(ValueError):
        E.train_ensemble(ens, torch.randn(1, 6, 4), torch.zeros(1, 6, dtype=torch.long), [0, 1], one, progress=False)
    with pytest.raises(ValueError):
        E.train_ensemble(ens, torch.randn(1, 6, 4), torch.zeros(1, 6, dtype=torch.long), [0, 0], one,
                         teacher_logits=torch.randn(1, 6, 2), temperature=[1.0, -2.0], progress=False)
    with pytest.raises(TypeError, match="Budget"):
        E.train_ensemble(ens, torch.randn(1, 6, 4), torch.zeros(1, 6, dtype=torch.long), [0, 0], {"epochs": 1})


def test_member_init_does_not_depend_on_the_ensemble():
    a = EnsembleMLP(2, [6], 4, 3, init_seeds=[5, 9])
    b = EnsembleMLP(3, [6], 4, 3, init_seeds=[9, 1, 5])
    x = torch.randn(7, 4)
    torch.testing.assert_close(a.member(0)(x), b.member(2)(x))
    torch.testing.assert_close(a.member(1)(x), b.member(0)(x))


def test_make_split_is_deterministic_and_standardised():
    a, b, c = (syn.make_split(0.6, 0.8, s, n_samples=500, n_features=20) for s in (0, 0, 1))
    assert (len(a.y_fit), len(a.y_val), len(a.y_test)) == (320, 80, 100)
    assert torch.equal(a.x_test, b.x_test) and not torch.equal(a.x_test, c.x_test)
    torch.testing.assert_close(a.x_fit.mean(0), torch.zeros(20), atol=1e-4, rtol=0)
    torch.testing.assert_close(a.x_fit.std(0, unbiased=False), torch.ones(20), atol=1e-3, rtol=0)
    # the same 500 points, split differently per seed
    assert sorted(torch.cat([a.y_fit, a.y_val, a.y_test]).tolist()) == \
        sorted(torch.cat([c.y_fit, c.y_val, c.y_test]).tolist())


def test_t_opt_and_bootstrap():
    temps = (1, 2, 4)
    acc = np.array([[80.0, 85.0, 84.0], [81.0, 86.0, 83.0], [79.0, 84.0, 85.0]])
    assert syn.t_opt(acc, temps) == 2.0
    boot = syn.bootstrap_t_opt(acc, temps, n_boot=500)
    assert set(np.unique(boot)) <= {2.0, 4.0} and (boot == 2.0).mean() > 0.5
    same = syn.bootstrap_t_opt(np.tile([[1.0, 3.0, 2.0]], (3, 1)), temps, n_boot=50)
    assert (same == 2.0).all()
    with pytest.raises(ValueError):
        syn.t_opt(acc[:, :2], temps)


def test_paired_interval_and_mean_std():
    assert stats.mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0) and stats.mean_std([5.0]) == (5.0, 0.0)
    lo, hi = stats.paired_interval([1.0, 2.0, 3.0])
    assert lo == pytest.approx(2 - 4.302653 / 3 ** 0.5, rel=1e-5) and hi == pytest.approx(4 - lo)
    assert stats.paired_interval([2.0]) == (2.0, 2.0)
