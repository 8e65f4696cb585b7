"""Figures of the single-link study (``semalign reproduce mimo``): accuracy and MSE against the
compression factor and the SNR, one line per method and awareness (mean ± std over seeds, the
receiver's clean accuracy dotted; on MSE plots the error of predicting the pilots' mean dashed), and
accuracy against inference FLOPs.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl

from semalign.experiments.plotting import COLOURS, MARKERS, legend_outside, method_lines, save_figure


def _clean_line(ax, results: pl.DataFrame, experiment: str) -> None:
    clean = results.filter((pl.col("method") == "clean") & (pl.col("experiment") == experiment))
    if clean.height:
        ax.axhline(clean["accuracy"].mean(), color="black", linestyle=":", label="clean (no channel)")


def _mean_predictor_line(ax, frame: pl.DataFrame) -> None:
    """The MSE of predicting the pilots' mean (no link at all): every useful method lies below it."""
    if "mean_predictor_mse" in frame.columns and frame["mean_predictor_mse"].drop_nulls().len():
        ax.axhline(frame["mean_predictor_mse"].mean(), color="grey", linestyle="--", label="predict the mean (no link)")


def _reference_line(ax, results: pl.DataFrame, frame: pl.DataFrame, experiment: str, value: str) -> None:
    if value == "accuracy":
        _clean_line(ax, results, experiment)
    else:
        _mean_predictor_line(ax, frame)
        ax.set_yscale("log")  # unaware designs err by orders of magnitude more than aware ones


def _caption(results: pl.DataFrame) -> str:
    row = results.filter(pl.col("method") != "clean").row(0, named=True)
    return (
        f"{row['dataset']}: {row['tx_encoder']} -> {row['rx_encoder']}\nSNR convention '{row['snr_convention']}', "
        f"channel variance {row['channel_variance']}, power {row['power']}; mean ± std over seeds"
    )


def accuracy_vs_compression(results: pl.DataFrame, path: Path, value: str = "accuracy") -> Path:
    frame = results.filter((pl.col("experiment") == "compression") & (pl.col("method") != "clean"))
    budgets = sorted(frame["pilots_per_class"].unique().to_list(), reverse=True)
    fig, axes = plt.subplots(1, len(budgets), figsize=(6 * len(budgets), 4.8), sharey=True, squeeze=False)
    for ax, budget in zip(axes[0], budgets):
        part = frame.filter(pl.col("pilots_per_class") == budget)
        method_lines(ax, part, "compression_factor", value)
        _reference_line(ax, results, part, "compression", value)
        ax.set_xscale("log")
        ax.set_xlabel("compression factor ζ (%)")
        ax.set_title(f"{budget} semantic pilots per class, SNR {frame['snr_db'][0]:g} dB")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(value)
    legend_outside(axes[0][-1], 8)
    return save_figure(fig, _caption(results), path)


def accuracy_vs_snr(results: pl.DataFrame, path: Path, value: str = "accuracy") -> Path:
    frame = results.filter((pl.col("experiment") == "snr") & (pl.col("method") != "clean"))
    fig, ax = plt.subplots(figsize=(7, 4.8))
    method_lines(ax, frame, "snr_db", value)
    _reference_line(ax, results, frame, "snr", value)
    row = frame.row(0, named=True)
    ax.set_xlabel(f"SNR (dB, '{row['snr_convention']}' convention)")
    ax.set_ylabel(value)
    ax.set_title(f"N = {row['n_tx']} antennas (ζ = {row['compression_factor']:.3g} %), {row['pilots_per_class']} pilots per class", fontsize=10)
    ax.grid(True, alpha=0.3)
    legend_outside(ax, 8)
    return save_figure(fig, _caption(results), path)


def accuracy_vs_flops(results: pl.DataFrame, path: Path) -> Path:
    """Accuracy vs inference FLOPs per latent: one linear point and one neural curve (over the
    sparsity weight lam) per antenna count, each the mean over seeds of accuracy and FLOPs."""
    frame = results.filter((pl.col("experiment") == "flops") & (pl.col("method") != "clean"))
    frame = frame.with_columns(pl.col("lam").fill_null(0.0))
    stats = (
        frame.group_by(["method", "n_tx", "lam"])
        .agg(pl.col("flops").mean(), pl.col("accuracy").mean().alias("mean"), pl.col("accuracy").std().fill_null(0.0).alias("std"), pl.col("compression_factor").first(), pl.col("sparsity").mean())
        .sort(["method", "n_tx", "flops"])
    )
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for k, ((method, n), group) in enumerate(stats.group_by(["method", "n_tx"], maintain_order=True)):
        label = f"{method}, N = {n} (ζ ≈ {group['compression_factor'][0]:.3g} %)"
        style = "-" if method == "neural" else ""
        ax.errorbar(group["flops"].to_numpy(), group["mean"].to_numpy(), yerr=group["std"].to_numpy(), fmt=style, marker=MARKERS[k % len(MARKERS)], color=COLOURS.get(method), capsize=3, label=label, alpha=0.5 + 0.5 * (k % 2))
    _clean_line(ax, results, "flops")
    ax.set_xscale("log")
    ax.set_xlabel("inference FLOPs per latent (transmitter + receiver, non-zero weights)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    snr = frame["snr_db"][0]
    ax.set_title(f"neural curves over the sparsity weight lam; SNR {snr:g} dB, {frame['pilots_per_class'][0]} pilots per class", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    legend_outside(ax, 8)
    return save_figure(fig, _caption(results), path)


def draw_mimo_figures(results: pl.DataFrame, figures_dir: str | Path) -> list[Path]:
    """Draw every single-link figure present in ``results`` into ``figures_dir``; returns the paths."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    drawn = []
    experiments = set(results["experiment"].unique().to_list())
    if "compression" in experiments:
        drawn.append(accuracy_vs_compression(results, figures_dir / "accuracy_vs_compression.png"))
        drawn.append(accuracy_vs_compression(results, figures_dir / "mse_vs_compression.png", value="mse"))
    if "snr" in experiments:
        drawn.append(accuracy_vs_snr(results, figures_dir / "accuracy_vs_snr.png"))
        drawn.append(accuracy_vs_snr(results, figures_dir / "mse_vs_snr.png", value="mse"))
    if "flops" in experiments:
        drawn.append(accuracy_vs_flops(results, figures_dir / "accuracy_vs_flops.png"))
    return drawn
