"""Soft targets under the microscope: helpers for the temperature chapter.

Softmax at T, entropy, the wrong classes a teacher ranks high, the soft cross-entropy's gradient
(formula and autograd) and its high-temperature logit-matching limit.

Notation (Hinton et al. 2015, §2): student logits z, teacher logits v, N classes,
q = softmax(z/T), p = softmax(v/T). The soft cross-entropy C = −Σᵢ pᵢ log qᵢ has gradient
∂C/∂zᵢ = (qᵢ − pᵢ)/T (:func:`soft_ce_grad_formula`), and for zero-mean logits at high T
≈ (zᵢ − vᵢ)/(N T²) (:func:`logit_matching_grad`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .losses import check_logits, check_temperature, soft_cross_entropy


# --------------------------------------------------------------------------- soft targets
def softmax_t(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / T) over the last dimension."""
    T = check_temperature(temperature)
    return F.softmax(torch.as_tensor(logits).double() / T, dim=-1)


def entropy_bits(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in bits over the last dimension (0·log 0 = 0)."""
    probs = torch.as_tensor(probs).double()
    if (probs < 0).any() or not torch.allclose(probs.sum(-1), torch.ones(1, dtype=probs.dtype), atol=1e-6):
        raise ValueError("entropy_bits needs probability vectors (non-negative, summing to 1)")
    logs = torch.where(probs > 0, probs.log2(), torch.zeros_like(probs))
    return -(probs * logs).sum(-1)


def top_wrong_classes(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0, k: int = 2):
    """For each example, the ``k`` most probable classes other than its label at temperature T:
    ``(classes [n, k], probabilities [n, k])``."""
    probs = softmax_t(logits, temperature)
    labels = torch.as_tensor(labels).long().to(probs.device)
    if labels.shape != probs.shape[:1]:
        raise ValueError(f"labels must be [n]={probs.shape[0]}, got {tuple(labels.shape)}")
    masked = probs.scatter(1, labels[:, None], -1.0)
    vals, cls = masked.topk(k, dim=1)
    return cls, vals


# --------------------------------------------------------------------------- gradients
def soft_ce_grad_formula(student_logits, teacher_logits, temperature: float) -> torch.Tensor:
    """∂C/∂zᵢ = (qᵢ − pᵢ)/T for each example (the gradient of the per-example loss)."""
    T = check_temperature(temperature)
    check_logits(student_logits, teacher_logits)
    return (softmax_t(student_logits, T) - softmax_t(teacher_logits, T)) / T


def soft_ce_grad_autograd(student_logits, teacher_logits, temperature: float) -> torch.Tensor:
    """The same gradient by autograd (float64): d(Σ over examples of C)/dz, one row per example."""
    z = torch.as_tensor(student_logits).detach().double().requires_grad_(True)
    v = torch.as_tensor(teacher_logits).detach().double()
    soft_cross_entropy(z, v, temperature, reduction="sum").backward()
    return z.grad


def logit_matching_grad(student_logits, teacher_logits, temperature: float) -> torch.Tensor:
    """The high-temperature approximation (zᵢ − vᵢ)/(N T²), for logits made zero-mean per example."""
    T = check_temperature(temperature)
    check_logits(student_logits, teacher_logits)
    z, v = center(student_logits).double(), center(teacher_logits).double()
    return (z - v) / (z.shape[1] * T * T)


def center(logits: torch.Tensor) -> torch.Tensor:
    """Subtract each example's mean logit (the softmax does not change)."""
    logits = torch.as_tensor(logits)
    return logits - logits.mean(dim=-1, keepdim=True)
