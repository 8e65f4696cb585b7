"""Interference-game runs for sweeps: one :class:`GameRun` is one network setting, one method and
one seed (rows: one per secondary pair).

``semalign run game key=value ...`` sweeps any field. Runs that differ only in the seed are solved
as one batch of games (:data:`BATCHED_FIELDS`), through the game study's
:class:`~semalign.experiments.game.GameRunner` (same channels, pilots and rows as
``semalign reproduce game``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch

from semalign._checks import check_choice, check_positive_int
from semalign.experiments.game import _PU_METHODS, SCHEDULES, GameGrid, GameRunner, GameTask, load_pairs
from semalign.link.noise import check_snr_convention
from semalign.multiuser.semantic_game import METHODS

#: Seeds of one setting are solved as one batch of games.
BATCHED_FIELDS = ("seed",)


@dataclass(frozen=True)
class GameRun:
    """One interference-game configuration (the study's three secondary pairs, N x N antennas).

    Attributes:
        latents: ``digits`` (three zoo pairs) or ``synthetic`` (three synthetic pairs).
        method: ``game-fixed-eigenmode``, ``game-full-mimo``, ``ignore-interference``,
            ``centralized`` or ``orthogonal``.
        n_antennas, channel_uses: N = N_t = N_r and T channel uses per latent.
        snr_db: SNR in dB under ``snr_convention``; cross_gain_db: power gain of every cross channel.
        pu_protection: ``none`` (no primary user), ``individual`` or ``global`` budgets (need
            ``pu_limit_db``, dB above the primary receiver's noise) or ``null`` shaping.
        schedule: ``jacobi``, ``gauss-seidel`` or ``async``; seed: channels, pilots, classifiers.
    """

    latents: str = "digits"
    method: str = "game-fixed-eigenmode"
    n_antennas: int = 2
    channel_uses: int = 2
    snr_db: float = 20.0
    cross_gain_db: float = -10.0
    pu_protection: str = "none"
    pu_limit_db: float | None = None
    schedule: str = "gauss-seidel"
    seed: int = 27
    snr_convention: str = "total"
    channel_variance: float = 1.0
    power: float = 1.0
    pilots_per_class: int = 100
    tolerance: float = 1e-8
    max_iterations: int = 200

    def __post_init__(self) -> None:
        check_choice("latents", self.latents, ("digits", "synthetic"))
        check_choice("method", self.method, METHODS)
        check_choice("pu_protection", self.pu_protection, ("none", *_PU_METHODS))
        check_choice("schedule", self.schedule, SCHEDULES)
        check_snr_convention(self.snr_convention)
        for name in ("n_antennas", "channel_uses", "pilots_per_class", "max_iterations"):
            check_positive_int(name, getattr(self, name))
        if self.pu_protection in ("individual", "global") and self.pu_limit_db is None:
            raise ValueError(f"pu_protection={self.pu_protection!r} needs pu_limit_db (dB above the primary receiver's noise)")
        if self.pu_protection in ("none", "null"):  # no budget: the limit is ignored, so one run
            object.__setattr__(self, "pu_limit_db", None)
        if self.pu_protection != "none" and self.method not in _PU_METHODS[self.pu_protection]:
            raise ValueError(f"method {self.method!r} does not support pu_protection={self.pu_protection!r}; expected one of {', '.join(_PU_METHODS[self.pu_protection])}")

    def grid(self) -> GameGrid:
        """The study settings shared by every run of this run's batch."""
        fields = asdict(self)
        shared = ("latents", "n_antennas", "snr_db", "snr_convention", "channel_variance", "power", "pilots_per_class", "schedule", "tolerance", "max_iterations")
        return GameGrid(seeds=(self.seed,), methods=(self.method,), **{k: fields[k] for k in shared})


def check_game_runs(runs: list[GameRun]) -> None:
    """Nothing to check beyond each run's own validation (every setting fits the three pairs)."""


_RUNNERS: dict[str, GameRunner] = {}


def run_game_group(runs: list[GameRun], run_ids: list[str], device: str = "cpu") -> list[dict]:
    """Solve the runs (one setting, several seeds) as one batch of games; one row per pair and run."""
    first = runs[0]
    grid = replace(first.grid(), seeds=tuple(r.seed for r in runs))
    key = grid.settings_hash()
    if key not in _RUNNERS:
        _RUNNERS[key] = GameRunner(grid, load_pairs(grid))
    runner = _RUNNERS[key]
    runner.grid = grid  # the batch's seeds; classifiers stay cached per (pair, seed)
    experiment = "game" if first.pu_protection == "none" else "pu-limit"  # pu-limit adds the primary user
    task = GameTask(experiment, first.method, key, first.channel_uses, first.cross_gain_db, first.pu_protection, first.pu_limit_db)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many tiny batched linear-algebra calls (see run_game)
    try:
        rows = runner.run(task)
    finally:
        torch.set_num_threads(threads)
    by_seed = {run.seed: (run, run_id) for run, run_id in zip(runs, run_ids, strict=True)}
    out = []
    for row in rows:
        run, run_id = by_seed[row["seed"]]
        settings = {k: v for k, v in asdict(run).items() if k not in row or row[k] is None}
        out.append({**row, **settings, "experiment": "game", "run_id": run_id})
    return out
