"""One plotting style for the whole book, and every figure function the chapters share.

Chapters call these with their results; matplotlib and seaborn are imported inside each function,
so importing the package stays light.
"""
from __future__ import annotations

import numpy as np
import torch

from ..synthetic_data import cell_key


def set_style() -> None:
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update({"figure.figsize": (6.4, 4.0), "figure.dpi": 100, "savefig.bbox": "tight"})


# --------------------------------------------------------------------------- transfer sets (bias)
def plot_sweep(table: pd.DataFrame, chosen: dict, classes_label: str, x_label: str = "bias shift"):
    """Test errors (total and on the shifted classes) vs shift, with both protocols' choices."""
    import matplotlib.pyplot as plt

    test = table[table["split"] == "test"]
    fig, ax = plt.subplots()
    ax.plot(test["shift"], test["errors"], label="all test errors")
    ax.plot(test["shift"], test["errors_on_classes"], label=f"errors on {classes_label}")
    for protocol, style in (("val", "--"), ("test", ":")):
        ax.axvline(chosen[protocol]["shift"], ls=style, color="0.3",
                   label=f"chosen on {'validation' if protocol == 'val' else 'test (paper)'}")
    ax.set(xlabel=x_label, ylabel="test errors (of 10,000)")
    ax.legend()
    return ax


# --------------------------------------------------------------------------- soft targets
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


# --------------------------------------------------------------------------- temperature on synthetic data
def plot_grid(table: "pd.DataFrame", temperatures):
    """Accuracy vs T per data set (mean ± std over seeds), teacher and hard-label baseline as bands."""
    import matplotlib.pyplot as plt

    seps, pis = sorted(table.class_sep.unique()), sorted(table.p_inf.unique())
    fig, axes = plt.subplots(len(seps), len(pis), figsize=(3.3 * len(pis), 2.6 * len(seps)),
                             sharex=True, squeeze=False)
    for r, cs in enumerate(seps):
        for c, pi in enumerate(pis):
            ax, t = axes[r, c], table[(table.class_sep == cs) & (table.p_inf == pi)]
            d = t[t.model == "distilled"].groupby("T")["test_acc"].agg(["mean", "std"])
            ax.errorbar(d.index, d["mean"], yerr=d["std"], marker="o", ms=3, capsize=2, label="distilled")
            for model, color, ls in (("teacher", "k", "--"), ("hard labels", "C3", ":")):
                m, s = t[t.model == model]["test_acc"].agg(["mean", "std"])
                ax.axhline(m, color=color, ls=ls, lw=1, label=model)
                ax.axhspan(m - s, m + s, color=color, alpha=0.1, lw=0)
            ax.set_xscale("log")
            ax.set_xticks(list(temperatures)[::2], [f"{x:g}" for x in list(temperatures)[::2]])
            ax.minorticks_off()
            ax.set_title(f"class_sep {cs:.1f}, informative {pi:.0%}", fontsize=9)
            if c == 0:
                ax.set_ylabel("test accuracy (%)")
            if r == len(seps) - 1:
                ax.set_xlabel("T")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_t_opt_heatmap(metrics: dict, cells, prefix: str = ""):
    """T_opt (chosen on validation) per data set, with the bootstrap 5–95 % range."""
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    seps, pis = sorted({c[0] for c in cells}), sorted({c[1] for c in cells})
    val = pd.DataFrame(np.nan, index=[f"{s:.1f}" for s in seps], columns=[f"{p:.0%}" for p in pis])
    ann = val.astype(object)
    for cs, pi in cells:
        k = prefix + cell_key(cs, pi)
        val.loc[f"{cs:.1f}", f"{pi:.0%}"] = metrics[f"{k}_T_opt"]
        ann.loc[f"{cs:.1f}", f"{pi:.0%}"] = f"{metrics[f'{k}_T_opt']:g}\n[{metrics[f'{k}_T_opt_lo']:g}, {metrics[f'{k}_T_opt_hi']:g}]"
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    sns.heatmap(val.astype(float), annot=ann.values, fmt="", cmap="viridis", cbar_kws={"label": "T_opt"}, ax=ax)
    ax.set(xlabel="informative features", ylabel="class_sep",
           title="T_opt (validation); [bootstrap 5–95 %]")
    return fig


def plot_width(widths, results: dict, metrics: dict, temperatures):
    """Left: validation accuracy vs T per width, relative to its hard-label student (mean ± std over
    seeds, pooled over the width cells). Right: T_opt per width with the bootstrap 5–95 % range."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for w in widths:
        v = results[w]["val_acc"].numpy().mean(0)  # [seeds, K], mean over cells
        rel = v[:, 1:] - v[:, :1]
        sd = rel.std(0, ddof=1) if len(rel) > 1 else np.zeros(rel.shape[1])
        a.errorbar(temperatures, rel.mean(0), yerr=sd, marker="o", ms=3, capsize=2, label=f"{w} units")
    a.axhline(0, color="k", lw=0.8)
    a.set_xscale("log")
    a.set_xticks(list(temperatures), [f"{x:g}" for x in temperatures])
    a.minorticks_off()
    a.set(xlabel="T", ylabel="val. accuracy − hard-label student (pp)", title="distilled students by width")
    a.legend(fontsize=8)
    t = np.array([metrics[f"width{w}_T_opt"] for w in widths])
    lo = np.array([metrics[f"width{w}_T_opt_lo"] for w in widths])
    hi = np.array([metrics[f"width{w}_T_opt_hi"] for w in widths])
    b.errorbar(widths, t, yerr=[t - lo, hi - t], marker="s", capsize=4, ls="-")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xticks(list(widths), [str(w) for w in widths])
    b.set_yticks(list(temperatures), [f"{x:g}" for x in temperatures])
    b.minorticks_off()
    b.set(xlabel="units per hidden layer", ylabel="T_opt (validation)", title="T_opt, bootstrap 5–95 % over seeds")
    fig.tight_layout()
    return fig
