"""The full-profile dry run never touches the network: with every socket connect refused and
``KD_OFFLINE`` unset, its data and weight loaders fall back to stand-ins and say so."""
import socket

import pytest
import torch

from kdhelpers import data
from kdbook.chapter import load

cifar = load("cifar_resnet_vgg")  # the chapter's cells tagged `define`
TorchvisionNet = cifar.TorchvisionNet


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Any attempt to open a connection raises; empty data and torch.hub folders; KD_OFFLINE unset."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"the test cut the network off, and something tried to connect: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("KD_OFFLINE", raising=False)
    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    data._cifar100.cache_clear()
    yield
    data._cifar100.cache_clear()


def test_the_cut_is_real(no_network):
    with pytest.raises(AssertionError, match="cut the network off"):
        socket.create_connection(("127.0.0.1", 9))


@pytest.mark.parametrize("online_flag", [None, "0"])
def test_dry_run_cifar100_uses_stand_ins_without_the_network(no_network, monkeypatch, capsys, online_flag):
    monkeypatch.setenv("KD_DRY_RUN", "1")
    if online_flag is not None:
        monkeypatch.setenv("KD_OFFLINE", online_flag)
    test = data.load_cifar100(train=False)
    assert test.x.shape == (10_000, 3, 32, 32) and test.x.dtype == torch.uint8
    assert int(test.y.max()) < 100 and test.name.startswith("cifar100-standin")
    assert "DRY RUN: CIFAR-100 is not under KD_DATA_DIR" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["resnet18", "vgg11"])
def test_dry_run_pretrained_networks_use_random_weights_without_the_network(no_network, monkeypatch, capsys, name):
    monkeypatch.setenv("KD_DRY_RUN", "1")
    net = TorchvisionNet(name, pretrained=True, n_classes=10)
    assert net.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    assert f"DRY RUN: no ImageNet weights for {name}" in capsys.readouterr().out


def test_dry_run_weight_check_of_the_unsw_protocol_passes_without_the_network(no_network, monkeypatch):
    monkeypatch.setenv("KD_DRY_RUN", "1")
    cifar.unsw_check_weights()  # would raise offline; a dry run goes on with random weights


def test_a_real_run_without_the_files_fails_with_where_to_put_them(no_network, monkeypatch):
    monkeypatch.setenv("KD_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="cifar-100-python"):
        data.load_cifar100(train=False)
    with pytest.raises(FileNotFoundError, match="hub/checkpoints|put it there"):
        TorchvisionNet("resnet18", pretrained=True)
