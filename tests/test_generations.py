import json
import math

import pytest
import torch
import torch.nn.functional as F

import kdhelpers as kd
import kdbook as kb
from toydata import pixel_digits
from kdbook.chapter import load
from kdhelpers.data import TensorData

gen = load("self_reverse_online")  # the chapter's cells tagged `define`


def _toy(n=300, seed=0):
    return pixel_digits(n, seed, prefix="gen-toy")


MLP = {"arch": "mlp", "hidden": [16], "in_features": 16}
BUDGET = kd.Budget(epochs=1, batch_size=50, lr=0.05)


def _smoke():
    return kb.Run(profile="smoke", device="cpu")


def test_epoch_checkpoints_cached_and_keyed_per_epoch():
    data, run = _toy(), _smoke()

    def checkpoints(epochs, seed=0):  # one 3-epoch run, kept after the given epochs
        return kb.trained("t-ckpt", MLP, data, BUDGET.replace(epochs=3), run=run, seed=seed,
                          checkpoints=epochs)

    first = checkpoints([1, 3])
    assert sorted(first) == [1, 3] and not run.info(first[1]).hit
    again = checkpoints([3, 1])
    assert run.info(again[1]).hit and run.info(again[3]).hit
    for e in (1, 3):
        assert run.key_of(again[e]) == run.key_of(first[e]) and run.key_of(again[e]).endswith(f"-epoch{e}")
        for a, b in zip(first[e].parameters(), again[e].parameters()):
            assert torch.equal(a, b)
    assert not torch.equal(first[1][1].weight, first[3][1].weight)
    # an epoch-3 checkpoint of a 3-epoch run equals a plain 3-epoch fit with the same seed
    kd.seed_everything(0)
    plain = kd.build_model(MLP)
    kd.fit(plain, data, BUDGET.replace(epochs=3), seed=0, device="cpu", run=run)
    for a, b in zip(plain.parameters(), first[3].parameters()):
        assert torch.allclose(a, b)
    other_seed = checkpoints([1, 3], seed=1)
    assert run.key_of(other_seed[1]) != run.key_of(first[1])
    with pytest.raises(ValueError):
        checkpoints([0, 2])


def test_born_again_chain_keys_each_generation_by_its_teacher():
    data, run = _toy(), _smoke()
    gen0 = kb.trained("t-ban", MLP, data, BUDGET, run=run, seed=0, device="cpu")
    make = lambda teacher: kb.trained("t-ban", MLP, data, BUDGET, run=run, seed=0, teacher=teacher,  # noqa: E731
                                      loss=kd.DistillationLoss(2.0, 1.0), device="cpu")
    chain = gen.born_again_chain(gen0, make, generations=3, run=run)
    keys = [run.key_of(m) for m in chain]
    assert len(chain) == 4 and len(set(keys)) == 4
    for k in range(1, 4):
        payload = torch.load(kd.cache_dir() / f"t-ban-{keys[k]}.pt", weights_only=True)
        assert json.loads(payload["parts"])["teacher"] == keys[k - 1]
    # re-running the chain loads every generation from the cache, same keys
    again = gen.born_again_chain(kb.trained("t-ban", MLP, data, BUDGET, run=run, seed=0, device="cpu"),
                                 make, 3, run=run)
    assert [run.key_of(m) for m in again] == keys and all(run.info(m).hit for m in again)
    with pytest.raises(ValueError):
        gen.born_again_chain(gen0, make, generations=0, run=run)
    with pytest.raises(ValueError):
        gen.born_again_chain(kd.build_model(MLP), make, generations=1, run=run)


def test_mutual_loss_equals_formula_on_worked_example():
    za = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    zb = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    y = torch.tensor([0, 2])
    T = 2.0

    def kl(p_logits, q_logits):  # KL(softmax(p/T) ‖ softmax(q/T)), summed over classes, mean over batch
        p, q = F.softmax(p_logits / T, 1), F.softmax(q_logits / T, 1)
        return float((p * (p / q).log()).sum(1).mean())

    def ce(z):
        return float(-F.log_softmax(z, 1)[torch.arange(2), y].mean())

    a = 0.3  # α: the weight of the peer's soft targets, (1 − α) on the labels
    expected = (1 - a) * ce(za) + a * T * T * kl(zb, za) + (1 - a) * ce(zb) + a * T * T * kl(za, zb)
    got = gen.MutualLoss(temperature=T, alpha=a)((za, zb), None, y)
    assert math.isclose(float(got), expected, rel_tol=1e-5)
    # worked by hand for row 0 of CE(za): -log(e²/(e²+2)) = log(1 + 2e⁻²)
    assert math.isclose(float(F.cross_entropy(za[:1], y[:1])), math.log(1 + 2 * math.exp(-2)), rel_tol=1e-6)
    assert "temperature=2.0, alpha=0.5" in repr(gen.MutualLoss(2.0, 0.5))


def test_mutual_loss_detaches_the_peer():
    za = torch.randn(4, 5, requires_grad=True)
    zb = torch.randn(4, 5, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3])
    # the gradient reaching za is that of za's own loss only: ½ CE(za) + ½ KL(zb.detach() ‖ za)
    gen.mutual_loss((za, zb), y, temperature=1.0, alpha=0.5).backward()
    own = 0.5 * F.cross_entropy(za, y) + 0.5 * F.kl_div(F.log_softmax(za, 1), F.log_softmax(zb.detach(), 1),
                                                         log_target=True, reduction="batchmean")
    expected = torch.autograd.grad(own, za)[0]
    assert torch.allclose(za.grad, expected, atol=1e-6)
    # with α = 0 the students do not interact at all
    zc = torch.randn(4, 5, requires_grad=True)
    gen.mutual_loss((zc, zb.detach()), y, alpha=0.0).backward()
    assert torch.allclose(zc.grad, torch.autograd.grad(F.cross_entropy(zc, y), zc)[0])


def test_mutual_pair_trains_both_members_and_rejects_bad_input():
    data = _toy()
    cfg = gen.mutual_pair_config(MLP, MLP)
    pair = kb.trained("t-dml", cfg, data, BUDGET.replace(epochs=10, lr=0.2), run=_smoke(), seed=0,
                      loss=gen.MutualLoss(), device="cpu")
    a, b = pair.members
    assert not torch.equal(a[1].weight, b[1].weight)  # different initialisations
    for m in (a, b):  # one optimiser over the pair: both members learned (chance is 10 %)
        assert kd.evaluate(m, data, device="cpu")["accuracy"] > 75
    out = pair(data.prepare(data.x[:7]))
    assert isinstance(out, tuple) and [o.shape for o in out] == [(7, 10), (7, 10)]
    with pytest.raises(ValueError):
        gen.MutualPair([kd.build_model(MLP)])
    with pytest.raises(ValueError):
        gen.MutualLoss(temperature=0)
    with pytest.raises(ValueError):
        gen.MutualLoss()(out, out[0], data.y[:7])          # no teacher in mutual learning
    with pytest.raises(ValueError):
        gen.mutual_loss(out[0], data.y[:7])                  # one tensor, not a tuple
    with pytest.raises(ValueError):
        gen.mutual_loss((out[0], out[1][:, :5]), data.y[:7])  # mismatched shapes
