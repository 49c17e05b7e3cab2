import os
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kdhelpers as kd
import kdbook as kb
from kdhelpers.augment import alternating_flip, alternating_flip_mask, translate_reflect
from kdhelpers.data import TensorData
from kdhelpers.callbacks import Lookahead
from kdhelpers.train import fit
from kdbook.chapter import load

cifar = load("cifar_resnet_vgg")  # the chapter's cells tagged `define`; registers its networks
CifarResNet, CifarVGG, TorchvisionNet = cifar.CifarResNet, cifar.CifarVGG, cifar.TorchvisionNet
AirbenchNet, BatchNorm, Conv = cifar.AirbenchNet, cifar.BatchNorm, cifar.Conv

SMOKE, CPU, FULL = (kb.Run(profile=p, device="cpu") for p in ("smoke", "cpu", "full"))  # runs of each profile
STANDARD_PARAMS = {"resnet_student": 11_173_962, "resnet_teacher": 23_520_842, "vgg_teacher": 14_728_266}


def _data(n=64, seed=0, classes=10):
    g = torch.Generator().manual_seed(seed)
    return TensorData(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
                      torch.randint(0, classes, (n,), generator=g), f"random{n}s{seed}",
                      (0.49, 0.48, 0.45), (0.25, 0.24, 0.26))


# --------------------------------------------------------------------------- networks
def test_standard_networks_have_the_known_cifar_parameter_counts():
    # the usual CIFAR-10 ResNet18 (11.17 M), ResNet50 (23.52 M) and VGG16-BN (14.73 M)
    counts = {m: kd.count_params(kd.build_model(cifar.STANDARD[m])) for m in cifar.MODELS}
    assert counts == STANDARD_PARAMS


def test_config_follows_the_profile():
    assert cifar.config("resnet_teacher", FULL) == cifar.STANDARD["resnet_teacher"]
    assert cifar.config("resnet_student", CPU) == cifar.FAST["resnet_student"]
    assert cifar.config("vgg_teacher", SMOKE) == cifar.TINY["vgg_teacher"]
    with pytest.raises(ValueError, match="unknown model"):
        cifar.config("resnet34", CPU)


def test_vgg_teacher_is_airbench94s_net_and_the_student_is_8x_cheaper():
    flops = {m: cifar.gflops(kd.build_model(cifar.FAST[m])) for m in cifar.MODELS}
    assert cifar.FAST["vgg_teacher"] == {"arch": "airbench", "widths": [64, 256, 256]}
    # airbench94's net: 1.97 M parameters
    assert kd.count_params(kd.build_model(cifar.FAST["vgg_teacher"])) == 1_972_792
    assert min(flops["vgg_teacher"], flops["resnet_teacher"]) / flops["resnet_student"] >= 8


@pytest.mark.parametrize("table", [cifar.FAST, cifar.TINY])
@pytest.mark.parametrize("model", cifar.MODELS)
def test_fast_members_are_smaller_and_give_logits(table, model):
    net = kd.build_model(table[model]).eval()
    assert kd.count_params(net) < STANDARD_PARAMS[model] / 4
    with torch.no_grad():
        assert net(torch.zeros(3, 3, 32, 32)).shape == (3, 10)


def test_resnet_keeps_resolution_in_the_stem():
    with pytest.raises(ValueError, match="stem_stride"):
        CifarResNet("basic", (1, 1, 1, 1), stem_stride=3)
    net = CifarResNet("basic", (1, 1, 1, 1), width=4).eval()
    assert isinstance(net.maxpool, nn.Identity) and net.conv1.stride == (1, 1) and net.conv1.kernel_size == (3, 3)
    with torch.no_grad():
        x = net.layer1(net.relu(net.bn1(net.conv1(torch.zeros(1, 3, 32, 32)))))
    assert x.shape == (1, 4, 32, 32)  # 32×32 until layer2; torchvision's ImageNet stem would give 8×8


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="block"):
        CifarResNet("wide", (1, 1, 1, 1))
    with pytest.raises(ValueError, match="four"):
        CifarResNet("basic", (2, 2, 2))
    with pytest.raises(ValueError, match="scale"):
        CifarVGG(scale=0)
    with pytest.raises(ValueError, match="role"):
        cifar.budget(CPU, "assistant")
    with pytest.raises(ValueError, match="needs its loss"):
        cifar.student("resnet_student", SMOKE, 0, teacher=torch.nn.Identity())
    with pytest.raises(ValueError, match="teachers are"):
        cifar.teacher("resnet_student", SMOKE)
    with pytest.raises(ValueError, match="students are 'resnet_student'"):
        cifar.student("resnet18", SMOKE)



