"""Soft targets under the microscope, and the loss variants later papers tried instead of T²·KL.

Helpers for the temperature chapter (softmax at T, entropy, the soft cross-entropy's gradient and
its logit-matching limit, the wrong classes a teacher ranks high) and loss modules for the
loss-variants chapter. Every module has the signature ``criterion(student, teacher, targets)`` that
:func:`kdhelpers.fit` expects and mixes ``alpha · soft + (1 − alpha) · CE(hard labels)``.

Notation (Hinton et al. 2015, §2): student logits z, teacher logits v, N classes,
q = softmax(z/T), p = softmax(v/T).

* soft cross-entropy  C = −Σᵢ pᵢ log qᵢ, whose gradient is ∂C/∂zᵢ = (qᵢ − pᵢ)/T
  (:func:`soft_ce_grad_formula`), and for zero-mean logits at high T ≈ (zᵢ − vᵢ)/(N T²)
  (:func:`logit_matching_grad`);
* :class:`SoftCrossEntropy` — C, optionally times T²;
* :class:`LogitMSE` — (1/2N) Σᵢ (zᵢ − vᵢ)²: the high-T limit of T²·KL (Ba & Caruana's logit regression);
* :class:`ProbCosine` — T² · (1 − cos(q, p)).
Hinton's T²·KL itself is :class:`kdhelpers.losses.DistillationLoss`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .losses import _check_logits, check_alpha, check_temperature


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
def soft_cross_entropy(student_logits, teacher_logits, temperature: float, *, reduction: str = "mean"):
    """C = −Σᵢ pᵢ log qᵢ with p, q the teacher's and student's softmax at T; per example or its mean/sum."""
    T = check_temperature(temperature)
    _check_logits(student_logits, teacher_logits)
    p = F.softmax(teacher_logits / T, dim=1)
    per_example = -(p * F.log_softmax(student_logits / T, dim=1)).sum(1)
    if reduction == "none":
        return per_example
    if reduction == "sum":
        return per_example.sum()
    if reduction == "mean":
        return per_example.mean()
    raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}")


def soft_ce_grad_formula(student_logits, teacher_logits, temperature: float) -> torch.Tensor:
    """∂C/∂zᵢ = (qᵢ − pᵢ)/T for each example (the gradient of the per-example loss)."""
    T = check_temperature(temperature)
    _check_logits(student_logits, teacher_logits)
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
    _check_logits(student_logits, teacher_logits)
    z, v = center(student_logits).double(), center(teacher_logits).double()
    return (z - v) / (z.shape[1] * T * T)


def center(logits: torch.Tensor) -> torch.Tensor:
    """Subtract each example's mean logit (the softmax does not change)."""
    logits = torch.as_tensor(logits)
    return logits - logits.mean(dim=-1, keepdim=True)


# --------------------------------------------------------------------------- loss modules
class _SoftPlusHard(nn.Module):
    """α · soft(student, teacher) + (1 − α) · CE(student, labels)."""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = check_alpha(alpha)

    def soft(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, student_logits, teacher_logits=None, targets=None):
        loss = student_logits.new_zeros((), dtype=torch.float32)
        if self.alpha > 0:
            if teacher_logits is None:
                raise ValueError(f"{type(self).__name__}: alpha > 0 needs teacher logits")
            _check_logits(student_logits, teacher_logits)
            loss = loss + self.alpha * self.soft(student_logits.float(), teacher_logits.float())
        if self.alpha < 1:
            if targets is None:
                raise ValueError(f"{type(self).__name__}: alpha < 1 needs hard targets")
            if targets.shape != student_logits.shape[:1]:
                raise ValueError(f"targets must be [batch]={student_logits.shape[0]}, got {tuple(targets.shape)}")
            loss = loss + (1 - self.alpha) * F.cross_entropy(student_logits.float(), targets)
        return loss


