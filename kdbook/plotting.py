"""One plotting style for the whole book, and the figure functions several chapters share (a
chapter's own figures are cells of its notebook).

Chapters call these with their results; matplotlib and seaborn are imported inside each function,
so importing the package stays light.
"""
from __future__ import annotations


def set_style() -> None:
    import matplotlib as mpl  # heavy (about a second): imported when a figure is drawn
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update({"figure.figsize": (6.4, 4.0), "figure.dpi": 100, "savefig.bbox": "tight"})


# --------------------------------------------------------------------------- transfer sets (bias)
def plot_sweep(table: pd.DataFrame, chosen: dict, classes_label: str, x_label: str = "bias shift"):
    """Test errors (total and on the shifted classes) vs shift, with both protocols' choices."""
    import matplotlib.pyplot as plt  # heavy (about a second): imported when a figure is drawn

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
