"""Federated-downlink runs for sweeps: one :class:`FederatedRun` is one user set, link setting,
method and seed (rows: one per user).

``semalign run federated key=value ...`` sweeps any field, through the federated study's
:class:`~semalign.experiments.federated.FederatedRunner` (same channels per user identity, pilots
and rows as ``semalign reproduce federated``). Each run is its own protocol (no batched fields).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from semalign._checks import check_choice, check_positive_int
from semalign.experiments.federated import METHODS, USER_SETS, FederatedGrid, FederatedRunner, FederatedTask
from semalign.link.noise import check_snr_convention
from semalign.multiuser.federated import PROCESSING

BATCHED_FIELDS: tuple[str, ...] = ()


@dataclass(frozen=True)
class FederatedRun:
    """One federated-downlink configuration (the study's default users of ``latents``).

    Attributes:
        latents: ``digits`` (AP ``mlp32-tanh``, four zoo users) or ``synthetic`` agents.
        method: ``federated-admm``, ``federated-prox``, ``multi-link``, ``first-k`` or ``top-k``.
        user_set: ``all`` (every user), ``homogeneous``, ``heterogeneous`` or ``single`` (each alone).
        n_antennas, channel_uses: N = N_t = N_r per user and T channel uses per latent.
        snr_db: SNR in dB under ``snr_convention``; pilot_fraction: share of the training set used
            as shared pilots (1: all).
        processing / baseline_processing: the protocol's / the baselines' class of maps.
    """

    latents: str = "digits"
    method: str = "federated-admm"
    user_set: str = "all"
    n_antennas: int = 2
    channel_uses: int = 2
    snr_db: float = 20.0
    pilot_fraction: float = 1.0
    seed: int = 27
    processing: str = "strictly-linear"
    baseline_processing: str = "strictly-linear"
    snr_convention: str = "total"
    channel_variance: float = 1.0
    power: float = 1.0
    rho: float = 1.0
    rounds: int = 30

    def __post_init__(self) -> None:
        check_choice("latents", self.latents, ("digits", "synthetic"))
        check_choice("method", self.method, METHODS)
        check_choice("user_set", self.user_set, ("all", *USER_SETS))
        check_choice("processing", self.processing, PROCESSING)
        check_choice("baseline_processing", self.baseline_processing, PROCESSING)
        check_snr_convention(self.snr_convention)
        for name in ("n_antennas", "channel_uses", "rounds"):
            check_positive_int(name, getattr(self, name))
        if not 0.0 < self.pilot_fraction <= 1.0:
            raise ValueError(f"pilot_fraction must be in (0, 1], got {self.pilot_fraction!r}")

    def grid(self) -> FederatedGrid:
        fields = asdict(self)
        shared = ("latents", "processing", "baseline_processing", "snr_convention", "channel_variance", "power", "rho", "rounds")
        return FederatedGrid(seeds=(self.seed,), methods=(self.method,), heterogeneity_sources=(self.latents,), **{k: fields[k] for k in shared})


def check_federated_runs(runs: list[FederatedRun]) -> None:
    """Raise ``ValueError`` if T N exceeds the AP's complex latent size ceil(d_AP/2)."""
    from semalign.link.packing import complex_dim

    for latents in {r.latents for r in runs}:
        d_ap = _runner(next(r for r in runs if r.latents == latents).grid()).pool(latents).d_ap
        too_big = sorted({(r.channel_uses, r.n_antennas) for r in runs if r.latents == latents and r.channel_uses * r.n_antennas > complex_dim(d_ap)})
        if too_big:
            raise ValueError(f"channel_uses x n_antennas {too_big} exceed the AP's complex latent size ceil(d_AP/2) = {complex_dim(d_ap)} ({latents})")


_RUNNERS: dict[str, FederatedRunner] = {}


def _runner(grid: FederatedGrid) -> FederatedRunner:
    key = grid.settings_hash()
    if key not in _RUNNERS:
        _RUNNERS[key] = FederatedRunner(grid)
    return _RUNNERS[key]


def run_federated_group(runs: list[FederatedRun], run_ids: list[str], device: str = "cpu") -> list[dict]:
    """Fit and evaluate one run (groups have one run: nothing is batched); one row per user."""
    (run,), (run_id,) = runs, run_ids
    grid = run.grid()
    runner = _runner(grid)
    task = FederatedTask("federated", run.method, grid.settings_hash(), run.latents, run.user_set, run.n_antennas, run.channel_uses, run.snr_db, run.pilot_fraction, run.seed)
    rows = runner.run(task)
    settings = {k: v for k, v in asdict(run).items()}
    return [{**row, **{k: v for k, v in settings.items() if k not in row}, "run_id": run_id} for row in rows]
