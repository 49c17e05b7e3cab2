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

from ..losses import check_logits, check_temperature, soft_cross_entropy
from kdbook.references import Ref

# The paper's statements (§2) the results overview sets beside this chapter's measurements
REFERENCES = {"t2_scaled_grad_norm_ratio_T1_T20": Ref("roughly unchanged", "Hinton et al. 2015"),
              "unscaled_grad_norm_ratio_T1_T20": Ref("grows as T²", "Hinton et al. 2015"),
              "logit_matching_rel_err_T100": Ref("→ 0 as T grows", "Hinton et al. 2015")}
# the results overview's rows: (experiment, reference, metric key, unit)
HEADLINES = [(label, str(REFERENCES[key]), key, "ratio") for label, key in (
    ("Soft-gradient norm, T = 1 over T = 20, with the T² factor", "t2_scaled_grad_norm_ratio_T1_T20"),
    ("… without the T² factor", "unscaled_grad_norm_ratio_T1_T20"),
    ("Soft gradient vs logit matching at T = 100, relative error", "logit_matching_rel_err_T100"))]
# the metric keys the chapter must record (tests/test_notebooks.py)
METRIC_KEYS = {"grad_formula_max_abs_err", "t2_scaled_grad_norm_ratio_T1_T20", "unscaled_grad_norm_ratio_T1_T20",
               "logit_matching_rel_err_T100"}


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


# --------------------------------------------------------------------------- figures
def plot_digits_with_targets(images, probs, labels, titles=None, highlight=None, ncols=4):
    """The examples in rows of ``ncols``: each image, and below it its soft-target bar chart (the
    label's bar dark, the ``highlight`` classes coloured). Returns the figure."""
    import matplotlib.pyplot as plt  # heavy (about a second): imported when a figure is drawn
    import seaborn as sns

    images, probs = torch.as_tensor(images).cpu(), torch.as_tensor(probs).cpu()
    n = len(images)
    if n == 0 or probs.shape[0] != n or len(labels) != n:
        raise ValueError(f"need as many probability rows and labels as images, got {n}, {probs.shape[0]}, {len(labels)}")
    colors = sns.color_palette("colorblind")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    # one image row and one bar row per row of examples; 7 inches wide, the book's column
    fig, axes = plt.subplots(2 * nrows, ncols, figsize=(7, 2.8 * nrows), squeeze=False,
                             layout="constrained", gridspec_kw={"height_ratios": [1.4, 1] * nrows})
    for ax in axes.flat:
        ax.set_axis_off()
    for j in range(n):
        top, bars = axes[2 * (j // ncols), j % ncols], axes[2 * (j // ncols) + 1, j % ncols]
        top.imshow(images[j].squeeze(), cmap="gray_r")
        if titles is not None:
            top.set_title(titles[j], fontsize=10)
        bar_colors = [colors[3] if (highlight and c in highlight) else "0.2" if c == int(labels[j]) else colors[0]
                      for c in range(probs.shape[1])]
        bars.set_axis_on()
        bars.bar(range(probs.shape[1]), probs[j].numpy(), color=bar_colors)
        bars.set_xticks(range(probs.shape[1]))
        bars.tick_params(labelsize=8)
        bars.set_ylim(0, 1)
        if j % ncols:
            bars.set_yticklabels([])
    return fig


def plain_log_ticks(ax, which: str = "x", ticks=None) -> None:
    """Label the log-scale ``which`` axis of ``ax`` with plain numbers (1, 2, 5, 10 …) and no minor
    labels such as 3×10¹: at ``ticks``, or else at 1, 2 and 5 per decade of the current limits
    (fewer when the axis spans many decades). Call it after plotting."""
    import math

    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    if ticks is None:
        lo, hi = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
        decades = math.log10(hi / lo)
        mantissas = ((1, 2, 3, 5) if decades < 1 else (1, 2, 5) if decades < 2 else (1, 3) if decades < 4
                     else (1,))
        ticks = [m * 10.0 ** k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
                 for m in mantissas if lo <= m * 10.0 ** k <= hi]
        if len(ticks) < 3:  # a narrow range: evenly spaced round numbers instead
            ticks = [t for t in MaxNLocator(nbins=4).tick_values(lo, hi) if lo <= t <= hi]
    axis.set_major_locator(FixedLocator(ticks))
    def label(v, _):  # 0.5, 20, 1000; below 0.001 a power of ten, 10⁻⁵, not 1e-05
        k = math.log10(v)
        return f"$10^{{{round(k)}}}$" if v < 1e-3 and abs(k - round(k)) < 1e-9 else f"{v:.3g}"

    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(NullFormatter())
