"""The interference-game study, as a named grid of game runs: per-pair accuracy
and MSE of secondary semantic pairs sharing a MIMO channel with primary users.

Experiments:

* ``compression``: vs channel uses per latent (compression factor 100 T N / ceil(d_tx/2) per pair);
* ``cross-gain``: vs the power gain of every cross channel (weak to strong interference);
* ``pu-limit``: vs the primary receivers' interference limit (hierarchical spectrum access), with
  individual budgets, a global budget (prices) and null shaping (limit-free, one point);
* ``convergence``: many channel draws per seed and cross gain, every variant and schedule:
  iterations to converge against the conditions C1, C2 and the local rate.

A :class:`GameGrid` describes the study; :func:`game_runs` expands it into
:class:`~semalign.experiments.runs.game.GameRun` runs, one per setting, method and seed (the seeds of
a setting are designed as one batch of games).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import polars as pl

from semalign._checks import check_choice, check_positive_int
from semalign._vocabulary import PAPER_SEEDS, SCHEDULES
from semalign.experiments.runs.common import canonical_options
from semalign.experiments.runs.game import DIGITS_PAIRS, PU_METHODS, SYNTHETIC_OPTIONS, GameRun, GameSettings
from semalign.methods import method_names

METHODS = method_names("game")
EXPERIMENTS = ("compression", "cross-gain", "pu-limit", "convergence")


@dataclass(frozen=True)
class GameGrid(GameSettings):
    """The study's settings (defaults: three digits-zoo pairs, N = 2 antennas, SNR 20 dB).

    ``latents="synthetic"`` draws one synthetic pair per entry of ``pairs`` instead (the encoder
    names are then ignored; each pair gets its own agents, with ``synthetic_options`` such as
    ``d_tx``, ``d_rx``, ``proximity``). The link conventions and the settings every run shares are
    those of :class:`~semalign.experiments.runs.game.GameSettings`.
    """

    pairs: tuple[tuple[str, str], ...] = DIGITS_PAIRS
    synthetic_options: dict = field(default_factory=lambda: dict(SYNTHETIC_OPTIONS))
    seeds: tuple[int, ...] = PAPER_SEEDS
    methods: tuple[str, ...] = METHODS
    experiments: tuple[str, ...] = EXPERIMENTS
    compression_channel_uses: tuple[int, ...] = (1, 2, 4, 8)
    compression_cross_gain_db: float = -10.0
    cross_gains_db: tuple[float, ...] = (-30.0, -20.0, -10.0, 0.0, 10.0)
    cross_channel_uses: int = 2
    pu_limits_db: tuple[float, ...] = (-20.0, -10.0, 0.0, 10.0)
    pu_protections: tuple[str, ...] = ("individual", "global", "null")
    pu_channel_uses: int = 2
    pu_cross_gain_db: float = -10.0
    convergence_cross_gains_db: tuple[float, ...] = (-30.0, -20.0, -10.0, 0.0)
    convergence_draws: int = 10
    convergence_channel_uses: int = 1
    # Lower than the accuracy studies' SNR so that the sweep crosses the region the conditions certify.
    convergence_snr_db: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for method in self.methods:
            check_choice("method", method, METHODS)
        for experiment in self.experiments:
            check_choice("experiment", experiment, EXPERIMENTS)
        for protection in self.pu_protections:
            check_choice("pu_protections", protection, tuple(PU_METHODS))
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")
        if len(self.pairs) < 2:
            raise ValueError(f"the game needs at least 2 pairs, got {len(self.pairs)}")
        for name in ("cross_channel_uses", "pu_channel_uses", "convergence_draws", "convergence_channel_uses"):
            check_positive_int(name, getattr(self, name))
        for uses in self.compression_channel_uses:
            check_positive_int("compression_channel_uses", uses)


def quick_grid(**overrides) -> GameGrid:
    """A few-minute grid: two seeds, fewer points, every experiment and method."""
    base = GameGrid(
        seeds=(27, 42),
        compression_channel_uses=(1, 2, 4),
        cross_gains_db=(-20.0, -10.0, 0.0),
        pu_limits_db=(-10.0, 0.0),
        convergence_cross_gains_db=(-30.0, -10.0, 0.0),
        convergence_draws=5,
    )
    return replace(base, **overrides)


def full_grid(**overrides) -> GameGrid:
    """The complete grid: six seeds, every point."""
    return replace(GameGrid(), **overrides)


def game_runs(grid: GameGrid) -> list[GameRun]:
    """Every run of the study (each setting and method for every seed)."""
    pairs = None if tuple(map(tuple, grid.pairs)) == DIGITS_PAIRS else ",".join(f"{tx}:{rx}" for tx, rx in grid.pairs)
    synthetic = grid.latents == "synthetic" and grid.synthetic_options != SYNTHETIC_OPTIONS
    shared = {f.name: getattr(grid, f.name) for f in fields(GameSettings)}
    base = GameRun(pairs=pairs, latents_options=canonical_options(grid.synthetic_options) if synthetic else None, **shared)
    settings = []
    if "compression" in grid.experiments:
        settings += [dict(experiment="compression", method=m, channel_uses=t, cross_gain_db=grid.compression_cross_gain_db) for t in grid.compression_channel_uses for m in grid.methods]
    if "cross-gain" in grid.experiments:
        settings += [dict(experiment="cross-gain", method=m, channel_uses=grid.cross_channel_uses, cross_gain_db=a) for a in grid.cross_gains_db for m in grid.methods]
    if "pu-limit" in grid.experiments:
        for protection in grid.pu_protections:
            methods = [m for m in grid.methods if m in PU_METHODS[protection]]
            limits = (None,) if protection == "null" else grid.pu_limits_db
            settings += [
                dict(experiment="pu-limit", method=m, channel_uses=grid.pu_channel_uses, cross_gain_db=grid.pu_cross_gain_db, pu_protection=protection, pu_limit_db=lim)
                for lim in limits
                for m in methods
            ]
    if "convergence" in grid.experiments:
        variants = [m for m in grid.methods if m.startswith("game-")]
        settings += [
            dict(experiment="convergence", method=m, channel_uses=grid.convergence_channel_uses, cross_gain_db=a, schedule=s,
                 snr_db=grid.convergence_snr_db, draws=grid.convergence_draws)
            for a in grid.convergence_cross_gains_db
            for m in variants
            for s in SCHEDULES
        ]  # fmt: skip
    return [replace(base, seed=seed, **setting) for setting in settings for seed in grid.seeds]


def game_summary(results: pl.DataFrame) -> tuple[str, pl.DataFrame]:
    """The table ``semalign reproduce game`` prints: mean accuracy, MSE and the share of converged
    instances per experiment and method."""
    missing = [pl.lit(None, dtype=pl.Float64).alias(c) for c in ("accuracy", "mse") if c not in results.columns]
    table = (
        results.with_columns(*missing)
        .group_by(["experiment", "method"])
        .agg(pl.col("accuracy").mean(), pl.col("mse").mean(), pl.col("converged").cast(pl.Float64).mean(), pl.len().alias("rows"))
        .sort(["experiment", "method"])
    )
    return "Mean over seeds and pairs (convergence: fraction of instances converged)", table
