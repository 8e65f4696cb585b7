"""The federated multi-user downlink study, as a named grid of federated
runs: per-user accuracy and MSE of an access point (AP) serving several users, each with its own
encoder and MIMO channel.

Experiments:

* ``compression``: vs the compression factor ζ = 100 T N_t / ceil(d_AP/2) % (channel uses x
  antennas), N = N_t = N_r antennas in ``compression_antennas``, T in ``compression_channel_uses``;
* ``snr``: vs SNR at ``snr_antennas`` antennas, for each T in ``snr_channel_uses``;
* ``heterogeneity``: homogeneous user sets (users whose encoders resemble each other) against
  heterogeneous ones (users that differ), from the digits zoo and from synthetic agents, plus every
  user served alone (``user_set="single"``, the cost-free reference), vs ζ;
* ``pilots``: vs the fraction of the training set used as (shared) semantic pilots.

Methods: ``federated-admm`` (one shared pre-equaliser, exact consensus ADMM), ``federated-prox``
(the published proximal average), ``multi-link`` (one precoder per user: K links, K·P power, K·T
channel uses per latent), and the privacy-preserving baselines ``first-k`` / ``top-k`` (users learn
from the received pilot features, never from the AP's latents). The user pools are described in
:mod:`semalign.experiments.runs.federated`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import polars as pl

from semalign._checks import check_choice, check_positive_int
from semalign._vocabulary import PAPER_SEEDS
from semalign.experiments.runs.common import canonical_options
from semalign.experiments.runs.federated import (
    DIGITS_AP,
    DIGITS_HETEROGENEOUS,
    DIGITS_HOMOGENEOUS,
    DIGITS_USERS,
    SOURCES,
    SYNTHETIC_HETEROGENEOUS,
    SYNTHETIC_HOMOGENEOUS,
    SYNTHETIC_OPTIONS,
    SYNTHETIC_USERS,
    FederatedRun,
    ProtocolSettings,
    format_sets,
    pool_of,
)
from semalign.latents import DIGITS_ENCODERS
from semalign.link.packing import complex_dim
from semalign.methods import method_names

EXPERIMENTS = ("compression", "snr", "heterogeneity", "pilots")
METHODS = method_names("federated")
#: The kinds of user sets the heterogeneity experiment compares.
SET_KINDS = ("homogeneous", "heterogeneous", "single")


@dataclass(frozen=True)
class FederatedGrid(ProtocolSettings):
    """The study's settings (defaults: digits zoo, AP ``mlp32-tanh``, four users, SNR 20 dB).

    ``latents`` picks the users of the ``compression``, ``snr`` and ``pilots`` experiments (the digits
    zoo ``users``, synthetic agents, or cached ``timm`` encoders on ``dataset``);
    ``heterogeneity_sources`` the sources of the ``heterogeneity`` experiment.
    ``baseline_processing`` is the First-K / Top-K users' semantic map (``"strictly-linear"``: the
    class of the federated equalisers; ``"widely-linear"``: the stronger real map).
    ``processing`` is the federated protocol's class of maps (``"strictly-linear"``, published;
    ``"widely-linear"``, real maps on the real composite channel).
    """

    latents: str = "digits"
    dataset: str = "cifar10"
    ap_encoder: str = DIGITS_AP
    users: tuple[str, ...] = DIGITS_USERS
    homogeneous_sets: tuple[tuple[str, ...], ...] = DIGITS_HOMOGENEOUS
    heterogeneous_sets: tuple[tuple[str, ...], ...] = DIGITS_HETEROGENEOUS
    synthetic_options: dict = field(default_factory=lambda: dict(SYNTHETIC_OPTIONS))
    synthetic_users: tuple[tuple[str, float, int], ...] = SYNTHETIC_USERS
    synthetic_homogeneous_sets: tuple[tuple[str, ...], ...] = SYNTHETIC_HOMOGENEOUS
    synthetic_heterogeneous_sets: tuple[tuple[str, ...], ...] = SYNTHETIC_HETEROGENEOUS
    seeds: tuple[int, ...] = PAPER_SEEDS
    methods: tuple[str, ...] = METHODS
    experiments: tuple[str, ...] = EXPERIMENTS
    compression_antennas: tuple[int, ...] = (1, 2, 4)
    compression_channel_uses: tuple[int, ...] = (1, 2, 4, 8, 16)
    snr_values: tuple[float, ...] = (-20.0, -10.0, 0.0, 10.0, 20.0, 30.0)
    snr_antennas: int = 2
    snr_channel_uses: tuple[int, ...] = (1, 4)
    heterogeneity_sources: tuple[str, ...] = ("digits", "synthetic")
    heterogeneity_methods: tuple[str, ...] = ("federated-admm",)
    heterogeneity_antennas: int = 2
    heterogeneity_channel_uses: tuple[int, ...] = (1, 2, 4, 8)
    pilot_fractions: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
    pilots_antennas: int = 2
    pilots_channel_uses: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("latents", self.latents, SOURCES)
        for method in (*self.methods, *self.heterogeneity_methods):
            check_choice("method", method, METHODS)
        for experiment in self.experiments:
            check_choice("experiment", experiment, EXPERIMENTS)
        for source in self.heterogeneity_sources:
            check_choice("heterogeneity_sources", source, SOURCES)
        encoder_sources = {self.latents, *self.heterogeneity_sources} & {"digits", "timm"}
        if len(encoder_sources) > 1:
            raise ValueError("ap_encoder and users name either digits-zoo encoders or timm models, not both: "
                             f"latents={self.latents!r} with heterogeneity_sources={self.heterogeneity_sources!r}")  # fmt: skip
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")
        if "timm" not in encoder_sources:
            check_choice("ap_encoder", self.ap_encoder, DIGITS_ENCODERS)
            for user in self.users:
                check_choice("users", user, DIGITS_ENCODERS)
        names = [u[0] for u in self.synthetic_users]
        for sets, known, what in (
            (self.homogeneous_sets + self.heterogeneous_sets, self.users, "users"),
            (self.synthetic_homogeneous_sets + self.synthetic_heterogeneous_sets, names, "synthetic_users"),
        ):
            for group in sets:
                for user in group:
                    if user not in known:
                        raise ValueError(f"user set {group!r} names {user!r}, which is not one of {what} {tuple(known)!r}")
        if not self.users or not self.synthetic_users:
            raise ValueError("users and synthetic_users must each list at least one user")
        for name in ("snr_antennas", "heterogeneity_antennas", "pilots_antennas", "pilots_channel_uses"):
            check_positive_int(name, getattr(self, name))
        for name in ("compression_antennas", "compression_channel_uses", "snr_channel_uses", "heterogeneity_channel_uses"):
            for value in getattr(self, name):
                check_positive_int(name, value)
        for fraction in self.pilot_fractions:
            if not 0.0 < float(fraction) <= 1.0:
                raise ValueError(f"pilot_fractions must be in (0, 1], got {fraction!r}")


def quick_grid(**overrides) -> FederatedGrid:
    """A few-minute grid: two seeds, fewer points, every experiment and method."""
    base = FederatedGrid(
        seeds=(27, 42),
        compression_antennas=(1, 2),
        compression_channel_uses=(1, 2, 4, 8),
        snr_values=(-10.0, 0.0, 10.0, 20.0, 30.0),
        heterogeneity_channel_uses=(1, 2, 4),
        pilot_fractions=(0.02, 0.1, 0.3, 1.0),
    )
    return replace(base, **overrides)


def full_grid(**overrides) -> FederatedGrid:
    """The complete grid: six seeds, every point."""
    return replace(FederatedGrid(), **overrides)


def _base_run(grid: FederatedGrid, source: str) -> FederatedRun:
    """The run settings a source's runs share (its pool, link conventions and protocol)."""
    encoders = {}
    if source == "synthetic":
        given = (dict(grid.synthetic_options), tuple(map(tuple, grid.synthetic_users)), tuple(map(tuple, grid.synthetic_homogeneous_sets)), tuple(map(tuple, grid.synthetic_heterogeneous_sets)))
        if given != (SYNTHETIC_OPTIONS, SYNTHETIC_USERS, SYNTHETIC_HOMOGENEOUS, SYNTHETIC_HETEROGENEOUS):
            encoders = dict(
                latents_options=canonical_options(grid.synthetic_options), user_pool=",".join(f"{n}:{p}:{d}" for n, p, d in grid.synthetic_users),
                homogeneous_sets=format_sets(grid.synthetic_homogeneous_sets), heterogeneous_sets=format_sets(grid.synthetic_heterogeneous_sets),
            )  # fmt: skip
    else:
        defaults = (DIGITS_AP, DIGITS_USERS, DIGITS_HOMOGENEOUS, DIGITS_HETEROGENEOUS)
        given = (grid.ap_encoder, tuple(grid.users), tuple(map(tuple, grid.homogeneous_sets)), tuple(map(tuple, grid.heterogeneous_sets)))
        if given != defaults or source == "timm":
            encoders = dict(ap_encoder=grid.ap_encoder, user_pool=",".join(grid.users), homogeneous_sets=format_sets(grid.homogeneous_sets), heterogeneous_sets=format_sets(grid.heterogeneous_sets))
        if source == "timm":
            encoders["dataset"] = grid.dataset
    shared = {f.name: getattr(grid, f.name) for f in fields(ProtocolSettings)}
    return FederatedRun(latents=source, **shared, **encoders)


