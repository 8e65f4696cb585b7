"""Figures of the interference-game study (``semalign reproduce game``): per-pair accuracy and MSE
against the compression factor, the cross-channel gain and the primary users' limit (one panel per
pair, one line per method), and updates to converge against the conditions C1 and C2.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl

from semalign.experiments.plotting import COLOURS, legend_outside, save_figure, summarise


_PROTECTION_STYLES = {"individual": "-", "global": "--", "null": ":", "none": "-"}


def _game_caption(rows: pl.DataFrame) -> str:
    """The settings of a figure's own rows (the convergence study runs at its own SNR)."""
    row = rows.row(0, named=True)
    snrs = sorted(rows["snr_db"].unique().to_list())
    snr = f"SNR {snrs[0]:g} dB" if len(snrs) == 1 else f"SNR {', '.join(f'{s:g}' for s in snrs)} dB"
    return (
        f"{row['dataset']}: {row['n_pairs']} secondary pairs, N = {row['n_tx']} antennas, {snr} "
        f"('{row['snr_convention']}' convention), channel variance {row['channel_variance']}, power {row['power']}; mean ± std over seeds"
    )


def _save_game(fig, results: pl.DataFrame, path: Path) -> Path:
    return save_figure(fig, _game_caption(results), path)


def _pair_label(frame: pl.DataFrame, pair: int) -> str:
    row = frame.filter(pl.col("pair") == pair).row(0, named=True)
    return f"pair {pair}: {row['tx_encoder']} -> {row['rx_encoder']}"


def _game_panels(results: pl.DataFrame, experiment: str, x: str, xlabel: str, path: Path, value: str = "accuracy", by_protection: bool = False) -> Path:
    """One panel per pair: mean ± std over seeds of ``value`` against ``x``, one line per method."""
    frame = results.filter(pl.col("experiment") == experiment)
    pairs = sorted(frame["pair"].unique().to_list())
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.4), sharey=value == "accuracy", squeeze=False)
    keys = ["method", "pu_protection"] if by_protection else ["method"]
    for ax, pair in zip(axes[0], pairs):
        sub = frame.filter(pl.col("pair") == pair)
        points = sub.filter(pl.col(x).is_not_null())
        stats = summarise(points, [*keys, x], value) if points.height else points
        for group_key, group in stats.group_by(keys, maintain_order=True):
            method = group_key[0]
            protection = group_key[1] if by_protection else "none"
            group = group.sort(x)
            xs, mean, std = group[x].to_numpy(), group["mean"].to_numpy(), group["std"].to_numpy()
            colour = COLOURS.get(method)
            label = method + (f" ({protection})" if by_protection else "")
            ax.plot(xs, mean, _PROTECTION_STYLES.get(protection, "-"), marker="o", color=colour, label=label)
            ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.12, linewidth=0)
        # Settings without an x value (null shaping has no limit) are horizontal reference lines.
        for method, group in sub.filter(pl.col(x).is_null()).group_by("method", maintain_order=True):
            ax.axhline(group[value].mean(), color=COLOURS.get(method[0]), linestyle=":", label=f"{method[0]} (null shaping)")
        if value == "accuracy":
            ax.axhline(sub["clean_accuracy"].mean(), color="black", linestyle="-.", linewidth=0.8, label="clean (no channel)")
            ax.set_ylim(0, 1.02)
        else:
            ax.set_yscale("log")  # the designs differ by orders of magnitude across the grid
        ax.set_xlabel(xlabel)
        ax.set_title(_pair_label(frame, pair), fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(value)
    legend_outside(axes[0][-1], 7)
    return _save_game(fig, frame, path)


def game_convergence(results: pl.DataFrame, path: Path) -> Path:
    """Iterations to converge against the contraction bounds C1 and C2, per variant and schedule;
    crosses mark instances that did not converge within the cap."""
    frame = results.filter(pl.col("experiment") == "convergence")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    markers = {"jacobi": "o", "gauss-seidel": "s", "async": "^"}
    for ax, bound in zip(axes, ("c1", "c2")):
        for (method, schedule), group in frame.group_by(["method", "schedule"], maintain_order=True):
            ok = group.filter(pl.col("converged"))
            bad = group.filter(~pl.col("converged"))
            colour = COLOURS.get(method)
            ax.scatter(ok[bound].to_numpy(), ok["iterations"].to_numpy(), s=14, marker=markers.get(schedule, "o"), color=colour, alpha=0.6, label=f"{method}, {schedule}")
            if bad.height:
                ax.scatter(bad[bound].to_numpy(), bad["iterations"].to_numpy(), s=30, marker="x", color=colour, label=f"{method}, {schedule}: not converged")
        ax.axvline(1.0, color="black", linestyle="--", linewidth=0.8)
        ax.set_title(f"{frame['draw'].n_unique()} channel draws x {frame['seed'].n_unique()} seeds per cross gain; SNR {frame['snr_db'][0]:g} dB", fontsize=10)
        ax.set_xscale("log")
        ax.set_xlabel({"c1": "C1: ρ(Γ) (certified < 1)", "c2": "C2: log-level factor c (certified < 1)"}[bound])
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("updates to converge")
    legend_outside(axes[1], 7)
    return _save_game(fig, frame, path)


def draw_game_figures(results: pl.DataFrame, figures_dir: str | Path) -> list[Path]:
    """Draw every interference-game figure present in ``results`` into ``figures_dir``."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    experiments = set(results["experiment"].unique().to_list())
    drawn = []
    if "compression" in experiments:
        for value in ("accuracy", "mse"):
            drawn.append(_game_panels(results, "compression", "compression_factor", "compression factor ζ (%)", figures_dir / f"game_{value}_vs_compression.png", value))
    if "cross-gain" in experiments:
        for value in ("accuracy", "mse"):
            drawn.append(_game_panels(results, "cross-gain", "cross_gain_db", "cross-channel gain α (dB)", figures_dir / f"game_{value}_vs_cross_gain.png", value))
    if "pu-limit" in experiments:
        drawn.append(_game_panels(results, "pu-limit", "pu_limit_db", "primary-user interference limit (dB above its noise)", figures_dir / "game_accuracy_vs_pu_limit.png", "accuracy", by_protection=True))
    if "convergence" in experiments:
        drawn.append(game_convergence(results, figures_dir / "game_convergence.png"))
    return drawn
