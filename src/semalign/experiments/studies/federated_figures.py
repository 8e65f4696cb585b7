"""Figures of the federated-downlink study (``semalign reproduce federated``): per-user accuracy and
MSE against the compression factor, the SNR and the share of pilots (per seed the mean over users,
then mean ± std over seeds), homogeneous against heterogeneous user sets, and one panel per user.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl

from semalign.experiments.plotting import COLOURS, legend_outside, save_figure, summarise

_FED_MARKERS = {"federated-admm": "o", "federated-prox": "s", "multi-link": "^", "first-k": "v", "top-k": "D"}
_FED_LABELS = {"multi-link": "multi-link (K links: K·T uses, K·P power)"}
_SET_STYLES = {"homogeneous": ("-", "tab:green"), "heterogeneous": ("--", "tab:red"), "single": (":", "black")}


def _federated_caption(frame: pl.DataFrame, per_user: bool = False) -> str:
    """Caption from the rows a figure shows: data, AP, link conventions and what the bands are."""
    row = frame.row(0, named=True)
    sources = " and ".join(f"{s} (AP {a})" for s, a in frame.select("dataset", "tx_encoder").unique().sort("dataset").rows())
    spread = "mean ± std over seeds" if per_user else "per seed the mean over users, then mean ± std over seeds"
    return (
        f"{sources}\nSNR convention '{row['snr_convention']}', channel variance {row['channel_variance']}, power {row['power']} "
        f"per latent, {row['rounds']} protocol rounds; {spread}"
    )


def _zeta_axis(ax, values) -> None:
    """Log axis with a plain tick at each plotted value (ζ in %, pilots)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log")
    ax.set_xticks(sorted(set(values)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}" if v >= 100 else f"{v:.3g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _save_federated(fig, frame: pl.DataFrame, path: Path, per_user: bool = False) -> Path:
    import textwrap

    width = int(fig.get_figwidth() * 15)  # characters that fit at font size 9
    caption = _federated_caption(frame, per_user)
    wrapped = "\n".join(textwrap.fill(line, width) for line in caption.splitlines())
    return save_figure(fig, wrapped, path, description=caption)


def _user_mean_stats(frame: pl.DataFrame, keys: list[str], x: str, value: str) -> pl.DataFrame:
    """Mean over users per seed, then mean and std over seeds, per ``keys`` and ``x``."""
    per_seed = frame.group_by([*keys, x, "seed"]).agg(pl.col(value).mean())
    return summarise(per_seed, [*keys, x], value)


def _federated_lines(ax, frame: pl.DataFrame, x: str, value: str) -> None:
    stats = _user_mean_stats(frame, ["method"], x, value)
    present = stats["method"].unique().to_list()
    for method in sorted(present, key=lambda m: (list(_FED_MARKERS).index(m) if m in _FED_MARKERS else len(_FED_MARKERS), m)):
        group = stats.filter(pl.col("method") == method).sort(x)
        xs, mean, std = group[x].to_numpy(), group["mean"].to_numpy(), group["std"].to_numpy()
        colour = COLOURS.get(method)
        label = _FED_LABELS.get(method, method)
        if method in ("first-k", "top-k"):
            label += f" ({frame.filter(pl.col('method') == method)['processing'][0]} user map)"
        ax.plot(xs, mean, "-", marker=_FED_MARKERS.get(method, "o"), markersize=4, color=colour, label=label)
        ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.12, linewidth=0)


def _finish(ax, frame: pl.DataFrame, value: str, xlabel: str) -> None:
    if value == "accuracy":
        ax.axhline(frame["clean_accuracy"].mean(), color="black", linestyle="-.", linewidth=0.8, label="clean (no channel)")
        ax.set_ylim(0, 1.02)
    else:
        ax.set_yscale("log")  # methods differ by orders of magnitude at low SNR and strong compression
    ax.set_xlabel(xlabel)
    ax.grid(True, which="both", alpha=0.3)


def _users_title(frame: pl.DataFrame) -> str:
    users = frame["users"][0].split(",")
    return f"{len(users)} users: {', '.join(users)}"


def _panels(frame: pl.DataFrame, by: str, value: str, draw) -> plt.Figure:
    """One panel per value of ``by``, side by side: ``draw(ax, key, rows)`` fills each."""
    keys = sorted(frame[by].unique().to_list())
    fig, axes = plt.subplots(1, len(keys), figsize=(5.4 * len(keys), 4.6), sharey=value == "accuracy", squeeze=False)
    for ax, key in zip(axes[0], keys):
        draw(ax, key, frame.filter(pl.col(by) == key))
    axes[0][0].set_ylabel(value)
    legend_outside(axes[0][-1], 7)
    return fig


def federated_vs_compression(results: pl.DataFrame, path: Path, value: str = "accuracy") -> Path:
    """One panel per antenna count N: ``value`` vs the compression factor, one line per method."""
    frame = results.filter(pl.col("experiment") == "compression")

    def draw(ax, n, sub) -> None:
        _federated_lines(ax, sub, "compression_factor", value)
        _finish(ax, sub, value, "compression factor ζ = 100·T·N_t / ⌈d_AP/2⌉ (%)")
        _zeta_axis(ax, sub["compression_factor"].to_list())
        ax.set_title(f"{n}×{n} antennas, SNR {sub['snr_db'][0]:g} dB\n{_users_title(sub)}", fontsize=9)

    return _save_federated(_panels(frame, "n_tx", value, draw), frame, path)


def federated_vs_snr(results: pl.DataFrame, path: Path, value: str = "accuracy") -> Path:
    """One panel per channel-use count T: ``value`` vs SNR, one line per method."""
    frame = results.filter(pl.col("experiment") == "snr")

    def draw(ax, t, sub) -> None:
        _federated_lines(ax, sub, "snr_db", value)
        _finish(ax, sub, value, f"SNR (dB, '{sub['snr_convention'][0]}' convention)")
        n = sub["n_tx"][0]
        ax.set_title(f"T = {t}, {n}×{n} antennas (ζ = {sub['compression_factor'][0]:.3g} %)\n{_users_title(sub)}", fontsize=9)

    return _save_federated(_panels(frame, "channel_uses", value, draw), frame, path)


def federated_heterogeneity(results: pl.DataFrame, path: Path, value: str = "accuracy") -> Path:
    """One panel per latent source: ``value`` vs compression for homogeneous and heterogeneous user
    sets and every user alone (mean linear CKA between the users of a set in the legend)."""
    frame = results.filter(pl.col("experiment") == "heterogeneity")
    sources = sorted(frame["latents"].unique().to_list())
    fig, axes = plt.subplots(1, len(sources), figsize=(6.0 * len(sources), 4.6), sharey=value == "accuracy", squeeze=False)
    for ax, source in zip(axes[0], sources):
        sub = frame.filter(pl.col("latents") == source)
        stats = _user_mean_stats(sub, ["method", "user_set"], "compression_factor", value)
        for (method, user_set), group in stats.group_by(["method", "user_set"], maintain_order=True):
            group = group.sort("compression_factor")
            style, colour = _SET_STYLES.get(user_set, ("-", None))
            sets = sub.filter((pl.col("user_set") == user_set))
            similarity = sets["set_similarity"].drop_nulls()
            detail = f"; {sets['users'].unique().sort().str.join(' | ')[0]}" if user_set != "single" else " (each user alone)"
            cka = f", CKA {similarity.mean():.2f}" if similarity.len() else ""
            xs, mean, std = group["compression_factor"].to_numpy(), group["mean"].to_numpy(), group["std"].to_numpy()
            ax.plot(xs, mean, style, marker="o", markersize=4, color=colour, label=f"{method}, {user_set}{cka}{detail}")
            ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.1, linewidth=0)
        _finish(ax, sub, value, "compression factor ζ (%)")
        _zeta_axis(ax, sub["compression_factor"].to_list())
        n = sub["n_tx"][0]
        ax.set_title(f"{source} users, {n}×{n} antennas, SNR {sub['snr_db'][0]:g} dB", fontsize=9)
        legend_outside(ax, 6.5, below=True)
    axes[0][0].set_ylabel(value)
    return _save_federated(fig, frame, path)


