"""The interference-game study (spec game.md §9): per-pair accuracy and MSE of secondary semantic
pairs sharing a MIMO channel with primary users.

Experiments:

* ``compression``: vs channel uses per latent (compression factor 100 T N / ceil(d_tx/2) per pair);
* ``cross-gain``: vs the power gain of every cross channel (weak to strong interference);
* ``pu-limit``: vs the primary receivers' interference limit (hierarchical spectrum access), with
  individual budgets, a global budget (prices) and null shaping (limit-free, one point);
* ``convergence``: many channel draws per seed and cross gain, every variant and schedule:
  iterations to converge against the conditions C1, C2 and the local rate.

A :class:`GameGrid` describes the study; every task solves all seeds (and draws) of one setting
as one batch of games. Tasks are written to the store as they finish, so an interrupted run
resumes where it stopped; figures are drawn from the stored rows.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

import semalign
from semalign._checks import check_choice, check_positive_int
from semalign.latents import LatentPair, load_latents
from semalign.link.noise import check_snr_convention
from semalign.multiuser.conditions import local_rate
from semalign.multiuser.eigenmode_game import EigenmodeGame
from semalign.multiuser.semantic_game import METHODS, SemanticInterferenceGame
from semalign.tasks import accuracy, mse, train_classifier

EXPERIMENTS = ("compression", "cross-gain", "pu-limit", "convergence")
SCHEDULES = ("jacobi", "gauss-seidel", "async")
PAPER_SEEDS = (27, 42, 100, 123, 144, 200)
#: Default secondary pairs from the digits zoo: (transmitter encoder, receiver encoder).
DIGITS_PAIRS = (("mlp64", "cnn128"), ("cnn48-tanh", "mlp96-gelu"), ("mlp96-gelu", "mlp64"))


@dataclass(frozen=True)
class GameGrid:
    """The study's settings (defaults: three digits-zoo pairs, N = 2 antennas, SNR 20 dB).

    ``latents="synthetic"`` draws one synthetic pair per entry of ``pairs`` instead (the encoder
    names are then ignored; each pair gets its own agents, with ``synthetic_options`` such as
    ``d_tx``, ``d_rx``, ``proximity``).
    """

    latents: str = "digits"
    pairs: tuple[tuple[str, str], ...] = DIGITS_PAIRS
    synthetic_options: dict = field(default_factory=lambda: {"n_train": 2000, "n_test": 600, "d_tx": 64, "d_rx": 96})
    seeds: tuple[int, ...] = PAPER_SEEDS
    methods: tuple[str, ...] = METHODS
    experiments: tuple[str, ...] = EXPERIMENTS
    n_antennas: int = 2
    snr_db: float = 20.0
    snr_convention: str = "total"
    channel_variance: float = 1.0
    power: float = 1.0
    pilots_per_class: int = 100
    schedule: str = "gauss-seidel"
    tolerance: float = 1e-8
    max_iterations: int = 200
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
        check_choice("latents", self.latents, ("digits", "synthetic"))
        for method in self.methods:
            check_choice("method", method, METHODS)
        for experiment in self.experiments:
            check_choice("experiment", experiment, EXPERIMENTS)
        for protection in self.pu_protections:
            check_choice("pu_protections", protection, ("individual", "global", "null"))
        check_choice("schedule", self.schedule, SCHEDULES)
        check_snr_convention(self.snr_convention)
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")
        if len(self.pairs) < 2:
            raise ValueError(f"the game needs at least 2 pairs, got {len(self.pairs)}")
        for name in ("n_antennas", "pilots_per_class", "max_iterations", "cross_channel_uses", "pu_channel_uses", "convergence_draws", "convergence_channel_uses"):
            check_positive_int(name, getattr(self, name))
        for uses in self.compression_channel_uses:
            check_positive_int("compression_channel_uses", uses)

    def settings_hash(self) -> str:
        """Short hash of everything that changes a row except the swept lists."""
        fixed = asdict(self)
        for swept in ("seeds", "methods", "experiments", "compression_channel_uses", "cross_gains_db", "pu_limits_db", "pu_protections", "convergence_cross_gains_db"):
            fixed.pop(swept)
        return hashlib.sha1(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()[:8]


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


@dataclass(frozen=True)
class GameTask:
    """One setting of one experiment, for one method (all seeds as a batch)."""

    experiment: str
    method: str
    prefix: str
    channel_uses: int
    cross_gain_db: float
    pu_protection: str = "none"
    pu_limit_db: float | None = None
    schedule: str | None = None

    @property
    def key(self) -> str:
        limit = "" if self.pu_limit_db is None else f"-L{self.pu_limit_db:g}"
        schedule = "" if self.schedule is None else f"-{self.schedule}"
        return f"{self.prefix}-{self.experiment}-{self.method}-T{self.channel_uses}-a{self.cross_gain_db:g}-{self.pu_protection}{limit}{schedule}"


# Methods that make sense with each primary-user protection (the centralized reference handles
# power budgets and null shaping only; a global budget for the full-MIMO game nests a price search
# around whole solves of an eigendecomposition-based game, too slow for a default study).
_PU_METHODS = {
    "individual": ("game-fixed-eigenmode", "game-full-mimo", "ignore-interference", "orthogonal"),
    "global": ("game-fixed-eigenmode", "ignore-interference", "orthogonal"),
    "null": METHODS,
}


def plan_tasks(grid: GameGrid) -> list[GameTask]:
    """Every task of the study."""
    prefix = grid.settings_hash()
    tasks = []
    if "compression" in grid.experiments:
        tasks += [GameTask("compression", m, prefix, t, grid.compression_cross_gain_db) for t in grid.compression_channel_uses for m in grid.methods]
    if "cross-gain" in grid.experiments:
        tasks += [GameTask("cross-gain", m, prefix, grid.cross_channel_uses, a) for a in grid.cross_gains_db for m in grid.methods]
    if "pu-limit" in grid.experiments:
        for protection in grid.pu_protections:
            methods = [m for m in grid.methods if m in _PU_METHODS[protection]]
            limits = (None,) if protection == "null" else grid.pu_limits_db
            tasks += [GameTask("pu-limit", m, prefix, grid.pu_channel_uses, grid.pu_cross_gain_db, protection, lim) for lim in limits for m in methods]
    if "convergence" in grid.experiments:
        variants = [m for m in grid.methods if m.startswith("game-")]
        tasks += [
            GameTask("convergence", m, prefix, grid.convergence_channel_uses, a, schedule=s)
            for a in grid.convergence_cross_gains_db
            for m in variants
            for s in SCHEDULES
        ]
    return tasks


def load_pairs(grid: GameGrid) -> list[LatentPair]:
    """The secondary pairs' latents."""
    if grid.latents == "digits":
        return [load_latents("digits", tx=tx, rx=rx) for tx, rx in grid.pairs]
    return [load_latents("synthetic", seed=1000 + i, **grid.synthetic_options) for i in range(len(grid.pairs))]


