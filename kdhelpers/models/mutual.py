"""Two or more students in one module, for deep mutual learning."""
from __future__ import annotations

from torch import nn

from .registry import build_model, register


@register("mutual_pair")
class MutualPair(nn.Module):
    """Two (or more) students in one module, so one :func:`fit` call trains them together.

    ``forward`` returns a tuple of logits, one per member; :func:`kdhelpers.evaluate` on the pair
    scores member 0 (``logits_of`` takes the first element), so evaluate ``pair.members[i]``
    for each student.
    """

    def __init__(self, members):
        super().__init__()
        members = list(members)
        if len(members) < 2:
            raise ValueError(f"mutual learning needs ≥ 2 members, got {len(members)}")
        self.members = nn.ModuleList(build_model(m) if isinstance(m, dict) else m for m in members)

    def forward(self, x):
        return tuple(m(x) for m in self.members)


def mutual_pair_config(*member_cfgs: dict) -> dict:
    """Model config of a :class:`MutualPair` of these students."""
    return {"arch": "mutual_pair", "members": [dict(c) for c in member_cfgs]}
