"""One plotting style for the whole book."""
from __future__ import annotations


def set_style() -> None:
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update({"figure.figsize": (6.4, 4.0), "figure.dpi": 100, "savefig.bbox": "tight"})
