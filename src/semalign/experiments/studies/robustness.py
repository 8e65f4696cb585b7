"""The robustness study: designs when the channel a design knows is not the channel the symbols go
through, and on 3GPP channel models, as a named grid of link, federated and game runs.

Single link (``settings`` ``single-link``), every single-link method, naive and robust
(:mod:`semalign.link.csi` has the error model):

* ``csi-error``: the design knows an estimate missing a fraction ``csi_error`` of the channel's power;
* ``pilot-snr``: the design knows an LMMSE estimate from ``csi_pilots`` pilots per antenna at a pilot SNR;
* ``doppler``: the design knows the channel exactly when it is fitted, and the channel then evolves
  (Jakes' correlation at a normalised Doppler, in blocks of ``coherence`` latents): outdated CSI,
  for which there is no robust variant (a design cannot know where the channel goes);
* ``channel-model``: perfect CSI, accuracy and MSE vs SNR on each of ``channel_models`` (Rayleigh
  and 3GPP TDL/CDL through OFDM, the ``model_channel_uses`` uses of a latent on as many subcarriers,
  :mod:`semalign.link.channel_models`).

Multi-user settings (``federated``, ``game``), naive and robust, vs ``csi_error``:

* ``federated-csi-error``: the federated downlink when the AP and users know estimates of the users'
  channels (:class:`~semalign.multiuser.FederatedDownlink`);
* ``game-csi-error``: the interference game with one primary receiver protected at
  ``game_pu_limit_db`` when every pair knows estimates of every channel: rows carry the primary-user
  interference measured on the true channels next to its limit.

Channel-aware runs only (an unaware design knows nothing of the channel to begin with); rows carry
``setting``, ``csi``, ``csi_error``, ``robust`` and ``channel_model`` (single-link rows also
``pilot_snr_db``, ``doppler``, ``coherence`` and ``csi_error_known``, the error fraction of what
the design knew, also for estimated CSI). The multi-user parts run on ``multiuser_latents`` (the
digits zoo or synthetic agents), whatever the single link's latents.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import polars as pl

from semalign._checks import check_choice, check_positive_int
from semalign._vocabulary import PAPER_SEEDS
from semalign.experiments.runs.common import canonical_options, check_snr_db
from semalign.experiments.runs.federated import FederatedRun
from semalign.experiments.runs.game import PU_METHODS, GameRun
from semalign.experiments.runs.link import LATENT_FIELDS, LinkRun, LinkSolverSettings, latents_of
from semalign.link.channel_models import check_channel_model
from semalign.link.csi import check_csi_error
from semalign.link.packing import complex_dim
from semalign.methods import method_names

METHODS = method_names("single-link")
EXPERIMENTS = ("csi-error", "pilot-snr", "doppler", "channel-model", "federated-csi-error", "game-csi-error")
#: The settings the study covers, and the experiments of each.
SETTINGS = {"single-link": EXPERIMENTS[:4], "federated": ("federated-csi-error",), "game": ("game-csi-error",)}


@dataclass(frozen=True)
class RobustnessGrid(LinkSolverSettings):
    """The study's settings: ``n_antennas`` x ``n_antennas`` antennas, ``pilots_per_class`` semantic
    pilots per class, SNR ``snr_db``; the values each experiment sweeps; ``robust`` the design
    variants of the ``csi-error`` and ``pilot-snr`` experiments. The link conventions and the
    methods' settings are those of :class:`~semalign.experiments.runs.link.LinkSolverSettings`."""

    latents: str = "digits"
    latents_options: dict = field(default_factory=dict)
    seeds: tuple[int, ...] = PAPER_SEEDS
    methods: tuple[str, ...] = METHODS
    robust: tuple[bool, ...] = (False, True)
    n_antennas: int = 4
    pilots_per_class: int = 100
    snr_db: float = 20.0
    csi_errors: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
    pilot_snrs_db: tuple[float, ...] = (-10.0, -5.0, 0.0, 5.0, 10.0, 20.0)
    csi_pilots: int = 8
    dopplers: tuple[float, ...] = (0.0, 0.001, 0.002, 0.005, 0.01)
    coherence: int = 10
    settings: tuple[str, ...] = tuple(SETTINGS)
    channel_models: tuple[str, ...] = ("rayleigh", "tdl-a", "tdl-d", "cdl-a", "cdl-d")
    model_snrs_db: tuple[float, ...] = (-10.0, 0.0, 10.0, 20.0, 30.0)
    model_channel_uses: int = 2
    delay_spread_ns: float = 300.0
    multiuser_latents: str = "digits"
    federated_methods: tuple[str, ...] = ("federated-admm", "first-k")
    federated_csi_errors: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
    game_methods: tuple[str, ...] = ("game-fixed-eigenmode", "ignore-interference")
    game_csi_errors: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
    game_pu_limit_db: float = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.settings:
            raise ValueError(f"settings must name at least one of {', '.join(SETTINGS)}")
        for setting in self.settings:
            check_choice("settings", setting, tuple(SETTINGS))
        for method in self.methods:
            check_choice("method", method, METHODS)
        for method in self.federated_methods:
            check_choice("federated_methods", method, method_names("federated"))
        for method in self.game_methods:
            check_choice("game_methods", method, PU_METHODS["individual"])
        for model in self.channel_models:
            check_channel_model(model)
        for value in self.model_snrs_db:
            check_snr_db(value, name="model_snrs_db")
        check_choice("multiuser_latents", self.multiuser_latents, ("digits", "synthetic"))
        for value in (*self.federated_csi_errors, *self.game_csi_errors):
            check_csi_error(value)
        check_positive_int("model_channel_uses", self.model_channel_uses)
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")
        for name in ("n_antennas", "pilots_per_class", "csi_pilots", "coherence"):
            check_positive_int(name, getattr(self, name))
        check_snr_db(self.snr_db)
        for value in self.csi_errors:
            check_csi_error(value)
        for value in self.pilot_snrs_db:
            check_snr_db(value, name="pilot_snrs_db", finite=True)
        for value in self.dopplers:
            if isinstance(value, bool) or not 0.0 <= float(value) < float("inf"):
                raise ValueError(f"dopplers must be finite normalised Doppler frequencies >= 0, got {value!r}")
        if not self.robust or any(not isinstance(r, bool) for r in self.robust):
            raise ValueError(f"robust must list True and/or False, got {self.robust!r}")