def test_cache_files_name_the_roles_and_the_unsw_protocol_keeps_torchvisions_names(monkeypatch):
    calls = []
    record = lambda name, cfg, *a, **k: calls.append((name, cfg))  # noqa: E731
    monkeypatch.setattr(cifar, "trained", record)
    monkeypatch.setattr(kb.train, "trained", record)  # what trained_as calls
    data = _data(8)
    cifar.teacher("resnet_teacher", SMOKE, transfer=data)
    cifar.teacher("vgg_teacher", SMOKE, transfer=data)
    cifar.student("resnet_student", SMOKE, transfer=data)
    cifar.unsw_teacher("vgg_teacher", SMOKE, transfer=data)
    cifar.unsw_student(SMOKE, transfer=data)
    assert [n for n, _ in calls] == ["cifar-resnet-teacher", "cifar-vgg-teacher", "cifar-resnet-student-scratch",
                                     "cifar-unsw-vgg16", "cifar-unsw-resnet18-scratch-student"]
    assert calls[1][1] == cifar.TINY["vgg_teacher"]
    assert calls[3][1] == {"arch": "torchvision", "name": "vgg16", "pretrained": True}

# --------------------------------------------------------------------------- airbench's tricks
def test_patch_whitening_whitens_the_patches_it_was_fitted_on():
    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.5, 0.2], [0.0, 1.0, 0.7], [0.0, 0.0, 1.0]])
    images = torch.einsum("dc,nchw->ndhw", mix, torch.randn(200, 3, 32, 32, generator=g))  # correlated channels
    net = AirbenchNet((8, 8, 8))
    net.data_init(images, eps=0.0)
    out = F.conv2d(images, net[0].weight[:12])  # the first 12 filters; the other 12 are their negatives
    flat = out.permute(1, 0, 2, 3).reshape(12, -1)
    cov = flat @ flat.T / flat.shape[1]
    assert torch.allclose(cov, torch.eye(12), atol=2e-3)
    assert torch.equal(net[0].weight[12:], -net[0].weight[:12]) and not net[0].weight.requires_grad


def test_dirac_init_passes_the_input_channels_through():
    conv = Conv(4, 6)
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        assert torch.allclose(conv(x)[:, :4], x, atol=1e-6)


def test_batchnorm_scales_frozen_and_biases_at_64x_the_rate():
    net = AirbenchNet((8, 8, 8), residual=True)
    bns = [m for m in net.modules() if isinstance(m, BatchNorm)]
    assert bns and all(not m.weight.requires_grad and m.eps == 1e-12 for m in bns)
    norm, other = net.param_groups(lr=0.1, weight_decay=0.01)
    assert {id(m.bias) for m in bns} == {id(p) for p in norm["params"]}
    assert norm["lr"] == pytest.approx(6.4) and norm["lr"] * norm["weight_decay"] == pytest.approx(0.1 * 0.01)
    assert not {id(p) for p in norm["params"]} & {id(p) for p in other["params"]}


def test_whitening_bias_trains_for_three_epochs_only():
    net = AirbenchNet((8, 8, 8))
    net.epoch_start(2)
    assert net[0].bias.requires_grad
    net.epoch_start(3)
    assert not net[0].bias.requires_grad


def test_airbench_budget_is_airbench94s_recipe_per_mean_loss():
    t, s = cifar.budget(CPU, "teacher"), cifar.budget(CPU, "student")
    # airbench: lr 11.5 and decay 0.0153 "per 1024 examples" on a summed loss, momentum 0.85
    kilostep = 1024 * (1 + 1 / (1 - 0.85))
    assert t.lr == pytest.approx(11.5 / kilostep * 1024)
    assert t.lr * t.weight_decay == pytest.approx(0.0153 * 1024 / kilostep)
    assert (t.batch_size, t.momentum, t.nesterov, t.lookahead, t.label_smoothing) == (1024, 0.85, True, True, 0.2)
    assert (t.augment, s.augment, s.label_smoothing) == ("alternating_flip_translate", "alternating_flip", 0.0)
    full = cifar.budget(FULL, "student")
    assert (full.optimizer, full.momentum, full.weight_decay, full.augment) == ("sgd", 0.9, 5e-4, "crop_flip")
    assert cifar.budget(FULL, "teacher").epochs > cifar.budget(CPU, "teacher").epochs


