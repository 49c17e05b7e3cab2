"""What losses on hidden representations share: the student returns ``(logits, features)``, and
the teacher's output is ``(logits, features)`` or one packed ``[batch, classes + features]``
tensor (cached once per transfer set by :func:`kdhelpers.fit`)."""
from __future__ import annotations

import torch

from .base import SoftPlusHard


def split_teacher_out(teacher_out, n_classes: int):
    """``(logits, features)`` from a tuple, or from a packed ``[B, n_classes + D]`` tensor."""
    if teacher_out is None:
        raise ValueError("this loss needs the teacher's features: pass a teacher to fit()")
    if isinstance(teacher_out, (tuple, list)):
        if len(teacher_out) != 2:
            raise ValueError(f"teacher output must be (logits, features), got {len(teacher_out)} tensors")
        return teacher_out[0], teacher_out[1]
    if teacher_out.dim() != 2 or teacher_out.shape[1] <= n_classes:
        raise ValueError(f"a packed teacher output must be [batch, {n_classes} + features], "
                         f"got {tuple(teacher_out.shape)}")
    return teacher_out[:, :n_classes], teacher_out[:, n_classes:]


class HiddenPlusCE(SoftPlusHard):
    """α · hidden_loss(student features, teacher features) + (1 − α) · CE(student logits, labels)."""

    def hidden_loss(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def soft(self, student_out, teacher_out):
        if not isinstance(student_out, (tuple, list)) or len(student_out) != 2:
            raise ValueError("the student must return (logits, features): build it with hidden=...")
        s_logits, s_feat = student_out
        _, t_feat = split_teacher_out(teacher_out, s_logits.shape[1])
        return self.hidden_loss(s_feat.float(), t_feat.detach().float())
