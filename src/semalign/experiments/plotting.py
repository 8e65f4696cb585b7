"""What every figure of semalign shares: one colour per method, mean ± std summaries, and saving
with a caption that reports can read back.

Figures are drawn from stored result rows (never from live objects), so they can be redrawn
(``semalign figures OUT``). A method without a colour here gets Matplotlib's next one.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

from semalign._cache import atomic_open  # noqa: E402

#: One colour per method name, across the settings (a method's colour is the same in every figure).
COLOURS = {
    "linear-admm": "tab:blue",
    "neural": "tab:purple",
    "eigen-k": "tab:green",
    "top-k": "tab:orange",
    "first-k": "tab:red",
    "game-fixed-eigenmode": "tab:blue",
    "game-full-mimo": "tab:purple",
    "ignore-interference": "tab:red",
    "centralized": "tab:green",
    "orthogonal": "tab:orange",
    "federated-admm": "tab:blue",
    "federated-prox": "tab:cyan",
    "multi-link": "tab:purple",
}
AWARENESS_STYLES = {"aware": "-", "unaware": "--"}
MARKERS = ["o", "s", "^", "D", "v", "P"]


def summarise(results: pl.DataFrame, by: list[str], value: str = "accuracy") -> pl.DataFrame:
    """Mean, standard deviation and count of ``value`` over seeds for each group ``by``."""
    return (
        results.group_by(by)
        .agg(pl.col(value).mean().alias("mean"), pl.col(value).std().fill_null(0.0).alias("std"), pl.len().alias("seeds"))
        .sort(by)
    )


def method_lines(ax, frame: pl.DataFrame, x: str, value: str, marker: str = "o", label_suffix: str = "") -> None:
    """One line per method and awareness: the mean of ``value`` over seeds against ``x``, with a
    band of +-1 standard deviation."""
    stats = summarise(frame, ["method", "awareness", x], value)
    for (method, awareness), group in stats.group_by(["method", "awareness"], maintain_order=True):
        group = group.sort(x)
        xs, mean, std = group[x].to_numpy(), group["mean"].to_numpy(), group["std"].to_numpy()
        colour = COLOURS.get(method)
        name = f"{method} ({awareness})" if awareness else method
        ax.plot(xs, mean, AWARENESS_STYLES.get(awareness, "-"), marker=marker, color=colour, label=f"{name}{label_suffix}")
        ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.15, linewidth=0)


def legend_outside(ax, fontsize: float = 8, *, below: bool = False) -> None:
    """The legend of ``ax`` outside its plotting area, so that it never covers a curve: to its
    right (give it the rightmost panel of a row), or ``below`` it (panels side by side that each
    need their own legend). The saved figure grows to hold it."""
    if below:
        ax.legend(fontsize=fontsize, loc="upper center", bbox_to_anchor=(0.5, -0.16), borderaxespad=0.0)
    else:
        ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def save_figure(fig, caption: str, path: Path, description: str | None = None) -> Path:
    """Caption a figure, write it to ``path`` and free it (every study's figures go through here).

    The caption is drawn as the figure's title and also stored as the PNG's ``Description`` text
    chunk (``description`` if given: the caption before it was wrapped to the figure's width; read
    back by :func:`png_caption`), so a report can show it as text beside the image.
    """
    fig.suptitle(caption, fontsize=9)
    fig.tight_layout()
    # Through a temporary file: runs sharing an output folder may draw the same figure at once.
    with atomic_open(path) as handle:
        fig.savefig(handle, format="png", dpi=120, metadata={"Description": caption if description is None else description})
    plt.close(fig)
    return path



def png_caption(path: str | Path) -> str | None:
    """The ``Description`` text stored in a PNG by :func:`save_figure` (``None`` if the file has none, for
    example figures drawn before captions were stored)."""
    from PIL import Image, UnidentifiedImageError  # Pillow: a dependency of Matplotlib

    try:
        with Image.open(path) as image:
            return image.text.get("Description") if image.format == "PNG" else None
    except UnidentifiedImageError:  # not an image at all
        return None
