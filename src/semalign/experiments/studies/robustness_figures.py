"""Figures of the robustness study (``semalign reproduce robustness``): accuracy and MSE against the
CSI error, the pilot SNR of estimated CSI and the normalised Doppler of outdated CSI, one colour per
method, naive designs dashed and robust ones solid (mean ± std over seeds; the receiver's clean
accuracy dotted, the error of predicting the pilots' mean dashed grey); against the SNR on each
channel model (one line style per model); and, for the federated and game settings, against the
CSI error (the game's third panel: the primary receiver's interference on the true channels
relative to its limit).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl

from semalign.experiments.plotting import COLOURS, legend_outside, save_figure, summarise
from semalign.experiments.studies.robustness import AXES
from semalign.link.channel_models import CHANNEL_MODELS

_LABELS = {
    "csi-error": "CSI error ε (share of the channel's power the estimate misses)",
    "pilot-snr": "pilot SNR of the LMMSE channel estimate (dB)",
    "doppler": "normalised Doppler f_D τ per latent (outdated CSI)",
    "channel-model": "SNR (dB), perfect CSI",
    "federated-csi-error": "CSI error ε of every user's channel estimate",
    "game-csi-error": "CSI error ε of every channel estimate",
}
_MODEL_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))
_MODEL_MARKERS = ("o", "s", "^", "v", "D", "x")


def _caption(rows: pl.DataFrame) -> str:
    row = rows.filter(pl.col("method") != "clean").row(0, named=True)
    if row["setting"] != "single-link":
        antennas = f"{row['n_tx']}×{row['n_rx']} antennas" if row.get("n_tx") else ""
        protection = f", primary receiver protected at {row['pu_limit_db']:g} dB" if row.get("pu_limit_db") is not None else ""
        return (
            f"{row['setting']} on {row['dataset']}: {antennas}, T = {row['channel_uses']}, SNR {row['snr_db']:g} dB ('{row['snr_convention']}'), "
            f"{row['channel_model']} channels{protection}; naive dashed, robust solid; mean ± std over seeds and {'pairs' if row['setting'] == 'game' else 'users'}"
        )
    if row["experiment"] == "channel-model":
        spread = rows["delay_spread_ns"].drop_nulls() if "delay_spread_ns" in rows.columns else []
        band = f", {spread[0]:g} ns over {rows['bandwidth_mhz'].drop_nulls()[0]:g} MHz" if len(spread) else ""
        return (
            f"{row['dataset']}: {row['tx_encoder']} -> {row['rx_encoder']}, {row['n_tx']}×{row['n_rx']}, T = {row['channel_uses']} "
            f"(subcarriers on TDL/CDL{band}), perfect CSI; line style per model; mean ± std over seeds"
        )
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
    if AXES[experiment] == "csi_error":
        exact = labelled.filter(pl.col("csi_error") == 0).with_columns(pl.lit("robust").alias("design"))
        labelled = pl.concat([labelled, exact], how="diagonal_relaxed")
    return labelled


def _lines(frame: pl.DataFrame, experiment: str) -> tuple[str, dict]:
    """The column one line per value of (with the method) and each value's line style and marker:
    the channel model on the channel-model experiment, the design (naive / robust) otherwise."""
    if experiment == "channel-model":
        order = {name: k for k, name in enumerate(CHANNEL_MODELS)}  # rayleigh first, solid
        models = sorted(set(frame["channel_model"].to_list()), key=lambda m: order.get(m, len(order)))
        return "channel_model", {m: (_MODEL_STYLES[k % len(_MODEL_STYLES)], _MODEL_MARKERS[k % len(_MODEL_MARKERS)]) for k, m in enumerate(models)}
    return "design", {"robust": ("-", "o"), "naive": ("--", "x")}


def _pu_panel(ax, frame: pl.DataFrame, x: str, variant: str, styles: dict) -> None:
    """Primary-user interference on the true channels relative to its limit (dB), per method and design."""
    frame = frame.filter(pl.col("pu_interference").is_not_null() & (pl.col("pu_limit") > 0))
    frame = frame.with_columns((10 * (pl.col("pu_interference") / pl.col("pu_limit")).log10()).alias("pu_over_limit_db"))
    _draw(ax, frame, x, "pu_over_limit_db", variant, styles)
    ax.axhline(0.0, color="black", linestyle=":", label="limit")
    ax.set_ylabel("primary-user interference / limit (dB)")


def _draw(ax, frame: pl.DataFrame, x: str, value: str, variant: str, styles: dict) -> None:
    stats = summarise(frame, ["method", variant, x], value)
    for (method, which), group in stats.group_by(["method", variant], maintain_order=True):
        group = group.sort(x)
        xs, mean, std = group[x].to_numpy(), group["mean"].to_numpy(), group["std"].to_numpy()
        colour, (style, marker) = COLOURS.get(method), styles[which]
        ax.plot(xs, mean, linestyle=style, marker=marker, color=colour, label=f"{method} ({which})")
        ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.1, linewidth=0)


def robustness_figure(results: pl.DataFrame, experiment: str, path: Path) -> Path:
    """Accuracy and MSE (and, for the game, primary-user interference) against the experiment's swept setting."""
    x = AXES[experiment]
    rows = results.filter(pl.col("experiment") == experiment)
    frame = _design_rows(rows.filter(pl.col("method") != "clean"), experiment)
    variant, styles = _lines(frame, experiment)
    panels = ("accuracy", "mse", "pu") if experiment == "game-csi-error" else ("accuracy", "mse")
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.6))
    for ax, value in zip(axes, panels):
        if value == "pu":
            _pu_panel(ax, frame, x, variant, styles)
            ax.set_xlabel(_LABELS[experiment])
            ax.grid(True, alpha=0.3)
            continue
        _draw(ax, frame, x, value, variant, styles)
        if value == "accuracy":
            clean = rows.filter(pl.col("method") == "clean")
            if clean.height:
                ax.axhline(clean["accuracy"].mean(), color="black", linestyle=":", label="clean (no channel)")
            ax.set_ylim(0, 1.02)
        else:
            floor = frame["mean_predictor_mse"].mean() if "mean_predictor_mse" in frame.columns else None
            if floor is not None:  # the multi-user settings' rows do not record it
                ax.axhline(floor, color="grey", linestyle="--", label="predict the mean (no link)")
            ax.set_yscale("log")
        ax.set_xlabel(_LABELS[experiment])
        ax.set_ylabel(value)
        ax.grid(True, which="both", alpha=0.3)
    legend_outside(axes[-1], 7)
    return save_figure(fig, _caption(rows), path)


#: The file each experiment's figure is drawn into.
FIGURE_NAMES = {
    "csi-error": "robustness_vs_csi_error.png", "pilot-snr": "robustness_vs_pilot_snr.png", "doppler": "robustness_vs_doppler.png",
    "channel-model": "robustness_channel_models_vs_snr.png", "federated-csi-error": "robustness_federated_vs_csi_error.png",
    "game-csi-error": "robustness_game_vs_csi_error.png",
}  # fmt: skip


def draw_robustness_figures(results: pl.DataFrame, figures_dir: str | Path) -> list[Path]:
    """Draw every robustness figure present in ``results`` into ``figures_dir``."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    present = set(results["experiment"].unique().to_list())
    return [
        robustness_figure(results, experiment, figures_dir / FIGURE_NAMES[experiment])
        for experiment in AXES
        if experiment in present and results.filter((pl.col("experiment") == experiment) & (pl.col("method") != "clean")).height
    ]
