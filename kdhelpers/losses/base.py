"""The shape every distillation loss in the book shares: α · soft + (1 − α) · CE(hard labels).

α is the weight of the soft (teacher) term everywhere in this book. A subclass defines ``soft``;
the base class mixes it with the cross-entropy on the labels and checks its inputs. A chapter
that quotes a source writing β (or Keras's ``alpha`` on the *hard* term) says once how that maps
onto this α.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_alpha, check_targets, log_softmax_last


def hard_loss(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy on the labels, batch mean (per leading index for [models, batch, classes])."""
    if logits.dim() == 2:
        return F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)
    if label_smoothing:
        flat = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                               reduction="none", label_smoothing=label_smoothing)
        return flat.view(targets.shape).mean(-1)
    return -log_softmax_last(logits.float()).gather(-1, targets.unsqueeze(-1)).squeeze(-1).mean(-1)


class SoftPlusHard(nn.Module):
    """α · soft(student, teacher) + (1 − α) · CE(student logits, labels)."""

    #: the student returns (logits, features) for losses on hidden representations
    student_features: str | None = None

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = check_alpha(alpha)

    def soft(self, student_out, teacher_out) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def logits(student_out) -> torch.Tensor:
        return student_out[0] if isinstance(student_out, (tuple, list)) else student_out

    def forward(self, student_out, teacher_out=None, targets=None):
        logits = self.logits(student_out)
        loss = logits.new_zeros((), dtype=torch.float32)
        if self.alpha > 0:
            if teacher_out is None:
                raise ValueError(f"{type(self).__name__}: alpha > 0 needs the teacher's output")
            loss = loss + self.alpha * self.soft(student_out, teacher_out)
        if self.alpha < 1:
            check_targets(logits, targets)
            loss = loss + (1 - self.alpha) * hard_loss(logits, targets)
        return loss

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class CrossEntropy(nn.Module):
    """Hard labels only: CE(student logits, labels), optionally label-smoothed."""

    formula = "CE(s, y)"


    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, student_out, teacher_out=None, targets=None):
        logits = SoftPlusHard.logits(student_out)
        check_targets(logits, targets)
        return hard_loss(logits, targets, self.label_smoothing)

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
