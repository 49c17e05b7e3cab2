"""Toy data the unit tests train on (imported by test modules: pytest puts tests/ on the path)."""
import torch

from kdhelpers.data import TensorData


def pixel_digits(n: int, seed: int = 0, *, prefix: str = "toy") -> TensorData:
    """4×4 uint8 images whose class k lights pixel k: any decent model reads the label off the pixels.
    Named ``<prefix><n>s<seed>``, so each test module's sets key the model cache apart."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.randint(0, 40, (n, 1, 4, 4), generator=g, dtype=torch.uint8)
    x.view(n, -1)[torch.arange(n), y] = 255
    return TensorData(x, y, name=f"{prefix}{n}s{seed}")
