"""The tutorial's networks and the feature-distillation losses of the cifar_feature_kd chapter
(its definitions: the notebook's cells tagged `define`)."""
import math

import pytest
import torch
import torch.nn.functional as F

import kdhelpers as kd
import kdbook as kb
from kdhelpers.losses import DistillationLoss
from kdbook.chapter import load

fk = load("cifar_feature_kd")  # also registers the archs tutorial_deepnn and tutorial_lightnn
DeepNN, LightNN, TeacherFeatures = fk.DeepNN, fk.LightNN, fk.TeacherFeatures
CosineHiddenLoss, FeatureMapMSELoss = fk.CosineHiddenLoss, fk.FeatureMapMSELoss


def test_param_counts_match_the_tutorial():
    # the tutorial prints 1,186,986 and 267,738 parameters
    assert kd.count_params(DeepNN()) == 1_186_986
    assert kd.count_params(LightNN()) == 267_738
    # the FitNets regressor adds one Conv(16, 32, 3): 16·32·9 + 32 weights, used in training only
    assert kd.count_params(LightNN(hidden="regressor")) == 267_738 + 16 * 32 * 9 + 32


def test_output_shapes_per_hidden_mode():
    x = torch.randn(3, 3, 32, 32)
    assert DeepNN()(x).shape == (3, 10)
    logits, flat = DeepNN(hidden="flat")(x)
    assert logits.shape == (3, 10) and flat.shape == (3, 2048)
    assert DeepNN(hidden="map")(x)[1].shape == (3, 32, 8, 8)
    assert LightNN(hidden="flat")(x)[1].shape == (3, 1024)
    assert LightNN(hidden="map")(x)[1].shape == (3, 16, 8, 8)
    assert LightNN(hidden="regressor")(x)[1].shape == (3, 32, 8, 8)
    with pytest.raises(ValueError):
        DeepNN(hidden="regressor")
    with pytest.raises(ValueError):
        LightNN(hidden="pooled")


def test_registered_archs_build_from_config():
    # the chapter's definitions, loaded again, register its classes again under the same names
    # (as re-running the notebook's cells does): a config builds the latest ones
    again = load("cifar_feature_kd")
    m = kd.build_model({"arch": "tutorial_lightnn", "hidden": "regressor"})
    assert isinstance(m, again.LightNN) and hasattr(m, "regressor")
    assert isinstance(kd.build_model({"arch": "tutorial_deepnn"}), again.DeepNN)


def test_teacher_features_packed_equals_tuple():
    torch.manual_seed(0)
    t = DeepNN().eval()
    x = torch.randn(4, 3, 32, 32)
    logits, fmap = TeacherFeatures(t)(x)
    packed = TeacherFeatures(t, "packed")(x)
    assert packed.shape == (4, 10 + 2048)
    torch.testing.assert_close(packed[:, :10], logits)
    torch.testing.assert_close(packed[:, 10:], fmap.flatten(1))
    torch.testing.assert_close(logits, t(x))  # same weights, same logits
    torch.testing.assert_close(TeacherFeatures(t, "logits")(x), logits)
    with pytest.raises(ValueError):
        TeacherFeatures(LightNN())
    with pytest.raises(ValueError):
        TeacherFeatures(t, "features")


def test_teacher_memo_reuses_exact_batches_only():
    torch.manual_seed(0)
    t = DeepNN().eval()
    calls = []
    t.features.register_forward_hook(lambda *_: calls.append(1))
    memo = {}
    a, b = TeacherFeatures(t, "packed", memo), TeacherFeatures(t, "logits", memo)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        first = a(x)
        torch.testing.assert_close(b(x), first[:, :10])  # a second wrapper shares the memo
        assert len(calls) == 1
        x2 = x.clone()
        x2[1, 0, 0, 0] += 1e-3  # one changed value: a different batch
        assert not torch.equal(a(x2), first) and len(calls) == 2
    a(x)  # with gradients enabled nothing is remembered or reused
    assert len(calls) == 3 and len(memo) == 2


def test_cosine_loss_worked_example():
    # student hidden (2 dims) vs teacher hidden (4 dims, pooled in pairs to 2)
    s = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    t = torch.tensor([[2.0, 2.0, 0.0, 0.0], [0.0, 2.0, 4.0, 0.0]])  # pooled: [2, 0], [1, 2]
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1])
    cos = torch.tensor([1.0, (1 + 2) / (math.sqrt(2) * math.sqrt(5))])
    ce = -(torch.log_softmax(logits, 1)[[0, 1], [0, 1]]).mean()
    expected = 0.25 * (1 - cos).mean() + 0.75 * ce
    loss = CosineHiddenLoss(0.25)((logits, s), (torch.zeros(2, 2), t), y)
    torch.testing.assert_close(loss, expected)
    # equals the tutorial's nn.CosineEmbeddingLoss(target=1) on avg_pool1d(·, 2)
    ref = torch.nn.CosineEmbeddingLoss()(s, F.avg_pool1d(t, 2), torch.ones(2))
    torch.testing.assert_close(CosineHiddenLoss(1.0)((logits, s), (None, t), y), ref)
    # packed teacher output gives the same loss as the tuple
    packed = torch.cat([torch.zeros(2, 2), t], 1)
    torch.testing.assert_close(CosineHiddenLoss(0.25)((logits, s), packed, y), loss)


