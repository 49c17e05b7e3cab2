import pytest
import torch

import kdhelpers as kd
from kdhelpers.augment import jitter

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist():
    return kd.load_mnist(True), kd.load_mnist(False)


def test_mnist_sizes_and_class_counts(mnist):
    train, test = mnist
    assert train.x.shape == (60000, 1, 28, 28) and train.x.dtype == torch.uint8
    assert test.x.shape == (10000, 1, 28, 28)
    assert train.class_counts().tolist() == TRAIN_COUNTS
    assert test.class_counts().tolist() == TEST_COUNTS


def test_drop_classes_removes_every_3(mnist):
    no3 = kd.drop_classes(mnist[0], 3)
    assert len(no3) == 60000 - TRAIN_COUNTS[3]
    assert not (no3.y == 3).any()
    assert no3.class_counts().tolist()[:3] == TRAIN_COUNTS[:3]
    assert "drop[3]" in no3.name


def test_keep_classes_keeps_only_7_and_8(mnist):
    only78 = kd.keep_classes(mnist[0], [8, 7])
    assert set(only78.y.unique().tolist()) == {7, 8}
    assert len(only78) == TRAIN_COUNTS[7] + TRAIN_COUNTS[8]
    assert only78.name != mnist[0].name


def test_subset_and_split_are_disjoint_and_sized(mnist):
    small = kd.subset(mnist[0], 500, seed=1)
    assert len(small) == 500
    train, val = kd.split(small, 100, seed=0)
    assert len(train) == 400 and len(val) == 100
    # no image appears in both halves (compare rows as bytes)
    a = {bytes(r) for r in train.x.flatten(1).numpy()}
    assert not any(bytes(r) in a for r in val.x.flatten(1).numpy())
    with pytest.raises(ValueError):
        kd.split(small, 500)


def test_jitter_keeps_shape_and_moves_pixels_by_at_most_2():
    n = 2000
    x = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    x[:, 0, 14, 14] = 255                       # one lit pixel per image
    out = jitter(x, 2, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert (out.flatten(1).sum(1) == 255).all()  # the pixel is moved, never lost or duplicated
    pos = out[:, 0].flatten(1).argmax(1)
    dy, dx = pos // 28 - 14, pos % 28 - 14
    assert dy.abs().max() <= 2 and dx.abs().max() <= 2
    assert len(set(zip(dy.tolist(), dx.tolist()))) == 25  # every shift in [-2, 2]² occurs


def test_jitter_fills_with_zeros_at_the_border():
    x = torch.full((500, 1, 8, 8), 7, dtype=torch.uint8)
    out = jitter(x, 2, generator=torch.Generator().manual_seed(0))
    moved = (out == 0).flatten(1).any(1)
    assert moved.float().mean() > 0.9            # 24 of 25 shifts expose a border
    assert set(out.unique().tolist()) <= {0, 7}


def test_missing_mnist_offline_names_kd_data_dir_and_files(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KD_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as err:
        kd.load_mnist(True)
    msg = str(err.value)
    assert "KD_DATA_DIR" in msg and str(tmp_path) in msg
    assert "MNIST/raw/train-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg


def _fake_cifar_jpegs(root, split, level_of_class):
    from PIL import Image

    for label, cls in enumerate(kd.data.CIFAR10_CLASSES):
        folder = root / "cifar10-jpeg" / split / cls
        folder.mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (32, 32), (level_of_class(label),) * 3).save(folder / f"{i}.jpg", quality=75)


def test_cifar10_jpeg_copy_is_decoded_in_class_order_and_cached(tmp_path, monkeypatch):
    _fake_cifar_jpegs(tmp_path, "test", lambda label: 20 * label)
    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KD_OFFLINE", "1")
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache"))  # never the session's shared cache
    test = kd.load_cifar10(train=False)
    assert test.name == "cifar10-jpeg:test"
    assert test.x.shape == (20, 3, 32, 32) and test.x.dtype == torch.uint8
    assert test.class_counts().tolist() == [2] * 10
    # the grey level written for each class comes back (JPEG is lossy: within a few levels)
    means = torch.stack([test.x[test.y == c].float().mean() for c in range(10)])
    assert torch.allclose(means, torch.arange(10) * 20.0, atol=3)
    assert len(list((tmp_path / "cache").glob("cifar10-jpeg-test-*.pt"))) == 1
    with pytest.raises(FileNotFoundError, match="cifar10-jpeg/train"):
        kd.load_cifar10(train=True)


def test_the_decoded_jpeg_cache_is_keyed_by_its_source_folder(tmp_path, monkeypatch):
    """Two JPEG copies in two KD_DATA_DIRs share one model cache: each loads its own images."""
    monkeypatch.setenv("KD_OFFLINE", "1")
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache"))
    levels = {"a": lambda label: 200, "b": lambda label: 50}
    for name, level in levels.items():
        _fake_cifar_jpegs(tmp_path / name, "test", level)
    for name in ("a", "b"):
        monkeypatch.setenv("KD_DATA_DIR", str(tmp_path / name))
        kd.data._cifar10.cache_clear()  # the in-process copy too: as a new session would see it
        test = kd.load_cifar10(train=False)
        assert abs(test.x.float().mean().item() - levels[name](0)) < 3, f"folder {name} got another folder's images"
    assert len(list((tmp_path / "cache").glob("cifar10-jpeg-test-*.pt"))) == 2
    # a changed copy (a file rewritten) is decoded again, not read stale from the cache
    _img = tmp_path / "b" / "cifar10-jpeg" / "test" / "airplane" / "0.jpg"
    from PIL import Image
    Image.new("RGB", (32, 32), (250,) * 3).save(_img, quality=75)
    kd.data._cifar10.cache_clear()
    assert kd.load_cifar10(train=False).x[0].float().mean() > 240
