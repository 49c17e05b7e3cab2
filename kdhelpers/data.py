"""Data sets as whole tensors, transfer-set filters and batched augmentation.

Images stay ``uint8`` in memory (MNIST: 47 MB, CIFAR-10: 150 MB) and are turned into
normalised floats one batch at a time by :meth:`TensorData.prepare`; batches are index
tensors into the whole set, so no per-sample DataLoader work happens.
"""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from PIL import Image
from torchvision.datasets import CIFAR10, CIFAR100, MNIST, ImageFolder
from tqdm.auto import tqdm

from . import dryrun
from .device import show_progress
from .io import atomic_save, cache_dir

# data set name -> identity (file names and sizes) of every data set this process read: the book's
# fingerprint of a run records them (kdbook.fingerprint)
READ: dict[str, str] = {}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def files_identity(root: Path, files) -> str:
    """The identity of a data set's files: their paths under ``root`` and sizes (the same on every
    machine that has the same files; no modification times)."""
    root = Path(root)
    return _sha("\n".join(f"{Path(f).relative_to(root).as_posix()}\t{Path(f).stat().st_size}" for f in sorted(files)))

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


def data_root() -> Path:
    """``$KD_DATA_DIR`` (default ``./data``)."""
    return Path(os.environ.get("KD_DATA_DIR", "data")).expanduser().resolve()


def offline() -> bool:
    """``$KD_OFFLINE=1`` forbids download attempts."""
    return os.environ.get("KD_OFFLINE", "0").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class TensorData:
    """A whole data set: ``x`` uint8 images [N, C, H, W], ``y`` int64 labels.

    ``name`` describes where the set came from and every filter applied to it; it goes into
    cache keys, so two different transfer sets never share a cached model.
    """
    x: torch.Tensor
    y: torch.Tensor
    name: str
    mean: tuple = (0.0,)
    std: tuple = (1.0,)

    def __post_init__(self):
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"{self.name}: {self.x.shape[0]} images but {self.y.shape[0]} labels")

    def __len__(self) -> int:
        return self.y.shape[0]

    def prepare(self, xb: torch.Tensor) -> torch.Tensor:
        """uint8 batch → float32 in [0, 1], then normalised with this set's mean/std."""
        xb = xb.float().div_(255)
        if any(m != 0 for m in self.mean) or any(s != 1 for s in self.std):
            mean = torch.tensor(self.mean, device=xb.device).view(1, -1, 1, 1)
            std = torch.tensor(self.std, device=xb.device).view(1, -1, 1, 1)
            xb = (xb - mean) / std
        return xb

    def to(self, device) -> "TensorData":
        return replace(self, x=self.x.to(device), y=self.y.to(device))

    def class_counts(self, n_classes: int = 10) -> torch.Tensor:
        return torch.bincount(self.y.cpu(), minlength=n_classes)

    def _take(self, idx: torch.Tensor, suffix: str) -> "TensorData":
        idx = idx.to(self.y.device)
        return replace(self, x=self.x[idx], y=self.y[idx], name=f"{self.name}|{suffix}")


# --------------------------------------------------------------------------- loading
def _missing(what: str, expected: Iterable[str], root: Path) -> FileNotFoundError:
    files = "\n  ".join(str(root / f) for f in expected)
    return FileNotFoundError(
        f"{what} not found under KD_DATA_DIR={root} and downloading is "
        f"{'disabled (KD_OFFLINE=1)' if offline() else 'not possible'}.\n"
        f"Put these files there (or point KD_DATA_DIR at a folder that has them):\n  {files}")


@functools.lru_cache(maxsize=4)
def _mnist(root: str, train: bool) -> TensorData:
    root_p = Path(root)
    try:
        ds = MNIST(root, train=train, download=False)
    except RuntimeError:
        ds = _download(MNIST, root, train, "MNIST", [f"MNIST/raw/{f}" for f in MNIST_FILES])
    split = "train" if train else "test"
    raw = root_p / "MNIST" / "raw"
    _register(f"mnist:{split}", raw, [raw / f for f in MNIST_FILES[:2] if train] + [raw / f for f in MNIST_FILES[2:] if not train])
    return TensorData(ds.data.unsqueeze(1).contiguous(), ds.targets.long(), name=f"mnist:{split}")