def test_feature_map_mse_worked_example():
    s = torch.zeros(1, 2, 1, 2)
    t = torch.tensor([[[[1.0, 3.0]], [[0.0, 2.0]]]])  # squares 1, 9, 0, 4 → mean 3.5
    logits, y = torch.tensor([[0.0, 0.0]]), torch.tensor([1])
    loss = FeatureMapMSELoss(0.25)((logits, s), (logits, t), y)
    torch.testing.assert_close(loss, torch.tensor(0.25 * 3.5 + 0.75 * math.log(2)))
    packed = torch.cat([logits, t.flatten(1)], 1)
    torch.testing.assert_close(FeatureMapMSELoss(0.25)((logits, s), packed, y), loss)
    with pytest.raises(ValueError):  # teacher map does not fit the student's
        FeatureMapMSELoss(0.25)((logits, s), (logits, torch.zeros(1, 3, 1, 2)), y)


def test_tutorial_kd_loss_is_the_book_distillation_loss():
    torch.manual_seed(1)
    s, t, y, T = torch.randn(5, 10), torch.randn(5, 10), torch.randint(0, 10, (5,)), 2.0
    soft_t = torch.softmax(t / T, -1)
    soft_s = torch.log_softmax(s / T, -1)
    tutorial = torch.sum(soft_t * (soft_t.log() - soft_s)) / 5 * T ** 2
    expected = 0.25 * tutorial + 0.75 * F.cross_entropy(s, y)
    torch.testing.assert_close(DistillationLoss(T, 0.25)(s, t, y), expected)


@pytest.mark.parametrize("alpha", [-0.1, float("nan"), 1.5, True, "a"])
def test_bad_weights_raise(alpha):
    for loss in (CosineHiddenLoss, FeatureMapMSELoss):
        with pytest.raises(ValueError, match="alpha"):
            loss(alpha)


def test_losses_reject_bad_inputs_and_have_reprs():
    y = torch.tensor([0])
    with pytest.raises(ValueError):  # student without features
        CosineHiddenLoss(0.25)(torch.zeros(1, 10), (torch.zeros(1, 10), torch.zeros(1, 4)), y)
    with pytest.raises(ValueError):  # no teacher
        CosineHiddenLoss(0.25)((torch.zeros(1, 10), torch.zeros(1, 4)), None, y)
    with pytest.raises(ValueError):  # 3 does not pool to 2
        CosineHiddenLoss(0.25)((torch.zeros(1, 10), torch.ones(1, 2)), (None, torch.ones(1, 3)), y)
    assert repr(CosineHiddenLoss(0.5)) != repr(CosineHiddenLoss(0.25))
    assert "alpha=0.25" in repr(FeatureMapMSELoss(0.25))


def test_student_variant_checks():
    data = kd.TensorData(torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.zeros(4, dtype=torch.long), "zeros")
    with pytest.raises(ValueError, match="variant"):
        fk.student_loss("attention")
    with pytest.raises(ValueError, match="together"):  # a hidden-feature loss needs a teacher
        fk.train_student(kb.Run(profile="smoke"), 0, data, loss=fk.student_loss("cosine"))
    loss = fk.student_loss
    assert loss("ce") is None and loss("kd").alpha == 0.25 and loss("kd").temperature == 2.0
    assert loss("cosine").student_features == "flat" and loss("regressor").student_features == "regressor"
    assert loss("kd") is not loss("kd")  # a fresh module for every student


def test_cached_packed_teacher_trains_like_per_batch_teacher(tmp_path, monkeypatch):
    """kd.fit indexes the once-computed packed teacher output with the shuffled batch indices:
    in float32 the student ends exactly where the per-batch teacher leads it."""
    monkeypatch.setenv("KD_AMP", "0")
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    data = kd.TensorData(torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=g),
                         torch.randint(0, 10, (16,), generator=g), "rand")
    teacher = DeepNN().eval()
    finals = []
    for packed in (True, False):
        torch.manual_seed(1)
        s = LightNN(hidden="regressor")
        s.classifier[2].p = 0.0  # dropout draws would differ between the two runs' RNG use
        budget = kd.Budget(epochs=1, batch_size=8, optimizer="adam", lr=1e-3, schedule="constant",
                           cache_teacher=packed)
        kd.fit(s, data, budget, teacher=TeacherFeatures(teacher, "packed" if packed else "tuple"),
               loss=FeatureMapMSELoss(0.25), progress=False, device="cpu")
        finals.append(torch.cat([p.detach().flatten() for p in s.parameters()]))
    torch.testing.assert_close(finals[0], finals[1], rtol=1e-4, atol=1e-5)
