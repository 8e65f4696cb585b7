"""Figures and summary of a sweep (``semalign run``): accuracy and MSE against each numeric swept
setting, one line per method and awareness (and per value of a categorical swept setting), the
mean ± std over seeds. What was swept comes from the folder's manifest, not from the columns.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl

from semalign.experiments.plotting import MARKERS, legend_outside, method_lines, save_figure

#: Row columns of run settings whose names differ from the setting's (``tx=...`` -> ``tx_encoder``).
SETTING_COLUMNS = {"tx": "tx_encoder", "rx": "rx_encoder"}


def sweep_axes(results: pl.DataFrame, swept: list[str]) -> list[str]:
    """The numeric swept settings worth a figure (``swept``: from the folder's manifest) with more
    than one value in the rows; never the seed (averaged over)."""
    axes = []
    for name in swept:
        if name == "seed" or name not in results.columns or not results[name].dtype.is_numeric():
            continue
        if results.filter(pl.col("method") != "clean")[name].drop_nulls().n_unique() > 1:
            axes.append(name)
    return axes


def sweep_figure(results: pl.DataFrame, x: str, path: Path, swept: list[str]) -> Path:
    """Accuracy and MSE vs one swept setting ``x``: one line per method and awareness, the mean
    ± std over seeds; when exactly one other numeric setting is swept (at most 6 values), one line
    per value of it (markers), else the mean over the other settings too. The clean ceiling dotted."""
    if "awareness" not in results.columns:  # game and federated runs: one line per method
        results = results.with_columns(pl.lit("").alias("awareness"))
    frame = results.filter(pl.col("method") != "clean").drop_nulls(x)
    others = [c for c in sweep_axes(results, swept) if c != x]
    split = others[0] if len(others) == 1 and frame[others[0]].n_unique() <= len(MARKERS) else None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    categories = swept_categories(results, swept)
    variants = frame.select(categories).unique(maintain_order=True).rows(named=True) if categories else [{}]
    for ax, value in zip(axes, ("accuracy", "mse")):
        for variant in variants:
            subset = frame.filter(*(pl.col(k).is_null() if v is None else pl.col(k) == v for k, v in variant.items())) if variant else frame
            named = "".join(f", {k} = {v}" for k, v in variant.items())
            if split is None:
                method_lines(ax, subset, x, value, label_suffix=named)
            else:
                for k, level in enumerate(sorted(subset[split].unique().to_list())):
                    method_lines(ax, subset.filter(pl.col(split) == level), x, value, marker=MARKERS[k], label_suffix=f"{named}, {split} = {level:g}")
        if value == "accuracy":
            clean = results.filter(pl.col("method") == "clean")
            if clean.height:
                ax.axhline(clean["accuracy"].mean(), color="black", linestyle=":", label="clean (no channel)")
        if x in ("n_antennas", "pilots_per_class", "lam") and frame[x].min() > 0 and frame[x].max() / frame[x].min() >= 8:
            ax.set_xscale("log", base=2 if x == "n_antennas" else 10)
        if value == "mse":
            ax.set_yscale("log")
        ax.set_xlabel(x.replace("_", " ") + (f" ('{frame['snr_convention'][0]}' convention)" if x == "snr_db" else ""))
        ax.set_ylabel(value)
        ax.grid(True, which="both", alpha=0.3)
    legend_outside(axes[-1], 7)
    averaged = [c for c in others if c != split] + [u for u, c in (("pairs", "pair"), ("users", "user")) if c in results.columns]
    spread = "; mean ± std over seeds" + (f" and {', '.join(averaged)}" if averaged else "")
    def shown(column: str) -> str:  # one value, or the values in the legend
        values = frame[column].unique(maintain_order=True).to_list()
        return str(values[0]) if len(values) == 1 else "see legend"

    setting = shown("dataset") if "pair" in frame.columns or "user" in frame.columns else f"{shown('dataset')}: {shown('tx_encoder')} -> {shown('rx_encoder')}"
    caption = f"{setting}\nSNR convention '{shown('snr_convention')}', channel variance {shown('channel_variance')}, power {shown('power')}{spread}"
    return save_figure(fig, caption, path)


def draw_sweep_figures(results: pl.DataFrame, figures_dir: str | Path, swept: list[str]) -> list[Path]:
    """One figure per numeric swept setting of a sweep (any experiment); returns the paths."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    drawn = []
    if results.filter(pl.col("method") != "clean").height:
        drawn = [sweep_figure(results, x, figures_dir / f"sweep_vs_{x}.png", swept) for x in sweep_axes(results, swept)]
    for old in figures_dir.glob("sweep_vs_*.png"):  # an earlier sweep's axes in this folder
        if old not in drawn:
            old.unlink()
    return drawn


def swept_categories(results: pl.DataFrame, swept: list[str] | None) -> list[str]:
    """Non-numeric swept settings other than the method and awareness (e.g. ``tx``,
    ``snr_convention``), as row columns: figures draw one line per value, tables group by them."""
    names = [SETTING_COLUMNS.get(n, n) for n in (swept or [])]
    return [c for c in names if c in results.columns and c not in ("method", "awareness") and not results[c].dtype.is_numeric()]


def sweep_summary(results: pl.DataFrame, swept: list[str], limit: int = 60) -> tuple[str, pl.DataFrame, int]:
    """The table ``semalign run`` prints: mean accuracy and MSE grouped by the method, awareness and
    every swept setting but the seed (averaging over, e.g., two encoders would pass them off as
    replicates). Returns ``(title, first limit lines, lines left out)``."""
    keys = list(dict.fromkeys(SETTING_COLUMNS.get(k, k) for k in ("method", "awareness", *swept) if k != "seed"))
    keys = [k for k in keys if k in results.columns]
    many = [u for u, c in (("pairs", "pair"), ("users", "user")) if c in results.columns]
    title = "Mean over " + " and ".join((["seeds"] if "seed" in swept else []) + many) if "seed" in swept or many else "Results"
    summary = results.group_by(keys).agg(pl.col("accuracy").mean(), pl.col("mse").mean(), pl.len().alias("rows")).sort(keys, nulls_last=True)
    return title, summary.head(limit), max(summary.height - limit, 0)
