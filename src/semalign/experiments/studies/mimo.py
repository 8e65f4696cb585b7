"""The single-link study of the MIMO paper, as a named grid of link runs: accuracy vs compression
factor, vs SNR and vs FLOPs.

A :class:`MimoGrid` describes the study; :func:`mimo_runs` expands it into
:class:`~semalign.experiments.runs.link.LinkRun` runs: for every seed, method and awareness, one
run per pilot budget and antenna count at one SNR (``compression``), one per SNR at one antenna count
(``snr``, one batched call), and for linear ADMM and the neural model one per sparsity weight
(``flops``, one batched call); plus the receiver's ``clean`` ceiling per experiment and seed. The run
engine executes them (resumable, in parts) and the study draws its figures from the stored rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import polars as pl

from semalign._checks import check_choice, check_positive_int
from semalign._vocabulary import AWARENESS, PAPER_SEEDS
from semalign.experiments.runs.common import canonical_options
from semalign.experiments.runs.link import LATENT_FIELDS, LinkRun, LinkSolverSettings, latents_of
from semalign.link.packing import complex_dim
from semalign.methods import method_names

METHODS = method_names("single-link")
EXPERIMENTS = ("compression", "snr", "flops")
#: Methods whose inference cost is compared in the ``flops`` experiment.
FLOPS_METHODS = ("linear-admm", "neural")


@dataclass(frozen=True)
class MimoGrid(LinkSolverSettings):
    """The study's settings. ``compression_antennas=None`` means powers of two up to the full
    complex latent size ceil(d_tx/2), which is included. Antennas are square (N_t = N_r = N), one
    channel use per latent, as in the paper. The ``flops`` experiment fits linear ADMM and the
    neural model (over the sparsity weights ``flops_lams``, batched) at ``flops_antennas``, aware,
    at ``compression_snr_db`` with ``flops_pilots`` pilots per class. ``latents_options`` are the
    source loader's keyword arguments (``tx``, ``rx``, ``dataset``, ``path`` or, for synthetic
    latents, their sizes). The link conventions and the methods' settings are those of
    :class:`~semalign.experiments.runs.link.LinkSolverSettings`."""

    latents: str = "digits"
    latents_options: dict = field(default_factory=dict)
    seeds: tuple[int, ...] = PAPER_SEEDS
    methods: tuple[str, ...] = METHODS
    awareness: tuple[str, ...] = AWARENESS
    compression_antennas: tuple[int, ...] | None = None
    compression_pilots: tuple[int, ...] = (100, 50, 20, 10)
    compression_snr_db: float = 20.0
    snr_values: tuple[float, ...] = (-20.0, -10.0, 0.0, 10.0, 20.0, 30.0)
    snr_antennas: int = 4
    snr_pilots: int = 100
    flops_antennas: tuple[int, ...] = (2, 4)
    flops_lams: tuple[float, ...] = (0.0, 1e-4, 3e-4, 1e-3, 3e-3)
    flops_pilots: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        for method in self.methods:
            check_choice("method", method, METHODS)
        for aw in self.awareness:
            check_choice("awareness", aw, AWARENESS)
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")
        for antennas in self.compression_antennas or ():
            check_positive_int("compression_antennas", antennas)
        for pilots in self.compression_pilots:
            check_positive_int("compression_pilots", pilots)
        for name in ("snr_antennas", "snr_pilots", "flops_pilots"):
            check_positive_int(name, getattr(self, name))
        for antennas in self.flops_antennas:
            check_positive_int("flops_antennas", antennas)
        for lam in self.flops_lams:
            if not float(lam) >= 0 or lam == float("inf"):
                raise ValueError(f"flops_lams must be finite numbers >= 0, got {lam!r}")

    def antennas_for(self, d_tx: int) -> tuple[int, ...]:
        m = complex_dim(d_tx)
        if self.compression_antennas is not None:
            too_big = [a for a in self.compression_antennas if a > m]
            if too_big:
                raise ValueError(f"compression_antennas {too_big} exceed the complex latent size ceil(d_tx/2) = {m}")
            return tuple(self.compression_antennas)
        powers = [2**k for k in range(m.bit_length()) if 2**k < m]
        return tuple(powers + [m])


def quick_grid(**overrides) -> MimoGrid:
    """A few-minute grid: both experiments, every method, two seeds, aware and unaware."""
    base = MimoGrid(seeds=(27, 42), compression_pilots=(100, 20), snr_values=(-20.0, -10.0, 10.0, 30.0))
    return replace(base, **overrides)


def full_grid(**overrides) -> MimoGrid:
    """The complete grid: six seeds, four pilot budgets, SNR from -20 to 30 dB."""
    return replace(MimoGrid(), **overrides)


def mimo_runs(grid: MimoGrid) -> list[LinkRun]:
    """Every run of the study, the clean references first.

    Raises ``ValueError`` if an antenna count exceeds the complex latent size ceil(d_tx/2).
    """
    named = {k: v for k, v in grid.latents_options.items() if k in LATENT_FIELDS}
    others = {k: v for k, v in grid.latents_options.items() if k not in LATENT_FIELDS}
    shared = {f.name: getattr(grid, f.name) for f in fields(LinkSolverSettings)}
    base = LinkRun(latents=grid.latents, **named, latents_options=canonical_options(others) if others else None, **shared)
    d_tx = latents_of(base).d_tx
    m = complex_dim(d_tx)
    for name, antennas in (("snr_antennas", grid.snr_antennas), *(("flops_antennas", a) for a in grid.flops_antennas)):
        if antennas > m:
            raise ValueError(f"{name} {antennas} exceeds the complex latent size ceil(d_tx/2) = {m} (d_tx = {d_tx}); expected at most {m}")
    flops_methods = [method for method in grid.methods if method in FLOPS_METHODS]
    experiments = [exp for exp in EXPERIMENTS if exp != "flops" or flops_methods]
    runs = [replace(base, experiment=exp, method="clean", seed=seed) for exp in experiments for seed in grid.seeds]
    for seed in grid.seeds:
        for method in grid.methods:
            for awareness in grid.awareness:
                run = replace(base, method=method, awareness=awareness, seed=seed)
                for pilots in grid.compression_pilots:
                    for n in grid.antennas_for(d_tx):
                        runs.append(replace(run, experiment="compression", pilots_per_class=pilots, n_antennas=n, snr_db=grid.compression_snr_db))
                runs += [replace(run, experiment="snr", pilots_per_class=grid.snr_pilots, n_antennas=grid.snr_antennas, snr_db=float(s)) for s in grid.snr_values]
        for method in flops_methods:
            lams = tuple(grid.flops_lams) if method == "neural" else (0.0,)
            run = replace(base, experiment="flops", method=method, awareness="aware", seed=seed, pilots_per_class=grid.flops_pilots, snr_db=grid.compression_snr_db)
            runs += [replace(run, n_antennas=n, lam=float(lam)) for n in grid.flops_antennas for lam in lams]
    return runs


def mimo_summary(results: pl.DataFrame) -> tuple[str, pl.DataFrame]:
    """The table ``semalign reproduce mimo`` prints: per experiment, at each value of what that
    experiment varies (N for compression, the SNR for snr), each method's mean accuracy and MSE
    over seeds (and pilot budgets), aware and unaware side by side, so the two are compared on the
    same settings."""
    axis = pl.when(pl.col("experiment") == "snr").then(pl.format("{} dB", pl.col("snr_db")))
    axis = axis.when(pl.col("experiment") == "compression").then(pl.format("N={}", pl.col("n_tx"))).otherwise(pl.lit("all"))
    rows = results.filter(pl.col("method") != "clean").with_columns(axis.alias("at"))
    keys = ["experiment", "at", "method"]
    means = rows.group_by([*keys, "awareness"]).agg(pl.col("accuracy").mean(), pl.col("mse").mean())
    table = means.pivot(on="awareness", index=keys, values=["accuracy", "mse"], aggregate_function="first")
    table = table.rename({c: c.replace("accuracy_", "acc ").replace("mse_", "mse ") for c in table.columns if "_" in c and c not in keys})
    order = {"compression": 0, "snr": 1, "flops": 2}
    sort_value = pl.col("at").str.extract(r"(-?[0-9.]+)").cast(pl.Float64, strict=False)
    table = table.with_columns(pl.col("experiment").replace_strict(order, default=9).alias("_e"), sort_value.alias("_x"))
    table = table.sort(["_e", "_x", "method"], nulls_last=True).drop("_e", "_x")
    columns = [c for c in ("acc aware", "acc unaware", "mse aware", "mse unaware") if c in table.columns]
    return "Mean accuracy and MSE over seeds and pilot budgets, at each N (compression) and SNR (snr); clean latents: accuracy " + (
        f"{results.filter(pl.col('method') == 'clean')['accuracy'].mean():.3f}" if (results["method"] == "clean").any() else "n/a"
    ), table.select(*keys, *columns)