def _download(cls, root: str, train: bool, what: str, expected: Iterable[str]):
    """torchvision's ``cls`` downloaded into ``root``; offline, or when the download fails (no
    network, a proxy, ...), the error that names the files expected there."""
    if offline():
        raise _missing(what, expected, Path(root)) from None
    try:
        return cls(root, train=train, download=True)
    except Exception as err:
        raise _missing(what, expected, Path(root)) from err


def _cifar(ds, root_p: Path, name: str, mean: tuple, std: tuple) -> TensorData:
    """A torchvision CIFAR data set as uint8 images [N, 3, 32, 32], its files noted for the fingerprint."""
    _register(name, root_p, (root_p / ds.base_folder).glob("*"))
    return TensorData(torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets),
                      name, mean, std)


def _register(name: str, root: Path, files) -> None:
    """Note the data set's identity (file names and sizes) for the run's fingerprint."""
    files = [Path(f) for f in files if Path(f).is_file()]
    READ[name] = files_identity(root, files) if files else "unknown"


def load_mnist(train: bool = True) -> TensorData:
    """MNIST from ``$KD_DATA_DIR`` through ``torchvision.datasets.MNIST`` (downloads when online)."""
    return _mnist(str(data_root()), bool(train))


def folder_digest(folder: Path) -> str:
    """A short hash of a folder's resolved path and of every file in it (relative path, size,
    modification time): it changes whenever the folder is another one or its files change."""
    folder = Path(folder).resolve()
    h = hashlib.sha256(str(folder).encode())
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            st = os.stat(os.path.join(root, name))
            rel = os.path.relpath(os.path.join(root, name), folder)
            h.update(f"\0{rel}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _decode_image_folder(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    samples = ImageFolder(str(folder)).samples  # sorted classes = CIFAR-10 label order
    x = torch.empty((len(samples), 3, 32, 32), dtype=torch.uint8)
    for i, (path, _) in enumerate(tqdm(samples, desc=f"decode {folder.name} JPEGs", mininterval=2,
                                           disable=not show_progress())):
        with Image.open(path) as im:
            x[i] = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
    return x, torch.tensor([label for _, label in samples], dtype=torch.long)


@functools.lru_cache(maxsize=4)
def _cifar10(root: str, train: bool) -> TensorData:
    root_p, split = Path(root), ("train" if train else "test")
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    try:
        return _cifar(CIFAR10(root, train=train, download=False), root_p, f"cifar10:{split}", mean, std)
    except RuntimeError:
        pass
    jpeg = root_p / "cifar10-jpeg" / split
    if jpeg.is_dir():
        # Decoding 60k JPEGs takes a while: do it once, keep a uint8 tensor cache, keyed by the
        # folder and its files so another KD_DATA_DIR (or a changed copy) never reads a stale one.
        cached = cache_dir() / f"cifar10-jpeg-{split}-{folder_digest(jpeg)}.pt"
        try:
            x, y = torch.load(cached, weights_only=True)
        except Exception:
            x, y = _decode_image_folder(jpeg)
            atomic_save((x, y), cached)
        _register(f"cifar10-jpeg:{split}", jpeg, jpeg.rglob("*.jpg"))
        return TensorData(x, y, f"cifar10-jpeg:{split}", mean, std)
    expected = ["cifar-10-batches-py/ (torchvision's CIFAR10 files)",
                f"or cifar10-jpeg/{split}/<class>/*.jpg (ImageFolder layout)"]
    return _cifar(_download(CIFAR10, root, train, "CIFAR-10", expected), root_p, f"cifar10:{split}", mean, std)


def load_cifar10(train: bool = True) -> TensorData:
    """CIFAR-10: torchvision's batches if present or downloadable, else the JPEG copy
    ``$KD_DATA_DIR/cifar10-jpeg`` (name ``cifar10-jpeg:…``: label such results "JPEG copy")."""
    return _cifar10(str(data_root()), bool(train))


CIFAR100_FILES = ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta")


@functools.lru_cache(maxsize=4)
def _cifar100(root: str, train: bool) -> TensorData:
    root_p, split = Path(root), ("train" if train else "test")
    mean, std = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
    try:
        ds = CIFAR100(root, train=train, download=False)
    except RuntimeError:
        if dryrun.enabled():
            # a dry run checks the code path, not the data: stand-in images of CIFAR-100's shape,
            # online or not (no 160 MB download for it)
            g = torch.Generator().manual_seed(int(train))
            n = 50_000 if train else 10_000
            print(f"DRY RUN: CIFAR-100 is not under KD_DATA_DIR; {n} random stand-in images of its shape")
            _register(f"cifar100-standin:{split}", root_p, [])
            return TensorData(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
                              torch.randint(0, 100, (n,), generator=g), f"cifar100-standin:{split}", mean, std)
        ds = _download(CIFAR100, root, train, "CIFAR-100", CIFAR100_FILES)
    return _cifar(ds, root_p, f"cifar100:{split}", mean, std)


def load_cifar100(train: bool = True) -> TensorData:
    """CIFAR-100 through ``torchvision.datasets.CIFAR100`` (downloads when online). Offline and
    missing it fails naming the files expected; a dry run (``KD_DRY_RUN=1``) never downloads: without
    the files it uses random stand-in images of its shape, online or not, so the full profile's code
    path runs anyway."""
    return _cifar100(str(data_root()), bool(train))


# --------------------------------------------------------------------------- transfer sets
def _classes(classes) -> list[int]:
    classes = [classes] if isinstance(classes, int) else sorted(set(int(c) for c in classes))
    if not classes:
        raise ValueError("give at least one class")
    return classes


def drop_classes(data: TensorData, classes) -> TensorData:
    """The set without any example of ``classes`` (e.g. the omitted-3 transfer set)."""
    classes = _classes(classes)
    keep = ~torch.isin(data.y, torch.tensor(classes, device=data.y.device))
    return data._take(keep.nonzero().squeeze(1), f"drop{classes}")


def keep_classes(data: TensorData, classes) -> TensorData:
    """Only the examples of ``classes`` (e.g. the 7&8-only transfer set)."""
    classes = _classes(classes)
    keep = torch.isin(data.y, torch.tensor(classes, device=data.y.device))
    return data._take(keep.nonzero().squeeze(1), f"keep{classes}")


def subset(data: TensorData, n: int, seed: int = 0) -> TensorData:
    """A random subset of ``n`` examples (all of them if ``n >= len(data)``)."""
    if n <= 0:
        raise ValueError(f"subset size must be positive, got {n}")
    if n >= len(data):
        return data
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return data._take(idx.sort().values, f"subset{n}s{seed}")


def split(data: TensorData, n_val: int, seed: int = 0) -> tuple[TensorData, TensorData]:
    """Hold out ``n_val`` random examples as a validation set: ``(train, val)``."""
    if not 0 < n_val < len(data):
        raise ValueError(f"n_val must be in (0, {len(data)}), got {n_val}")
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    return (data._take(idx[n_val:].sort().values, f"train-split{n_val}s{seed}"),
            data._take(idx[:n_val].sort().values, f"val-split{n_val}s{seed}"))


def cifar10_splits(run) -> tuple[TensorData, TensorData, TensorData]:
    """CIFAR-10 as (train, val, test): 45,000 training images, 5,000 held out (seed 0) and the
    10,000 test images; in the smoke profile 512, 256 and 512 of them."""
    full_train, test = load_cifar10(True), load_cifar10(False)
    train, val = split(full_train, 5000, seed=0)
    if run.profile == "smoke":  # run: the notebook's kd.Run
        return subset(train, 512), subset(val, 256), subset(test, 512)
    return train, val, test