def federated_runs(grid: FederatedGrid) -> list[FederatedRun]:
    """Every run of the study; settings above 100 % compression (T N_t > ceil(d_AP/2)) are dropped."""
    sources = {grid.latents, *(grid.heterogeneity_sources if "heterogeneity" in grid.experiments else ())}
    bases = {source: _base_run(grid, source) for source in sorted(sources)}
    ap_dims = {source: pool_of(base).d_ap for source, base in bases.items()}  # loads (and checks) every source first

    def fits(source: str, t: int, n: int) -> bool:
        return t * n <= complex_dim(ap_dims[source])

    src, runs = grid.latents, []
    main = bases[src]
    for seed in grid.seeds:
        if "compression" in grid.experiments:
            for n in grid.compression_antennas:
                for t in grid.compression_channel_uses:
                    if fits(src, t, n):
                        runs += [replace(main, experiment="compression", method=m, n_antennas=n, channel_uses=t, seed=seed) for m in grid.methods]
        if "snr" in grid.experiments:
            for t in grid.snr_channel_uses:
                for snr in grid.snr_values:
                    runs += [replace(main, experiment="snr", method=m, n_antennas=grid.snr_antennas, channel_uses=t, snr_db=float(snr), seed=seed) for m in grid.methods]
        if "heterogeneity" in grid.experiments:
            for source in grid.heterogeneity_sources:
                for t in grid.heterogeneity_channel_uses:
                    if not fits(source, t, grid.heterogeneity_antennas):
                        continue
                    for kind in SET_KINDS:
                        runs += [replace(bases[source], experiment="heterogeneity", method=m, user_set=kind, n_antennas=grid.heterogeneity_antennas,
                                         channel_uses=t, seed=seed) for m in grid.heterogeneity_methods]  # fmt: skip
        if "pilots" in grid.experiments:
            for fraction in grid.pilot_fractions:
                runs += [replace(main, experiment="pilots", method=m, n_antennas=grid.pilots_antennas, channel_uses=grid.pilots_channel_uses,
                                 pilot_fraction=float(fraction), seed=seed) for m in grid.methods]  # fmt: skip
    return runs


def federated_summary(results: pl.DataFrame) -> tuple[str, pl.DataFrame]:
    """The table ``semalign reproduce federated`` prints: mean accuracy and MSE per experiment,
    method and user set."""
    short = {"all": "all", "homogeneous": "homo", "heterogeneous": "hetero", "single": "alone"}
    table = (
        results.group_by(["experiment", "method", "latents", "user_set"])
        .agg(pl.col("accuracy").mean(), pl.col("mse").mean(), pl.len().alias("rows"))
        .sort(["experiment", "method", "latents", "user_set"])
        .with_columns((pl.col("latents") + "/" + pl.col("user_set").replace(short)).alias("user set"))
        .select("experiment", "method", "user set", "accuracy", "mse", "rows")
    )
    return "Mean over users, seeds and settings (heterogeneity: per user set)", table
