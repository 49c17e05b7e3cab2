"""The model registry: every architecture registers itself where it is defined, under the name a
config dict uses (``{"arch": "mlp", "hidden": [800, 800]}``), so configs can key the model cache
and any model can be built without importing a chapter's helpers first."""
from __future__ import annotations

from torch import nn

ARCHS: dict[str, type] = {}


def register(name: str):
    """Class decorator: ``@register("mlp") class MLP(...)``."""
    def add(cls):
        old = ARCHS.get(name)
        # the same class defined again (a notebook cell re-run, a chapter's definitions loaded again) replaces it
        if old is not None and old is not cls and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"architecture {name!r} is registered twice ({old.__name__}, {cls.__name__}); "
                             "give one of them another name")
        ARCHS[name] = cls
        cls.arch_name = name
        return cls
    return add


def build_model(cfg: dict) -> nn.Module:
    """``build_model({"arch": "mlp", "hidden": [800, 800]})``: the registered class, built with
    the rest of the dict as keyword arguments."""
    if not isinstance(cfg, dict):
        raise TypeError(f"a model config is a dict with an 'arch' key, got {cfg!r}")
    cfg = dict(cfg)
    arch = cfg.pop("arch", None)
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; known: {sorted(ARCHS)}")
    return ARCHS[arch](**cfg)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