def quick_grid(**overrides) -> RobustnessGrid:
    """A few-minute grid: two seeds, fewer points, the neural model capped at 150 epochs, one TDL
    and one CDL model."""
    base = RobustnessGrid(
        seeds=(27, 42), csi_errors=(0.0, 0.05, 0.1, 0.3, 0.5), pilot_snrs_db=(-10.0, 0.0, 10.0), dopplers=(0.0, 0.002, 0.01),
        neural_epochs=150, channel_models=("rayleigh", "tdl-a", "cdl-d"), model_snrs_db=(0.0, 10.0, 20.0),
        federated_csi_errors=(0.0, 0.1, 0.3, 0.5), game_csi_errors=(0.0, 0.1, 0.3, 0.5),
    )  # fmt: skip
    return replace(base, **overrides)


def full_grid(**overrides) -> RobustnessGrid:
    """The complete grid: six seeds, every point, the neural model trained to convergence."""
    return replace(RobustnessGrid(), **overrides)


def robustness_runs(grid: RobustnessGrid) -> list[LinkRun | FederatedRun | GameRun]:
    """Every run of the study: the single-link runs (the clean references first), then the federated
    and the game runs (duplicates, e.g. robust designs without error, are dropped).

    Raises:
        ValueError: ``n_antennas`` above the complex latent size, or fewer CSI pilots than antennas
            (raised by the pilot-SNR runs, :class:`~semalign.experiments.runs.link.LinkRun`).
    """
    runs = _link_runs(grid) if "single-link" in grid.settings else []
    if "federated" in grid.settings:
        runs += _federated_runs(grid)
    if "game" in grid.settings:
        runs += _game_runs(grid)
    return list(dict.fromkeys(runs))


def _conventions(grid: RobustnessGrid) -> dict:
    return {"snr_db": grid.snr_db, "snr_convention": grid.snr_convention, "channel_variance": grid.channel_variance, "power": grid.power}


def _federated_runs(grid: RobustnessGrid) -> list[FederatedRun]:
    """Every federated method vs ``csi_error``, naive and robust, on the default pool of users."""
    base = FederatedRun(latents=grid.multiuser_latents, experiment="federated-csi-error", **_conventions(grid))
    return [
        replace(base, method=method, seed=seed, csi_error=float(eps), robust=robust)
        for seed in grid.seeds for method in grid.federated_methods for robust in grid.robust for eps in grid.federated_csi_errors
    ]  # fmt: skip


def _game_runs(grid: RobustnessGrid) -> list[GameRun]:
    """The game's methods vs ``csi_error``, naive and robust, one primary receiver protected by an
    individual budget at ``game_pu_limit_db``."""
    base = GameRun(
        latents=grid.multiuser_latents, experiment="game-csi-error", pu_protection="individual", pu_limit_db=grid.game_pu_limit_db, **_conventions(grid)
    )  # fmt: skip
    return [
        replace(base, method=method, seed=seed, csi_error=float(eps), robust=robust)
        for seed in grid.seeds for method in grid.game_methods for robust in grid.robust for eps in grid.game_csi_errors
    ]  # fmt: skip