class GameRunner:
    """Executes tasks, caching each pair's receiver classifier per seed."""

    def __init__(self, grid: GameGrid, pairs: list[LatentPair]) -> None:
        self.grid, self.pairs = grid, pairs
        self._heads: dict[tuple[int, int], torch.nn.Module] = {}
        self._common = {
            "dataset": pairs[0].dataset,
            "n_pairs": len(pairs),
            "snr_db": grid.snr_db,
            "snr_convention": grid.snr_convention,
            "channel_variance": grid.channel_variance,
            "power": grid.power,
            "n_tx": grid.n_antennas,
            "n_rx": grid.n_antennas,
            "pilots_per_class": grid.pilots_per_class,
            "pilot_method": "random",
            "tolerance": grid.tolerance,
            "max_iterations": grid.max_iterations,
            "semalign_version": semalign.__version__,
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "device": "cpu",
        }

    def head(self, pair: int, seed: int):
        if (pair, seed) not in self._heads:
            p = self.pairs[pair]
            self._heads[pair, seed] = train_classifier(p.train.rx, p.train.labels, seed=seed)
        return self._heads[pair, seed]

    def game(self, task: GameTask, draws: int = 1) -> SemanticInterferenceGame:
        grid = self.grid
        pu = task.experiment == "pu-limit"
        return SemanticInterferenceGame(
            self.pairs,
            n_antennas=grid.n_antennas,
            channel_uses=task.channel_uses,
            snr_db=grid.convergence_snr_db if task.experiment == "convergence" else grid.snr_db,
            snr_convention=grid.snr_convention,
            channel_variance=grid.channel_variance,
            power=grid.power,
            cross_gain_db=task.cross_gain_db,
            primary_users=1 if pu else 0,
            pu_limit_db=task.pu_limit_db,
            pu_protection=task.pu_protection,
            pilots_per_class=grid.pilots_per_class,
            seeds=grid.seeds,
            draws=draws,
        ).fit()

    def run(self, task: GameTask) -> list[dict]:
        if task.experiment == "convergence":
            return self._convergence(task)
        grid = self.grid
        game = self.game(task)
        conditions = game.check_conditions()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # non-convergence is recorded per row
            options = dict(tolerance=grid.tolerance, max_iterations=grid.max_iterations) if task.method.startswith("game-") else {}
            if task.method == "centralized":
                # From the fixed-eigenmode equilibrium: the sum MSE then can only improve on it.
                start_point = game.solve(method=grid.schedule, tolerance=grid.tolerance, max_iterations=grid.max_iterations).precoders
                options = dict(start=start_point, max_iterations=grid.max_iterations, tolerance=1e-7)
            design = game.design(task.method, schedule=grid.schedule, **options)
        seconds = time.perf_counter() - start
        outputs = game.transmit(design)
        limit = game.pu_limit()
        rows = []
        for b, (seed, _) in enumerate(game.instances()):
            pu_total = design.pu_interference[b].sum(-1) if game.primary_users else None  # (J,)
            if pu_total is not None and pu_total.numel():
                worst = int(pu_total.argmax())
                pu_interference = float(pu_total[worst])
            else:
                pu_interference = None
            is_game = task.method.startswith("game-")
            for q, pair in enumerate(self.pairs):
                y_hat, order = outputs[b][q]
                test = pair.test
                rows.append(
                    {
                        **self._common,
                        "experiment": task.experiment,
                        "method": task.method,
                        "schedule": grid.schedule if is_game else None,
                        "seed": seed,
                        "pair": q,
                        "tx_encoder": pair.tx_encoder,
                        "rx_encoder": pair.rx_encoder,
                        "d_tx": pair.d_tx,
                        "d_rx": pair.d_rx,
                        "channel_uses": task.channel_uses,
                        "compression_factor": game.compression_factor(q),
                        "cross_gain_db": task.cross_gain_db,
                        "noise_variance": game.noise_variance_,
                        "n_pilots": game.pilots_[seed][q].n_pilots,
                        "accuracy": accuracy(self.head(q, seed), y_hat, test.labels[order]),
                        "clean_accuracy": accuracy(self.head(q, seed), test.rx, test.labels),
                        "mse": mse(y_hat, test.rx[order]),
                        "model_mse": float(design.mse[b, q]) / pair.d_rx,
                        "residual_mse": game.pilots_[seed][q].residual_mse / pair.d_rx,
                        "nmse": float(design.mse[b, q]) / game.pilots_[seed][q].total_energy,
                        "converged": bool(design.converged[b]),
                        "iterations": int(design.iterations[b]),
                        "best_response_gap": float(design.best_response_gap[b, q]) if is_game else None,
                        "full_mimo_gap": float(design.full_mimo_gap[b, q]) if is_game else None,
                        "condition_holds": bool(conditions.holds[b]) if conditions.applicable else None,
                        "c1": float(conditions.c1[b]),
                        "c2": float(conditions.c2[b]),
                        "classical_condition": float(conditions.classical[b]),
                        "pu_protection": task.pu_protection,
                        "pu_limit_db": task.pu_limit_db,
                        "pu_interference": pu_interference,
                        "pu_limit": limit,
                        "pair_pu_interference": float(design.pu_interference[b, :, q].sum()) if game.primary_users else None,
                        "fit_seconds": seconds / game.network_.n_instances,
                        "run_key": task.key,
                    }
                )
        return rows

    def _convergence(self, task: GameTask) -> list[dict]:
        grid = self.grid
        game = self.game(task, draws=grid.convergence_draws)
        conditions = game.check_conditions()
        variant = task.method.removeprefix("game-")
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            equilibrium = game.solve(method=task.schedule, variant=variant, tolerance=grid.tolerance, max_iterations=grid.max_iterations)
        seconds = time.perf_counter() - start
        rate = None
        if variant == "fixed-eigenmode":
            reduced = EigenmodeGame.from_network(game.network_)
            powers = (reduced.tx_modes.mH @ equilibrium.precoders @ reduced.semantic_modes.mH).diagonal(dim1=-2, dim2=-1).abs().square()
            rate = local_rate(reduced, powers)
        rows = []
        for b, (seed, draw) in enumerate(game.instances()):
            rows.append(
                {
                    **self._common,
                    "experiment": "convergence",
                    "snr_db": grid.convergence_snr_db,
                    "method": task.method,
                    "schedule": task.schedule,
                    "seed": seed,
                    "draw": draw,
                    "pair": None,
                    "channel_uses": task.channel_uses,
                    "cross_gain_db": task.cross_gain_db,
                    "noise_variance": game.noise_variance_,
                    "converged": bool(equilibrium.converged[b]),
                    "iterations": int(equilibrium.iterations[b]),
                    "final_residual": float(equilibrium.residuals[-1, b]),
                    "best_response_gap": float(equilibrium.best_response_gap[b].max()),
                    "condition_holds": bool(conditions.holds[b]),
                    "c1": float(conditions.c1[b]),
                    "c2": float(conditions.c2[b]),
                    "classical_condition": float(conditions.classical[b]),
                    "local_rate": None if rate is None else float(rate[b]),
                    "mse_sum": float(equilibrium.mse[b].sum()),
                    "pu_protection": "none",
                    "fit_seconds": seconds / game.network_.n_instances,
                    "run_key": task.key,
                }
            )
        return rows


def run_game(grid: GameGrid, out_dir: str | Path, *, progress: bool = True, figures: bool = True):
    """Run (or resume) the study into ``out_dir``; returns the results as a Polars DataFrame."""
    from semalign.experiments.figures import draw_game_figures
    from semalign.experiments.store import ResultStore, run_tasks

    out_dir = Path(out_dir)
    tasks = plan_tasks(grid)
    pairs = load_pairs(grid)
    runner = GameRunner(grid, pairs)
    store = ResultStore(out_dir)
    (out_dir / "grid.json").write_text(json.dumps(asdict(grid), indent=2, default=str))
    describe = lambda task: f"{task.experiment} {task.method} T={task.channel_uses} α={task.cross_gain_db:g} dB {task.pu_protection}"  # noqa: E731
    # The games are many small batched linear-algebra calls: one thread avoids the intra-op
    # threading overhead that dominates them (several times faster on a 2-core machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = run_tasks(store, tasks, runner.run, label="game", describe=describe, progress=progress)
    finally:
        torch.set_num_threads(threads)
    if figures and results.height:
        draw_game_figures(results, out_dir / "figures")
    return results