class SoftCrossEntropy(_SoftPlusHard):
    """Soft cross-entropy −Σ pᵢ log qᵢ at T (batch mean), times T² if ``t2_scale``.

    With ``t2_scale=True`` its gradient equals T²·KL's (they differ by the teacher's entropy, a
    constant for the student); the unscaled form is what a naive implementation writes down, and its
    soft gradients are T² times smaller.
    """

    def __init__(self, temperature: float, alpha: float = 1.0, t2_scale: bool = False):
        super().__init__(alpha)
        self.temperature = check_temperature(temperature)
        if not isinstance(t2_scale, bool):
            raise ValueError(f"t2_scale must be True or False, got {t2_scale!r}")
        self.t2_scale = t2_scale

    def soft(self, s, t):
        scale = self.temperature ** 2 if self.t2_scale else 1.0
        return scale * soft_cross_entropy(s, t, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}, t2_scale={self.t2_scale}"


class LogitMSE(_SoftPlusHard):
    """(1/2N) Σᵢ (zᵢ − vᵢ)², batch mean: regression onto the teacher's logits. Its gradient
    (zᵢ − vᵢ)/N is the high-temperature limit of T²·KL's for zero-mean logits."""

    def soft(self, s, t):
        return 0.5 * F.mse_loss(s, t, reduction="none").mean(1).mean()

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class ProbCosine(_SoftPlusHard):
    """T² · (1 − cos(softmax(z/T), softmax(v/T))), batch mean. The T² plays the same part as in
    Hinton's loss: the gradient through softmax(·/T) carries a factor 1/T."""

    def __init__(self, temperature: float, alpha: float = 1.0):
        super().__init__(alpha)
        self.temperature = check_temperature(temperature)

    def soft(self, s, t):
        T = self.temperature
        cos = F.cosine_similarity(F.softmax(s / T, dim=1), F.softmax(t / T, dim=1), dim=1)
        return T * T * (1 - cos).mean()

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"


# --------------------------------------------------------------------------- MNIST students
def mnist_student(width: int, profile: str, seed: int, *, teacher: nn.Module, criterion: nn.Module,
                  transfer=None, **overrides) -> nn.Module:
    """A ``width``-``width`` MNIST student distilled from ``teacher`` with any ``criterion`` above, on
    the same budget as :func:`kdhelpers.mnist.student` (cached; the criterion's repr is in the key)."""
    from .mnist import datasets, student_budget, student_config
    from .profiles import resolve_profile
    from .train import trained

    if not isinstance(criterion, nn.Module) or not criterion.extra_repr():
        raise ValueError("criterion must be a loss module with an extra_repr (it keys the model cache)")
    if transfer is None:
        transfer, _ = datasets(profile)
    kw = {**student_budget(profile), **overrides}
    return trained(f"mnist-student{width}-{type(criterion).__name__.lower()}", student_config(width), transfer,
                   profile=resolve_profile(profile), seed=seed, teacher=teacher, criterion=criterion, **kw)


# --------------------------------------------------------------------------- figures
def plot_digits_with_targets(images, probs, labels, titles=None, highlight=None):
    """One column per example: the image on top, its soft-target bar chart below (the label's bar
    dark, the ``highlight`` classes coloured). Returns the figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    images, probs = torch.as_tensor(images).cpu(), torch.as_tensor(probs).cpu()
    n = len(images)
    if n == 0 or probs.shape[0] != n or len(labels) != n:
        raise ValueError(f"need as many probability rows and labels as images, got {n}, {probs.shape[0]}, {len(labels)}")
    colors = sns.color_palette("colorblind")
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 3.6), gridspec_kw={"height_ratios": [1, 1.1]}, squeeze=False)
    for j in range(n):
        axes[0, j].imshow(images[j].squeeze(), cmap="gray_r")
        axes[0, j].set_axis_off()
        if titles is not None:
            axes[0, j].set_title(titles[j], fontsize=9)
        bar_colors = [colors[3] if (highlight and c in highlight) else "0.2" if c == int(labels[j]) else colors[0]
                      for c in range(probs.shape[1])]
        axes[1, j].bar(range(probs.shape[1]), probs[j].numpy(), color=bar_colors)
        axes[1, j].set_xticks(range(probs.shape[1]))
        axes[1, j].tick_params(labelsize=7)
        axes[1, j].set_ylim(0, 1)
        if j:
            axes[1, j].set_yticklabels([])
    fig.tight_layout()
    return fig
