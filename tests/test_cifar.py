import pytest
import torch
from torch import nn

import kdhelpers as kd
from kdhelpers import cifar
from kdhelpers.models import CifarResNet, CifarVGG
from kdhelpers.data import TensorData


STANDARD_PARAMS = {"resnet18": 11_173_962, "resnet50": 23_520_842, "vgg16": 14_728_266}


def test_standard_networks_have_the_known_cifar_parameter_counts():
    # the usual CIFAR-10 ResNet18 (11.17 M), ResNet50 (23.52 M) and VGG16-BN (14.73 M)
    counts = {m: kd.count_params(kd.build_model(cifar.STANDARD[m])) for m in cifar.MODELS}
    assert counts == STANDARD_PARAMS


def test_config_follows_the_profile():
    assert cifar.config("resnet50", "full") == cifar.STANDARD["resnet50"]
    assert cifar.config("resnet18", "cpu") == cifar.REDUCED["resnet18"]
    with pytest.raises(ValueError, match="unknown model"):
        cifar.config("resnet34", "cpu")


@pytest.mark.parametrize("table", [cifar.REDUCED, cifar.TINY])
@pytest.mark.parametrize("model", cifar.MODELS)
def test_reduced_members_are_smaller_and_give_logits(table, model):
    net = kd.build_model(table[model]).eval()
    assert kd.count_params(net) < STANDARD_PARAMS[model] / 10
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
    with pytest.raises(ValueError, match="max-pools"):
        CifarVGG(cfg=(8, "M", 8))
    with pytest.raises(ValueError, match="role"):
        cifar.budget("cpu", "assistant")
    with pytest.raises(ValueError, match="needs its loss"):
        cifar.student("resnet18", "smoke", 0, teacher=torch.nn.Identity())
    with pytest.raises(ValueError, match="teachers are"):
        cifar.teacher("resnet18", "smoke")


def test_gflops_counts_a_convolution_by_its_formula():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    # 2 FLOPs per multiply-add: 2 · (3·3·3 weights) · 8 output channels · 32·32 positions
    assert cifar.gflops(conv) * 1e9 == pytest.approx(2 * 27 * 8 * 32 * 32)


def test_latency_is_positive_and_checks_arguments():
    net = kd.build_model(cifar.TINY["resnet18"])
    assert cifar.latency_ms(net, 2, reps=2, warmup=0) > 0
    with pytest.raises(ValueError):
        cifar.latency_ms(net, 0)


def test_data_label_names_the_jpeg_copy():
    x, y = torch.zeros(1, 3, 32, 32, dtype=torch.uint8), torch.zeros(1, dtype=torch.long)
    assert cifar.data_label(TensorData(x, y, "cifar10-jpeg:test|subset5s0")) == "CIFAR-10 (JPEG copy)"
    assert cifar.data_label(TensorData(x, y, "cifar10:test")) == "CIFAR-10"


def test_budget_is_the_standard_recipe_in_every_profile():
    for p in ("smoke", "cpu", "full"):
        b = cifar.budget(p, "student")
        assert (b.optimizer, b.momentum, b.weight_decay, b.augment) == ("sgd", 0.9, 5e-4, "crop_flip")
    assert cifar.budget("full", "teacher").epochs > cifar.budget("cpu", "teacher").epochs