def federated_vs_pilots(results: pl.DataFrame, path: Path, value: str = "accuracy") -> Path:
    """``value`` vs the number of shared semantic pilots, one line per method."""
    frame = results.filter(pl.col("experiment") == "pilots")
    fig, ax = plt.subplots(figsize=(8, 5.0))
    _federated_lines(ax, frame, "n_pilots", value)
    _finish(ax, frame, value, "semantic pilots (shared training samples)")
    _zeta_axis(ax, frame["n_pilots"].to_list())
    n, t = frame["n_tx"][0], frame["channel_uses"][0]
    ax.set_title(f"{n}×{n} antennas, T = {t} (ζ = {frame['compression_factor'][0]:.3g} %), SNR {frame['snr_db'][0]:g} dB\n{_users_title(frame)}", fontsize=9)
    ax.set_ylabel(value)
    legend_outside(ax, 7)
    return _save_federated(fig, frame, path)


def federated_per_user(results: pl.DataFrame, path: Path) -> Path:
    """Compression experiment at one antenna count: one panel per user, accuracy vs ζ per method."""
    frame = results.filter(pl.col("experiment") == "compression")
    antennas = sorted(frame["n_tx"].unique().to_list())
    n = antennas[len(antennas) // 2]
    frame = frame.filter(pl.col("n_tx") == n)
    users = frame.select("user", "rx_encoder").unique().sort("user").rows()
    cols = min(len(users), 2)
    rows = -(-len(users) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.4 * cols, 3.9 * rows), sharey=True, squeeze=False)
    for ax, (user, name) in zip(axes.flat, users):
        sub = frame.filter(pl.col("user") == user)
        _federated_lines(ax, sub, "compression_factor", "accuracy")
        _finish(ax, sub, "accuracy", "compression factor ζ (%)")
        _zeta_axis(ax, sub["compression_factor"].to_list())
        ax.set_title(f"user {user}: {name} (d = {sub['d_rx'][0]}), {n}×{n} antennas, SNR {sub['snr_db'][0]:g} dB", fontsize=9)
        ax.set_ylabel("accuracy")
    for ax in list(axes.flat)[len(users):]:
        ax.set_visible(False)
    legend_outside(axes[0][-1], 7)
    return _save_federated(fig, frame, path, per_user=True)


def draw_federated_figures(results: pl.DataFrame, figures_dir: str | Path) -> list[Path]:
    """Draw every federated-downlink figure present in ``results`` into ``figures_dir``."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    experiments = set(results["experiment"].unique().to_list())
    drawn = []
    for experiment, draw, name in (
        ("compression", federated_vs_compression, "federated_{}_vs_compression.png"),
        ("snr", federated_vs_snr, "federated_{}_vs_snr.png"),
        ("heterogeneity", federated_heterogeneity, "federated_{}_heterogeneous_vs_homogeneous.png"),
        ("pilots", federated_vs_pilots, "federated_{}_vs_pilots.png"),
    ):
        if experiment in experiments:
            for value in ("accuracy", "mse"):
                drawn.append(draw(results, figures_dir / name.format(value), value))
    if "compression" in experiments:
        drawn.append(federated_per_user(results, figures_dir / "federated_accuracy_per_user.png"))
    return drawn
