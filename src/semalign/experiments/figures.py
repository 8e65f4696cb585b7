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
        colour = _COLOURS.get(method) or _GAME_COLOURS.get(method)
        name = f"{method} ({awareness})" if awareness else method
        ax.plot(xs, mean, _STYLES.get(awareness, "-"), marker=marker, color=colour, label=f"{name}{label_suffix}")
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


def _save(fig, caption: str, path: Path, description: str | None = None) -> Path:
    """Caption a figure, write it to ``path`` and free it (every study's figures go through here).

    The caption is drawn as the figure's title and also stored as the PNG's ``Description`` text
    chunk (``description`` if given: the caption before it was wrapped to the figure's width; read
    back by :func:`png_caption`), so a report can show it as text beside the image.
    """
    fig.suptitle(caption, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Description": caption if description is None else description})
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
    return _save(fig, _caption(results), path)


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
    return _save(fig, _caption(results), path)


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
    return _save(fig, _caption(results), path)


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
    return _save(fig, _game_caption(results), path)


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


# ---- the federated multi-user downlink ----------------------------------------------------------

_FED_COLOURS = {
    "federated-admm": "tab:blue",
    "federated-prox": "tab:cyan",
    "multi-link": "tab:purple",
    "first-k": "tab:red",
    "top-k": "tab:orange",
}
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
    return _save(fig, wrapped, path, description=caption)


def _user_mean_stats(frame: pl.DataFrame, keys: list[str], x: str, value: str) -> pl.DataFrame:
    """Mean over users per seed, then mean and std over seeds, per ``keys`` and ``x``."""
    per_seed = frame.group_by([*keys, x, "seed"]).agg(pl.col(value).mean())
    return summarise(per_seed, [*keys, x], value)


def _federated_lines(ax, frame: pl.DataFrame, x: str, value: str) -> None:
    stats = _user_mean_stats(frame, ["method"], x, value)
    for method in [m for m in _FED_COLOURS if m in stats["method"].to_list()]:
        group = stats.filter(pl.col("method") == method).sort(x)
        xs, mean, std = group[x].to_numpy(), group["mean"].to_numpy(), group["std"].to_numpy()
        colour = _FED_COLOURS[method]
        label = _FED_LABELS.get(method, method)
        if method in ("first-k", "top-k"):
            label += f" ({frame.filter(pl.col('method') == method)['processing'][0]} user map)"
        ax.plot(xs, mean, "-", marker=_FED_MARKERS[method], markersize=4, color=colour, label=label)
        ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.12, linewidth=0)


def _finish(ax, frame: pl.DataFrame, value: str, xlabel: str) -> None:
    if value == "accuracy":
        ax.axhline(frame["clean_accuracy"].mean(), color="black", linestyle="-.", linewidth=0.8, label="clean (no channel)")
        ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.grid(True, which="both", alpha=0.3)


def _users_title(frame: pl.DataFrame) -> str:
    users = frame["users"][0].split(",")
    return f"{len(users)} users: {', '.join(users)}"


def federated_vs_compression(results: pl.DataFrame, path: Path, value: str = "accuracy") -> Path:
    """One panel per antenna count N: ``value`` vs the compression factor, one line per method."""
    frame = results.filter(pl.col("experiment") == "compression")
    antennas = sorted(frame["n_tx"].unique().to_list())
    fig, axes = plt.subplots(1, len(antennas), figsize=(5.4 * len(antennas), 4.6), sharey=value == "accuracy", squeeze=False)
    for ax, n in zip(axes[0], antennas):
        sub = frame.filter(pl.col("n_tx") == n)
        _federated_lines(ax, sub, "compression_factor", value)
        _finish(ax, sub, value, "compression factor ζ = 100·T·N_t / ⌈d_AP/2⌉ (%)")
        _zeta_axis(ax, sub["compression_factor"].to_list())
        ax.set_title(f"{n}×{n} antennas, SNR {sub['snr_db'][0]:g} dB\n{_users_title(sub)}", fontsize=9)
    axes[0][0].set_ylabel(value)
    axes[0][-1].legend(fontsize=7, loc="best")
    return _save_federated(fig, frame, path)


def federated_vs_snr(results: pl.DataFrame, path: Path, value: str = "accuracy") -> Path:
    """One panel per channel-use count T: ``value`` vs SNR, one line per method."""
    frame = results.filter(pl.col("experiment") == "snr")
    uses = sorted(frame["channel_uses"].unique().to_list())
    fig, axes = plt.subplots(1, len(uses), figsize=(5.4 * len(uses), 4.6), sharey=value == "accuracy", squeeze=False)
    for ax, t in zip(axes[0], uses):
        sub = frame.filter(pl.col("channel_uses") == t)
        _federated_lines(ax, sub, "snr_db", value)
        _finish(ax, sub, value, f"SNR (dB, '{sub['snr_convention'][0]}' convention)")
        n = sub["n_tx"][0]
        ax.set_title(f"T = {t}, {n}×{n} antennas (ζ = {sub['compression_factor'][0]:.3g} %)\n{_users_title(sub)}", fontsize=9)
    axes[0][0].set_ylabel(value)
    axes[0][-1].legend(fontsize=7, loc="best")
    return _save_federated(fig, frame, path)


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
        ax.legend(fontsize=6.5, loc="lower right" if value == "accuracy" else "upper right")
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
    ax.legend(fontsize=7, loc="best")
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
    axes.flat[0].legend(fontsize=7, loc="lower right")
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


# ---- sweeps (``semalign run``) ----------------------------------------------------------------


