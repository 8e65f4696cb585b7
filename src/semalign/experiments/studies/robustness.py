"""The robustness study: single-link designs when the channel a design knows is not the channel the
symbols go through, as a named grid of link runs.

Three experiments, each with every single-link method, naive and robust
(:mod:`semalign.link.csi` has the error model):

* ``csi-error``: the design knows an estimate missing a fraction ``csi_error`` of the channel's power;
* ``pilot-snr``: the design knows an LMMSE estimate from ``csi_pilots`` pilots per antenna at a pilot SNR;
* ``doppler``: the design knows the channel exactly when it is fitted, and the channel then evolves
  (Jakes' correlation at a normalised Doppler, in blocks of ``coherence`` latents): outdated CSI,
  for which there is no robust variant (a design cannot know where the channel goes).

Channel-aware runs only (an unaware design knows nothing of the channel to begin with), on the
seed's Rayleigh channel; rows carry ``csi``, ``csi_error``, ``pilot_snr_db``, ``doppler``,
``coherence``, ``robust`` and ``channel_model``, and ``csi_error_known`` (the error fraction of
what the design knew, also for estimated CSI). The federated and game settings, and 3GPP channel
models, are not part of it yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import polars as pl

from semalign._checks import check_choice, check_positive_int
from semalign._vocabulary import PAPER_SEEDS
from semalign.experiments.runs.common import canonical_options, check_snr_db
from semalign.experiments.runs.link import LATENT_FIELDS, LinkRun, LinkSolverSettings, latents_of
from semalign.link.csi import check_csi_error
from semalign.link.packing import complex_dim
from semalign.methods import method_names

METHODS = method_names("single-link")
EXPERIMENTS = ("csi-error", "pilot-snr", "doppler")


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

    def __post_init__(self) -> None:
        super().__post_init__()
        for method in self.methods:
            check_choice("method", method, METHODS)
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
    """A few-minute grid: two seeds, fewer points, the neural model capped at 150 epochs."""
    base = RobustnessGrid(
        seeds=(27, 42), csi_errors=(0.0, 0.05, 0.1, 0.3, 0.5), pilot_snrs_db=(-10.0, 0.0, 10.0), dopplers=(0.0, 0.002, 0.01),
        neural_epochs=150,
    )  # fmt: skip
    return replace(base, **overrides)


def full_grid(**overrides) -> RobustnessGrid:
    """The complete grid: six seeds, every point, the neural model trained to convergence."""
    return replace(RobustnessGrid(), **overrides)


def robustness_runs(grid: RobustnessGrid) -> list[LinkRun]:
    """Every run of the study, the clean references first (duplicates, e.g. robust designs without
    error, are dropped by the engine).

    Raises:
        ValueError: ``n_antennas`` above the complex latent size, or fewer CSI pilots than antennas
            (raised by the pilot-SNR runs, :class:`~semalign.experiments.runs.link.LinkRun`).
    """
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
    runs = [replace(base, experiment=exp, method="clean", seed=seed) for exp in EXPERIMENTS for seed in grid.seeds]
    for seed in grid.seeds:
        for method in grid.methods:
            run = replace(base, method=method, seed=seed)
            for robust in grid.robust:
                runs += [replace(run, experiment="csi-error", csi_error=float(e), robust=robust) for e in grid.csi_errors]
                # csi_pilots is set with the pilot SNR: a run without one resets it (it would be unused).
                runs += [replace(run, experiment="pilot-snr", pilot_snr_db=float(s), csi_pilots=grid.csi_pilots, robust=robust) for s in grid.pilot_snrs_db]
            runs += [replace(run, experiment="doppler", doppler=float(d), coherence=grid.coherence) for d in grid.dopplers]
    return list(dict.fromkeys(runs))


#: The swept setting of each experiment.
AXES = {"csi-error": "csi_error", "pilot-snr": "pilot_snr_db", "doppler": "doppler"}


def robustness_summary(results: pl.DataFrame) -> tuple[str, pl.DataFrame]:
    """The table ``semalign reproduce robustness`` prints: per experiment and swept value, each
    method's mean accuracy and MSE over seeds, naive and robust side by side."""
    rows = results.filter(pl.col("method") != "clean")
    at = pl.when(pl.col("experiment") == "csi-error").then(pl.col("csi_error"))
    at = at.when(pl.col("experiment") == "pilot-snr").then(pl.col("pilot_snr_db")).otherwise(pl.col("doppler"))
    rows = rows.with_columns(at.alias("at"), pl.when(pl.col("robust")).then(pl.lit("robust")).otherwise(pl.lit("naive")).alias("design"))
    keys = ["experiment", "at", "method"]
    means = rows.group_by([*keys, "design"]).agg(pl.col("accuracy").mean(), pl.col("mse").mean())
    table = means.pivot(on="design", index=keys, values=["accuracy", "mse"], aggregate_function="first")
    table = table.rename({c: c.replace("accuracy_", "acc ").replace("mse_", "mse ") for c in table.columns if c not in keys})
    order = {name: k for k, name in enumerate(EXPERIMENTS)}
    table = table.with_columns(pl.col("experiment").replace_strict(order, default=9).alias("_e")).sort(["_e", "at", "method"]).drop("_e")
    columns = [c for c in ("acc naive", "acc robust", "mse naive", "mse robust") if c in table.columns]
    return "Mean accuracy and MSE over seeds: csi_error (csi-error), pilot SNR in dB (pilot-snr), normalised Doppler (doppler)", table.select(*keys, *columns)