def _link_runs(grid: RobustnessGrid) -> list[LinkRun]:
    named = {k: v for k, v in grid.latents_options.items() if k in LATENT_FIELDS}
    others = {k: v for k, v in grid.latents_options.items() if k not in LATENT_FIELDS}
    shared = {f.name: getattr(grid, f.name) for f in fields(LinkSolverSettings)}
    base = LinkRun(
        latents=grid.latents, **named, latents_options=canonical_options(others) if others else None, **shared,
        n_antennas=grid.n_antennas, pilots_per_class=grid.pilots_per_class, snr_db=grid.snr_db,
    )  # fmt: skip
    m = complex_dim(latents_of(base).d_tx)
    if grid.n_antennas > m:
        raise ValueError(f"n_antennas {grid.n_antennas} exceeds the complex latent size ceil(d_tx/2) = {m}; expected at most {m}")
    if grid.model_channel_uses * grid.n_antennas > m:
        raise ValueError(f"model_channel_uses x n_antennas = {grid.model_channel_uses} x {grid.n_antennas} exceeds the complex latent size {m}; expected at most {m}")
    runs = [replace(base, experiment=exp, method="clean", seed=seed) for exp in SETTINGS["single-link"] for seed in grid.seeds]
    for seed in grid.seeds:
        for method in grid.methods:
            run = replace(base, method=method, seed=seed)
            for robust in grid.robust:
                runs += [replace(run, experiment="csi-error", csi_error=float(e), robust=robust) for e in grid.csi_errors]
                # csi_pilots is set with the pilot SNR: a run without one resets it (it would be unused).
                runs += [replace(run, experiment="pilot-snr", pilot_snr_db=float(s), csi_pilots=grid.csi_pilots, robust=robust) for s in grid.pilot_snrs_db]
            runs += [replace(run, experiment="doppler", doppler=float(d), coherence=grid.coherence) for d in grid.dopplers]
            runs += [
                replace(run, experiment="channel-model", channel_model=model, channel_uses=grid.model_channel_uses, delay_spread_ns=grid.delay_spread_ns, snr_db=float(snr))
                for model in grid.channel_models for snr in grid.model_snrs_db
            ]  # fmt: skip
    return runs


#: The swept setting of each experiment.
AXES = {
    "csi-error": "csi_error", "pilot-snr": "pilot_snr_db", "doppler": "doppler", "channel-model": "snr_db",
    "federated-csi-error": "csi_error", "game-csi-error": "csi_error",
}  # fmt: skip


def robustness_summary(results: pl.DataFrame) -> tuple[str, pl.DataFrame]:
    """The table ``semalign reproduce robustness`` prints: per experiment and swept value, each
    method's mean accuracy and MSE over seeds (and users or pairs), naive and robust side by side;
    channel-model rows name their model with the method."""
    rows = results.filter(pl.col("method") != "clean")
    at = None
    for experiment, axis in AXES.items():
        if axis in rows.columns:
            at = (pl.when if at is None else at.when)(pl.col("experiment") == experiment).then(pl.col(axis).cast(pl.Float64))
    method = pl.col("method")
    if "channel_model" in rows.columns:
        method = pl.when(pl.col("experiment") == "channel-model").then(pl.format("{} ({})", "method", "channel_model")).otherwise("method")
    robust = pl.col("robust").fill_null(False)
    rows = rows.with_columns(at.otherwise(None).alias("at"), method.alias("method"), pl.when(robust).then(pl.lit("robust")).otherwise(pl.lit("naive")).alias("design"))
    keys = ["experiment", "at", "method"]
    means = rows.group_by([*keys, "design"]).agg(pl.col("accuracy").mean(), pl.col("mse").mean())
    table = means.pivot(on="design", index=keys, values=["accuracy", "mse"], aggregate_function="first")
    table = table.rename({c: c.replace("accuracy_", "acc ").replace("mse_", "mse ") for c in table.columns if c not in keys})
    order = {name: k for k, name in enumerate(EXPERIMENTS)}
    table = table.with_columns(pl.col("experiment").replace_strict(order, default=9).alias("_e")).sort(["_e", "at", "method"]).drop("_e")
    columns = [c for c in ("acc naive", "acc robust", "mse naive", "mse robust") if c in table.columns]
    title = "Mean accuracy and MSE over seeds at each experiment's swept value: csi_error, pilot SNR (dB), normalised Doppler, SNR (dB) on each channel model"
    return title, table.select(*keys, *columns)
