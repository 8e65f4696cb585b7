"""Figures drawn from stored result rows (never from live objects, so they can be redrawn).

One line per method and awareness, the mean over seeds with a band of +-1 standard deviation; the
no-channel ``clean`` accuracy is the dashed ceiling.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

_COLOURS = {"linear-admm": "tab:blue", "neural": "tab:purple", "eigen-k": "tab:green", "top-k": "tab:orange", "first-k": "tab:red"}
_STYLES = {"aware": "-", "unaware": "--"}
_MARKERS = ["o", "s", "^", "D", "v", "P"]


def summarise(results: pl.DataFrame, by: list[str], value: str = "accuracy") -> pl.DataFrame:
    """Mean, standard deviation and count of ``value`` over seeds for each group ``by``."""
    return (
        results.group_by(by)
        .agg(pl.col(value).mean().alias("mean"), pl.col(value).std().fill_null(0.0).alias("std"), pl.len().alias("seeds"))
        .sort(by)
    )


def _lines(ax, frame: pl.DataFrame, x: str, value: str, marker: str = "o", label_suffix: str = "") -> None:
    stats = summarise(frame, ["method", "awareness", x], value)
    for (method, awareness), group in stats.group_by(["method", "awareness"], maintain_order=True):
        group = group.sort(x)
        xs, mean, std = group[x].to_numpy(), group["mean"].to_numpy(), group["std"].to_numpy()
        colour = _COLOURS.get(method, None)
        ax.plot(xs, mean, _STYLES.get(awareness, "-"), marker=marker, color=colour, label=f"{method} ({awareness}){label_suffix}")
        ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.15, linewidth=0)


def _clean_line(ax, results: pl.DataFrame, experiment: str) -> None:
    clean = results.filter((pl.col("method") == "clean") & (pl.col("experiment") == experiment))
    if clean.height:
        ax.axhline(clean["accuracy"].mean(), color="black", linestyle=":", label="clean (no channel)")


def _caption(results: pl.DataFrame) -> str:
    row = results.filter(pl.col("method") != "clean").row(0, named=True)
    return (
        f"{row['dataset']}: {row['tx_encoder']} -> {row['rx_encoder']}\nSNR convention '{row['snr_convention']}', "
        f"channel variance {row['channel_variance']}, power {row['power']}; mean ± std over seeds"
    )


def _save(fig, results: pl.DataFrame, path: Path) -> Path:
    """Caption every figure the same way, write it to ``path`` and free it."""
    fig.suptitle(_caption(results), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def accuracy_vs_compression(results: pl.DataFrame, path: Path, value: str = "accuracy") -> Path:
    frame = results.filter((pl.col("experiment") == "compression") & (pl.col("method") != "clean"))
    budgets = sorted(frame["pilots_per_class"].unique().to_list(), reverse=True)
    fig, axes = plt.subplots(1, len(budgets), figsize=(6 * len(budgets), 4.8), sharey=True, squeeze=False)
    for ax, budget in zip(axes[0], budgets):
        _lines(ax, frame.filter(pl.col("pilots_per_class") == budget), "compression_factor", value)
        if value == "accuracy":
            _clean_line(ax, results, "compression")
        ax.set_xscale("log")
        ax.set_xlabel("compression factor ζ (%)")
        ax.set_title(f"{budget} semantic pilots per class, SNR {frame['snr_db'][0]:g} dB")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(value)
    axes[0][-1].legend(fontsize=8, loc="best")
    return _save(fig, results, path)


def accuracy_vs_snr(results: pl.DataFrame, path: Path, value: str = "accuracy") -> Path:
    frame = results.filter((pl.col("experiment") == "snr") & (pl.col("method") != "clean"))
    fig, ax = plt.subplots(figsize=(7, 4.8))
    _lines(ax, frame, "snr_db", value)
    if value == "accuracy":
        _clean_line(ax, results, "snr")
    row = frame.row(0, named=True)
    ax.set_xlabel(f"SNR (dB, '{row['snr_convention']}' convention)")
    ax.set_ylabel(value)
    ax.set_title(f"N = {row['n_tx']} antennas (ζ = {row['compression_factor']:.3g} %), {row['pilots_per_class']} pilots per class", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, results, path)


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
        ax.errorbar(group["flops"].to_numpy(), group["mean"].to_numpy(), yerr=group["std"].to_numpy(), fmt=style, marker=_MARKERS[k % len(_MARKERS)], color=_COLOURS.get(method), capsize=3, label=label, alpha=0.5 + 0.5 * (k % 2))
    _clean_line(ax, results, "flops")
    ax.set_xscale("log")
    ax.set_xlabel("inference FLOPs per latent (transmitter + receiver, non-zero weights)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    snr = frame["snr_db"][0]
    ax.set_title(f"neural curves over the sparsity weight lam; SNR {snr:g} dB, {frame['pilots_per_class'][0]} pilots per class", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, results, path)


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


# ---- the interference game --------------------------------------------------------------------

_GAME_COLOURS = {
    "game-fixed-eigenmode": "tab:blue",
    "game-full-mimo": "tab:purple",
    "ignore-interference": "tab:red",
    "centralized": "tab:green",
    "orthogonal": "tab:orange",
}
_PROTECTION_STYLES = {"individual": "-", "global": "--", "null": ":", "none": "-"}


def _game_caption(results: pl.DataFrame) -> str:
    row = results.filter(pl.col("experiment") != "convergence").row(0, named=True) if results.filter(pl.col("experiment") != "convergence").height else results.row(0, named=True)
    return (
        f"{row['dataset']}: {row['n_pairs']} secondary pairs, N = {row['n_tx']} antennas, SNR {row['snr_db']:g} dB "
        f"('{row['snr_convention']}' convention), channel variance {row['channel_variance']}, power {row['power']}; mean ± std over seeds"
    )


def _save_game(fig, results: pl.DataFrame, path: Path) -> Path:
    fig.suptitle(_game_caption(results), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


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
            colour = _GAME_COLOURS.get(method)
            label = method + (f" ({protection})" if by_protection else "")
            ax.plot(xs, mean, _PROTECTION_STYLES.get(protection, "-"), marker="o", color=colour, label=label)
            ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.12, linewidth=0)
        # Settings without an x value (null shaping has no limit) are horizontal reference lines.
        for method, group in sub.filter(pl.col(x).is_null()).group_by("method", maintain_order=True):
            ax.axhline(group[value].mean(), color=_GAME_COLOURS.get(method[0]), linestyle=":", label=f"{method[0]} (null shaping)")
        if value == "accuracy":
            ax.axhline(sub["clean_accuracy"].mean(), color="black", linestyle="-.", linewidth=0.8, label="clean (no channel)")
            ax.set_ylim(0, 1.02)
        ax.set_xlabel(xlabel)
        ax.set_title(_pair_label(frame, pair), fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(value)
    axes[0][-1].legend(fontsize=7, loc="best")
    return _save_game(fig, results, path)


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
            colour = _GAME_COLOURS.get(method)
            ax.scatter(ok[bound].to_numpy(), ok["iterations"].to_numpy(), s=14, marker=markers.get(schedule, "o"), color=colour, alpha=0.6, label=f"{method}, {schedule}")
            if bad.height:
                ax.scatter(bad[bound].to_numpy(), bad["iterations"].to_numpy(), s=30, marker="x", color=colour, label=f"{method}, {schedule}: not converged")
        ax.axvline(1.0, color="black", linestyle="--", linewidth=0.8)
        ax.set_title(f"{frame['draw'].n_unique()} channel draws x {frame['seed'].n_unique()} seeds per cross gain; SNR {frame['snr_db'][0]:g} dB", fontsize=10)
        ax.set_xscale("log")
        ax.set_xlabel({"c1": "C1: ρ(Γ) (certified < 1)", "c2": "C2: log-level factor c (certified < 1)"}[bound])
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("updates to converge")
    axes[1].legend(fontsize=7, loc="best")
    return _save_game(fig, results, path)


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