def test_alternating_flip_shows_every_image_both_ways_over_two_epochs():
    idx = torch.arange(1000)
    m0, m1 = alternating_flip_mask(idx, 0), alternating_flip_mask(idx, 1)
    assert torch.equal(m0, ~m1) and torch.equal(m0, alternating_flip_mask(idx, 2))
    assert 0.45 < m0.float().mean() < 0.55  # a fair coin per image
    x = torch.arange(2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    out = alternating_flip(x, epoch=0, idx=torch.tensor([0, 1]))
    for i in range(2):
        assert torch.equal(out[i], x[i].flip(-1) if m0[i] else x[i])


def test_translate_reflect_is_a_crop_of_the_reflect_padded_image():
    x = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    assert torch.equal(translate_reflect(x, 0), x)
    g = torch.Generator().manual_seed(3)
    out = translate_reflect(x, 2, torch.Generator().manual_seed(3))
    dy, dx = torch.randint(-2, 3, (6,), generator=g), torch.randint(-2, 3, (6,), generator=g)
    pad = F.pad(x.float(), (2, 2, 2, 2), mode="reflect").to(x.dtype)
    for i in range(6):
        crop = pad[i, :, 2 + dy[i]:10 + dy[i], 2 + dx[i]:10 + dx[i]]
        assert torch.equal(out[i], crop)


def test_lookahead_ends_on_its_average():
    net = nn.Linear(2, 1)
    run = SimpleNamespace(model=net, step=4, steps=10)
    la = Lookahead()
    la.before_fit(run)
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    la.after_step(run)  # only every 5 steps
    assert torch.equal(net.weight, start + 1.0)
    run.step = 5
    la.after_step(run)  # decay 0.95⁵·(1/2)³: the average moves most of the way
    decay = 0.95 ** 5 * 0.5 ** 3
    assert torch.allclose(net.weight, start + (1 - decay))
    la.after_fit(run)
    assert torch.allclose(net.weight, start + (1 - decay))


def test_distilled_student_sees_the_teachers_outputs_for_the_view_it_trains_on():
    data = _data(48)
    torch.manual_seed(0)
    teacher = kd.build_model(cifar.TINY["vgg_teacher"]).eval()
    kb.current().remember(teacher, "test-teacher-views", precision="float32")
    seen = []

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = kd.build_model(cifar.TINY["resnet_student"])

        def forward(self, x):
            seen.append(x.detach().clone())
            return self.net(x)

    class RecordingLoss(kd.DistillationLoss):
        def forward(self, out, t, y):
            seen.append(t.detach().clone())
            return super().forward(out, t, y)

    budget = kd.Budget(epochs=2, batch_size=16, lr=0.01, augment="alternating_flip", precision="float32")
    fit(Recorder(), data, budget, teacher=teacher, loss=RecordingLoss(4.0, alpha=0.5), progress=False)
    pairs = list(zip(seen[0::2], seen[1::2]))
    assert len(pairs) == 6  # 3 batches × 2 epochs
    teacher.eval()
    with torch.no_grad():
        for x, t in pairs:
            assert torch.allclose(teacher(x.contiguous()).float(), t.float(), atol=1e-4)


def test_tta_averages_the_six_views():
    data = _data(8)
    torch.manual_seed(0)
    net = kd.build_model(cifar.TINY["resnet_student"]).eval()
    x = data.prepare(data.x)
    pad = F.pad(x, (1, 1, 1, 1), mode="reflect")
    views = [x, pad[:, :, :32, :32], pad[:, :, 2:, 2:]]
    with torch.no_grad():
        both = [0.5 * net(v) + 0.5 * net(v.flip(-1)) for v in views]
    expected = 0.5 * both[0] + 0.25 * both[1] + 0.25 * both[2]
    assert torch.allclose(cifar.tta_logits(net, data).float(), expected, atol=1e-4)


def test_accuracy_is_remembered_per_cached_model_and_data_set(monkeypatch):
    data, other = _data(40), _data(40, seed=1)
    torch.manual_seed(0)
    net = kd.build_model(cifar.TINY["resnet_student"]).eval()
    run = kb.Run(profile="smoke", device="cpu")
    monkeypatch.setattr(kb.run, "_CURRENT", run)
    memo = {}
    calls = []
    real = cifar.tta_logits
    monkeypatch.setattr(cifar, "tta_logits", lambda m, d: calls.append(d.name) or real(m, d))
    # a model the run did not get from the cache is evaluated every time (it may still be training)
    first = cifar.accuracy(net, data, memo=memo)
    assert cifar.accuracy(net, data, memo=memo) == first and calls == [data.name, data.name]
    run.remember(net, "key-of-net")
    calls.clear()
    assert cifar.accuracy(net, data, memo=memo) == first
    assert cifar.accuracy(net, data, memo=memo) == first and calls == [data.name]  # once per model and set
    cifar.accuracy(net, other, memo=memo)
    assert calls == [data.name, other.name]  # another data set is evaluated
    cifar.accuracy(net, data, tta=False, memo=memo)
    assert calls == [data.name, other.name]  # without TTA: predict_logits, not tta_logits
    assert len(memo) == 3
    cifar.accuracy(net, data)  # without a memo: evaluated every time
    assert calls == [data.name, other.name, data.name]


def test_tta_logits_do_not_depend_on_the_evaluation_batch(monkeypatch):
    data = _data(300)
    torch.manual_seed(0)
    net = kd.build_model(cifar.TINY["resnet_student"]).eval()
    small = cifar.tta_logits(net, data)
    monkeypatch.setattr(cifar, "EVAL_BATCH", 4096)
    big = cifar.tta_logits(net, data)
    # bit for bit on one thread (how the book runs); with more threads oneDNN may split a batch differently
    assert torch.allclose(big, small, atol=1e-5, rtol=1e-4) and torch.equal(big.argmax(1), small.argmax(1))


# --------------------------------------------------------------------------- cost and statistics
def test_gflops_counts_a_convolution_by_its_formula():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    # 2 FLOPs per multiply-add: 2 · (3·3·3 weights) · 8 output channels · 32·32 positions
    assert cifar.gflops(conv) * 1e9 == pytest.approx(2 * 27 * 8 * 32 * 32)


def test_latency_is_positive_and_checks_arguments():
    net = kd.build_model(cifar.TINY["resnet_student"])
    threads = torch.get_num_threads()
    assert cifar.latency_ms(net, 2, reps=2, warmup=0) > 0
    assert torch.get_num_threads() == threads  # timed on one thread, then given back
    with pytest.raises(ValueError):
        cifar.latency_ms(net, 0)


def test_data_label_names_the_jpeg_copy():
    x, y = torch.zeros(1, 3, 32, 32, dtype=torch.uint8), torch.zeros(1, dtype=torch.long)
    assert cifar.data_label(TensorData(x, y, "cifar10-jpeg:test|subset5s0")) == "CIFAR-10 (JPEG copy)"
    assert cifar.data_label(TensorData(x, y, "cifar10:test")) == "CIFAR-10"


def test_grid_summary_differences_and_their_noise():
    import pandas as pd

    rows = [{"teacher": t, "T": T, "beta": b, "test": 90 + T / 10 + (b == 0.5)}
            for t in ("a", "b") for T in (3, 5, 7, 10) for b in (0.5, 0.7)]
    s = cifar.grid_summary(pd.DataFrame(rows), seed_std=0.4)
    assert s["kd_grid_T10_minus_T3"] == pytest.approx(0.7)
    assert s["kd_grid_T10_minus_T3_std"] == pytest.approx(0.4 * (1 / 4 + 1 / 4) ** 0.5)
    assert s["kd_grid_beta0.5_minus_0.7"] == pytest.approx(1.0)
    assert s["kd_grid_beta0.5_minus_0.7_std"] == pytest.approx(0.4 * (2 / 8) ** 0.5)


def test_card_shows_the_reports_protocol_and_every_deviation_has_a_reason():
    for p in (SMOKE, CPU, FULL):
        card = cifar.card(p)
        table = card.table()
        assert table.iloc[:, 0]["learning rate"] == "0.002" and table.iloc[:, 0]["epochs"] == "85"
        assert table.iloc[:, 0]["batch"] == "not stated"


# --------------------------------------------------------------------------- the UNSW report's protocol
def test_unsw_protocol_is_the_reports():
    u = cifar.UNSW_PROTOCOL
    r_cfg, v_cfg, s_cfg = (u.models[m] for m in ("resnet_teacher", "vgg_teacher", "resnet_student"))
    r_b, v_b, s_b, base = (u.budgets[m] for m in ("resnet_teacher", "vgg_teacher", "resnet_student", "baseline"))
    assert r_cfg["pretrained"] and v_cfg["pretrained"] and not s_cfg["pretrained"]
    # the report's networks are torchvision's own: their names stay in the configs (and the cache keys)
    assert (r_cfg["name"], v_cfg["name"], s_cfg["name"]) == ("resnet50", "vgg16", "resnet18")
    assert (r_b.optimizer, r_b.lr, r_b.epochs, v_b.lr, v_b.epochs) == ("adam", 2e-4, 30, 1e-4, 30)
    assert (s_b.lr, s_b.epochs, s_b.augment) == (2e-3, 85, None)
    assert (base.lr, base.epochs) == (2e-4, 30)


def test_pretrained_weights_missing_offline_fail_at_once_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_OFFLINE", "1")
    monkeypatch.delenv("KD_DRY_RUN", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"resnet50-.*\.pth"):
        cifar.unsw_check_weights()
    with pytest.raises(FileNotFoundError, match="KD_OFFLINE"):
        TorchvisionNet("vgg16", pretrained=True)
    monkeypatch.setenv("KD_DRY_RUN", "1")  # a dry run goes on with random weights
    cifar.unsw_check_weights()
    net = TorchvisionNet("resnet18", pretrained=True, n_classes=10)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="unknown torchvision"):
        TorchvisionNet("resnet1000")
