"""The Keras Distiller example's loss (Keras's alpha weights the hard term) and the chapter's helpers."""
import math

import pytest
import torch

import kdhelpers as kd
from kdhelpers import keras_distiller as K
from kdhelpers.losses import KerasDistillerLoss

# worked example: two images, three classes, moderate logits (no softened probability near 1e-7)
S = [[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]   # student logits
TCH = [[3.0, 2.0, 1.0], [2.0, 0.0, -1.0]]  # teacher logits
Y = [0, 2]                                # labels
T = 10.0


def _softmax(z, T=1.0):
    e = [math.exp(x / T) for x in z]
    return [x / sum(e) for x in e]


def _keras_by_hand(alpha, T, s=S, t=TCH, y=Y):
    """Keras's compute_loss, line by line: alpha·SparseCE(from_logits) + (1 − alpha)·KLDivergence·T²,
    KLDivergence clipping both distributions to [1e-7, 1], sum over classes, mean over the batch."""
    clip = lambda v: min(max(v, 1e-7), 1.0)  # noqa: E731
    ce = sum(-math.log(_softmax(si)[yi]) for si, yi in zip(s, y)) / len(s)
    kl = sum(sum(clip(p) * math.log(clip(p) / clip(q)) for p, q in zip(_softmax(ti, T), _softmax(si, T)))
             for si, ti in zip(s, t)) / len(s)
    return alpha * ce + (1 - alpha) * kl * T * T


def _tensors():
    return torch.tensor(S), torch.tensor(TCH), torch.tensor(Y)


def test_keras_loss_follows_the_keras_code_on_a_worked_example():
    s, t, y = _tensors()
    for alpha in (0.0, 0.1, 0.5, 1.0):
        assert KerasDistillerLoss(alpha, T)(s, t, y).item() == pytest.approx(_keras_by_hand(alpha, T), rel=1e-6)


def test_keras_alpha_01_is_the_books_alpha_09_and_not_its_alpha_01():
    s, t, y = _tensors()
    keras = KerasDistillerLoss(alpha=0.1, temperature=10)(s, t, y).item()
    assert keras == pytest.approx(1.6327, abs=1e-4)  # the number itself, for the reader
    assert keras == pytest.approx(kd.DistillationLoss(temperature=10, alpha=0.9)(s, t, y).item(), rel=1e-5)
    swapped = kd.DistillationLoss(10, alpha=0.1)(s, t, y).item()
    assert swapped == pytest.approx(1.3587, abs=1e-4)
    assert abs(keras - swapped) > 0.2  # 1.633 vs 1.359: not a rounding difference


def test_keras_alpha_01_and_book_alpha_09_give_the_same_gradient():
    torch.manual_seed(0)
    z = (torch.randn(16, 10) * 3).requires_grad_()
    v, y = torch.randn(16, 10) * 5, torch.randint(0, 10, (16,))
    g_keras, = torch.autograd.grad(KerasDistillerLoss(0.1, 10)(z, v, y), z)
    g_book, = torch.autograd.grad(kd.DistillationLoss(10, 0.9)(z, v, y), z)
    g_swapped, = torch.autograd.grad(kd.DistillationLoss(10, 0.1)(z, v, y), z)
    assert torch.allclose(g_keras, g_book, rtol=1e-4, atol=1e-7)
    assert not torch.allclose(g_keras, g_swapped, rtol=0.1)


def test_the_clip_only_bites_on_extreme_logits():
    # a student that puts e^-400 on a class the (uniform) teacher gives 1/3: the true KL is ≈ 133, Keras's
    # clip at 1e-7 caps log(p/q) at log((1/3)/1e-7) ≈ 15, so its KL is ≈ 4.7
    s, t = torch.tensor([[0.0, -400.0, 0.0]]), torch.zeros(1, 3)
    keras = KerasDistillerLoss(alpha=0.0, temperature=1)(s, t).item()
    assert keras == pytest.approx(_keras_by_hand(0.0, 1.0, s.tolist(), t.tolist(), [0]), rel=1e-5)
    assert keras == pytest.approx(4.7, abs=0.1)
    assert kd.DistillationLoss(1, alpha=1.0)(s, t).item() == pytest.approx(400 / 3 - math.log(3 / 2), rel=1e-5)


def test_the_modules_alpha_is_the_books_and_its_repr_says_which_is_keras():
    loss = KerasDistillerLoss(alpha=0.1, temperature=10)
    assert loss.keras_alpha == 0.1 and loss.alpha == pytest.approx(0.9) and loss.temperature == 10.0
    assert "alpha=0.1" in repr(loss) and "hard" in repr(loss) and "Keras" in loss.formula
    assert KerasDistillerLoss().keras_alpha == 0.1 and KerasDistillerLoss().temperature == 3.0  # compile()'s defaults
    s, t, y = _tensors()
    assert KerasDistillerLoss(1.0, T)(s, None, y).item() == pytest.approx(kd.CrossEntropy()(s, None, y).item())
    assert KerasDistillerLoss(0.0, T)(s, t).item() == pytest.approx(kd.SoftTargetKL(T)(s, t).item(), rel=1e-5)
    for bad in (-0.1, 1.5, float("nan"), True, "0.1"):
        with pytest.raises(ValueError, match="hard"):
            KerasDistillerLoss(alpha=bad)
    with pytest.raises(ValueError):
        KerasDistillerLoss(0.1, temperature=0)


def test_training_with_the_keras_loss_takes_the_books_alpha_09_steps():
    data = kd.subset(kd.load_mnist(True), 64, seed=0)
    budget = K.student_budget("cpu").replace(epochs=1)  # 2 Adam steps at batch 32
    kd.seed_everything(0)
    teacher = kd.build_model(K.STUDENT)
    kd.seed_everything(1)
    start = torch.cat([p.detach().flatten() for p in kd.build_model(K.STUDENT).parameters()])
    after = {}
    for name, loss in {"keras": K.keras_loss(), "book": K.book_loss(), "swapped": K.swapped_loss()}.items():
        kd.seed_everything(1)  # the same initialisation and the same batches
        model = kd.build_model(K.STUDENT)
        kd.fit(model, data, budget, teacher=teacher, loss=loss, seed=1, progress=False)
        after[name] = torch.cat([p.detach().flatten() for p in model.parameters()])
    step = (after["keras"] - start).norm()
    # not bit for bit: Adam divides by √v, which magnifies the last bits of gradients near zero
    assert (after["keras"] - after["book"]).norm() < 0.01 * step  # measured: 0.03 % of the step
    assert (after["keras"] - after["swapped"]).norm() > 0.5 * step


def test_chapter_budgets_networks_and_losses_as_published():
    for p in ("smoke", "cpu", "full"):
        for b in (K.teacher_budget(p), K.student_budget(p)):
            assert (b.optimizer, b.lr, b.eps, b.batch_size, b.schedule) == ("adam", 1e-3, 1e-7, 32, "constant")
            assert b.augment is None and b.weight_decay == 0
        assert K.student_budget(p).precision == "float32"
    assert (K.teacher_budget("full").epochs, K.student_budget("full").epochs) == (5, 3)
    assert (K.teacher_budget("cpu").epochs, K.student_budget("cpu").epochs) == (5, 3)
    assert K.teacher_budget("full").precision == "float32"
    assert len(K.seeds("smoke")) == 2 and len(K.seeds("cpu")) >= 3 and len(K.seeds("full")) == 5
    assert kd.count_params(kd.build_model(K.TEACHER)) == 1_433_610
    assert kd.count_params(kd.build_model(K.STUDENT)) == 20_490
    assert K.book_loss().alpha == pytest.approx(1 - K.keras_loss().keras_alpha)
    assert K.swapped_loss().alpha == pytest.approx(K.keras_loss().keras_alpha)
    assert K.book_loss().temperature == K.keras_loss().temperature == K.swapped_loss().temperature == 10


def test_card_explains_every_deviation_in_every_profile():
    for p in ("smoke", "cpu", "full"):
        table = K.card(p).table()  # Card refuses to build while a deviation has no reason
        assert "batch_size = 64" in table.loc["batch"].iloc[1]
    full = K.card("full")
    assert "teacher training" not in {row for _, row, _ in full.differences}  # full: float32 as published


def test_claims_read_the_chapters_metrics():
    claims = K.claims()
    assert len({c.id for c in claims}) == len(claims)
    m = {"keras_teacher_acc": 98.9, "keras_student_scratch_acc": 97.9, "keras_student_scratch_acc_std": 0.1,
         "keras_student_kd_acc": 98.4, "keras_student_kd_acc_std": 0.1, "keras_student_kd_swapped_alpha_acc": 98.0,
         "keras_student_kd_swapped_alpha_acc_std": 0.1, "keras_vs_book_loss_rel_diff": 3e-6}
    out = {c["id"]: c["holds"] for c in kd.claims.evaluate_all(claims, m, "cpu")}
    assert out == {"teacher_as_expected": True, "scratch_as_expected": True, "kd_as_expected": True,
                   "kd_beats_scratch": True, "swapped_alpha_hurts": True, "keras_loss_is_book_loss": True}
    smoke = {c["id"]: c["holds"] for c in kd.claims.evaluate_all(claims, m, "smoke")}
    assert smoke["kd_beats_scratch"] is None and smoke["keras_loss_is_book_loss"] is True
