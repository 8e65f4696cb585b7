"""Figures of the robustness study (``semalign reproduce robustness``): accuracy and MSE against the
CSI error, the pilot SNR of estimated CSI and the normalised Doppler of outdated CSI, one colour per
method, naive designs dashed and robust ones solid (mean ± std over seeds; the receiver's clean
accuracy dotted, the error of predicting the pilots' mean dashed grey).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl

from semalign.experiments.plotting import COLOURS, legend_outside, save_figure, summarise
from semalign.experiments.studies.robustness import AXES

_LABELS = {
    "csi-error": "CSI error ε (share of the channel's power the estimate misses)",
    "pilot-snr": "pilot SNR of the LMMSE channel estimate (dB)",
    "doppler": "normalised Doppler f_D τ per latent (outdated CSI)",
}


def _caption(rows: pl.DataFrame) -> str:
    row = rows.filter(pl.col("method") != "clean").row(0, named=True)
    extra = f", {row['csi_pilots']} pilots per antenna" if row.get("csi_pilots") and row["experiment"] == "pilot-snr" else ""
    extra += f", blocks of {row['coherence']} latents" if row.get("coherence") and row["experiment"] == "doppler" else ""
    return (
        f"{row['dataset']}: {row['tx_encoder']} -> {row['rx_encoder']}, {row['n_tx']}×{row['n_rx']} antennas, SNR {row['snr_db']:g} dB "
        f"('{row['snr_convention']}'), {row['channel_model']} channel{extra}; naive dashed, robust solid; mean ± std over seeds"
    )


def _design_rows(frame: pl.DataFrame, experiment: str) -> pl.DataFrame:
    """Rows labelled ``design`` (naive / robust); without any CSI error both designs are one run,
    drawn on both lines."""
    robust = pl.col("robust").fill_null(False) if "robust" in frame.columns else pl.lit(False)
    labelled = frame.with_columns(pl.when(robust).then(pl.lit("robust")).otherwise(pl.lit("naive")).alias("design"))
    if experiment == "csi-error":
        exact = labelled.filter(pl.col("csi_error") == 0).with_columns(pl.lit("robust").alias("design"))
        labelled = pl.concat([labelled, exact], how="diagonal_relaxed")
    return labelled


def robustness_figure(results: pl.DataFrame, experiment: str, path: Path) -> Path:
    """Accuracy and MSE against the experiment's swept setting."""
    x = AXES[experiment]
    rows = results.filter(pl.col("experiment") == experiment)
    frame = _design_rows(rows.filter(pl.col("method") != "clean"), experiment)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, value in zip(axes, ("accuracy", "mse")):
        stats = summarise(frame, ["method", "design", x], value)
        for (method, design), group in stats.group_by(["method", "design"], maintain_order=True):
            group = group.sort(x)
            xs, mean, std = group[x].to_numpy(), group["mean"].to_numpy(), group["std"].to_numpy()
            colour = COLOURS.get(method)
            ax.plot(xs, mean, "-" if design == "robust" else "--", marker="o" if design == "robust" else "x", color=colour, label=f"{method} ({design})")
            ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.1, linewidth=0)
        if value == "accuracy":
            clean = rows.filter(pl.col("method") == "clean")
            if clean.height:
                ax.axhline(clean["accuracy"].mean(), color="black", linestyle=":", label="clean (no channel)")
            ax.set_ylim(0, 1.02)
        else:
            if "mean_predictor_mse" in frame.columns:
                ax.axhline(frame["mean_predictor_mse"].mean(), color="grey", linestyle="--", label="predict the mean (no link)")
            ax.set_yscale("log")
        ax.set_xlabel(_LABELS[experiment])
        ax.set_ylabel(value)
        ax.grid(True, which="both", alpha=0.3)
    legend_outside(axes[-1], 7)
    return save_figure(fig, _caption(rows), path)


def draw_robustness_figures(results: pl.DataFrame, figures_dir: str | Path) -> list[Path]:
    """Draw every robustness figure present in ``results`` into ``figures_dir``."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    present = set(results["experiment"].unique().to_list())
    return [
        robustness_figure(results, experiment, figures_dir / f"robustness_vs_{AXES[experiment].removesuffix('_db')}.png")
        for experiment in AXES
        if experiment in present and results.filter((pl.col("experiment") == experiment) & (pl.col("method") != "clean")).height
    ]