def sweep_axes(results: pl.DataFrame, swept: list[str] | None = None) -> list[str]:
    """The numeric swept settings worth a figure: ``swept`` (from ``sweep.json``) when given, else
    the numeric run-setting columns with more than one value; never the seed (averaged over)."""
    from dataclasses import fields

    from semalign.experiments.federated_runs import FederatedRun
    from semalign.experiments.game_runs import GameRun
    from semalign.experiments.link_runs import LinkRun

    candidates = swept if swept is not None else list(dict.fromkeys(f.name for run in (LinkRun, GameRun, FederatedRun) for f in fields(run)))
    axes = []
    for name in candidates:
        if name == "seed" or name not in results.columns or not results[name].dtype.is_numeric():
            continue
        if results.filter(pl.col("method") != "clean")[name].drop_nulls().n_unique() > 1:
            axes.append(name)
    return axes


def sweep_figure(results: pl.DataFrame, x: str, path: Path, swept: list[str] | None = None) -> Path:
    """Accuracy and MSE vs one swept setting ``x``: one line per method and awareness, the mean
    ± std over seeds; when exactly one other numeric setting is swept (at most 6 values), one line
    per value of it (markers), else the mean over the other settings too. The clean ceiling dotted."""
    if "awareness" not in results.columns:  # game and federated runs: one line per method
        results = results.with_columns(pl.lit("").alias("awareness"))
    frame = results.filter(pl.col("method") != "clean").drop_nulls(x)
    others = [c for c in sweep_axes(results, swept) if c != x]
    split = others[0] if len(others) == 1 and frame[others[0]].n_unique() <= len(_MARKERS) else None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    categories = swept_categories(results, swept)
    variants = frame.select(categories).unique(maintain_order=True).rows(named=True) if categories else [{}]
    for ax, value in zip(axes, ("accuracy", "mse")):
        for variant in variants:
            subset = frame.filter(*(pl.col(k).is_null() if v is None else pl.col(k) == v for k, v in variant.items())) if variant else frame
            named = "".join(f", {k} = {v}" for k, v in variant.items())
            if split is None:
                _lines(ax, subset, x, value, label_suffix=named)
            else:
                for k, level in enumerate(sorted(subset[split].unique().to_list())):
                    _lines(ax, subset.filter(pl.col(split) == level), x, value, marker=_MARKERS[k], label_suffix=f"{named}, {split} = {level:g}")
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
    axes[0].legend(fontsize=7, loc="best")
    averaged = [c for c in others if c != split] + [u for u, c in (("pairs", "pair"), ("users", "user")) if c in results.columns]
    spread = "; mean ± std over seeds" + (f" and {', '.join(averaged)}" if averaged else "")
    def shown(column: str) -> str:  # one value, or the values in the legend
        values = frame[column].unique(maintain_order=True).to_list()
        return str(values[0]) if len(values) == 1 else "see legend"

    setting = shown("dataset") if "pair" in frame.columns or "user" in frame.columns else f"{shown('dataset')}: {shown('tx_encoder')} -> {shown('rx_encoder')}"
    caption = f"{setting}\nSNR convention '{shown('snr_convention')}', channel variance {shown('channel_variance')}, power {shown('power')}{spread}"
    return _save(fig, caption, path)


def draw_sweep_figures(results: pl.DataFrame, figures_dir: str | Path, swept: list[str] | None = None) -> list[Path]:
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


#: Row columns of run settings whose names differ from the setting's (``tx=...`` -> ``tx_encoder``).
SETTING_COLUMNS = {"tx": "tx_encoder", "rx": "rx_encoder"}


def swept_categories(results: pl.DataFrame, swept: list[str] | None) -> list[str]:
    """Non-numeric swept settings other than the method and awareness (e.g. ``tx``,
    ``snr_convention``), as row columns: figures draw one line per value, tables group by them."""
    names = [SETTING_COLUMNS.get(n, n) for n in (swept or [])]
    return [c for c in names if c in results.columns and c not in ("method", "awareness") and not results[c].dtype.is_numeric()]


# ---- one dispatch for every study ---------------------------------------------------------------

STUDIES = {
    "mimo": "single-link MIMO study",
    "game": "interference-game study",
    "federated": "federated multi-user downlink study",
    "sweep": "sweep (semalign run)",
}


def study_of(results: pl.DataFrame) -> str:
    """Which study ``results`` come from, by their columns: ``"sweep"`` (rows have ``run_id``),
    ``"federated"`` (``n_users``), ``"game"`` (``n_pairs``) or else ``"mimo"``; a key of :data:`STUDIES`."""
    if "run_id" in results.columns:
        return "sweep"
    if "n_users" in results.columns:
        return "federated"
    if "n_pairs" in results.columns:
        return "game"
    return "mimo"


def draw_figures(results: pl.DataFrame, figures_dir: str | Path) -> list[Path]:
    """Draw every figure of ``results``' study (see :func:`study_of`) into ``figures_dir``; returns the
    paths. A sweep's swept settings are read from ``sweep.json`` beside ``figures_dir`` if present."""
    study = study_of(results)
    if study == "sweep":
        import json

        manifest = Path(figures_dir).parent / "sweep.json"
        swept = list(json.loads(manifest.read_text())["swept"]) if manifest.exists() else None
        return draw_sweep_figures(results, figures_dir, swept)
    draw = {"federated": draw_federated_figures, "game": draw_game_figures, "mimo": draw_mimo_figures}[study]
    return draw(results, figures_dir)


def png_caption(path: str | Path) -> str | None:
    """The ``Description`` text stored in a PNG by :func:`_save` (``None`` if the file has none, for
    example figures drawn before captions were stored)."""
    from PIL import Image, UnidentifiedImageError  # Pillow: a dependency of Matplotlib

    try:
        with Image.open(path) as image:
            return image.text.get("Description") if image.format == "PNG" else None
    except UnidentifiedImageError:  # not an image at all
        return None
