"""Interference-game runs: one :class:`GameRun` is one network setting, one method and one seed
(rows: one per secondary pair and instance; one per instance for the ``convergence`` experiment).

``semalign run game key=value ...`` sweeps any field, and the game study (``semalign reproduce
game``) is a named grid of them. Runs that differ only in the seed are designed as one batch of
games by one :class:`~semalign.multiuser.SemanticInterferenceGame` (every seed's pilots and channels
come from that seed, so a run's rows do not depend on its batch); ``async`` schedules, whose random
wake-ups are drawn per batch, run alone.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass

import torch

from semalign._checks import check_choice, check_finite_number, check_positive, check_positive_int
from semalign._vocabulary import SCHEDULES
from semalign.experiments.engine import RunContext, RunKind
from semalign.experiments.runs.common import LinkConventions, cached_latents, canonical_options, check_snr_db, classifier, provenance
from semalign.latents import LatentPair, load_latents
from semalign.link.csi import check_csi_error, check_robust
from semalign.methods import devices_of, get_method, method_names
from semalign.multiuser.conditions import local_rate
from semalign.multiuser.eigenmode_game import EigenmodeGame
from semalign.multiuser.semantic_game import SemanticInterferenceGame
from semalign.tasks import accuracy, mse

#: Default secondary pairs from the digits zoo: (transmitter encoder, receiver encoder).
DIGITS_PAIRS = (("mlp64", "cnn128"), ("cnn48-tanh", "mlp96-gelu"), ("mlp96-gelu", "mlp64"))
#: Synthetic pairs: one per default digits pair, each with its own agents (seeds 1000, 1001, ...).
SYNTHETIC_OPTIONS = {"n_train": 2000, "n_test": 600, "d_tx": 64, "d_rx": 96}
#: Methods that make sense with each primary-user protection (the centralized reference handles
#: power budgets and null shaping only; a global budget for the full-MIMO game nests a price search
#: around whole solves of an eigendecomposition-based game, too slow for a default study).
PU_METHODS = {
    "individual": ("game-fixed-eigenmode", "game-full-mimo", "ignore-interference", "orthogonal"),
    "global": ("game-fixed-eigenmode", "ignore-interference", "orthogonal"),
    "null": ("game-fixed-eigenmode", "game-full-mimo", "ignore-interference", "centralized", "orthogonal"),
}


@dataclass(frozen=True)
class GameSettings(LinkConventions):
    """The settings a game run and the game study share.

    Attributes:
        latents: ``digits`` (zoo pairs) or ``synthetic`` (synthetic pairs, one per digits pair).
        n_antennas: N = N_t = N_r per pair; snr_db: SNR in dB under ``snr_convention``.
        schedule: ``jacobi``, ``gauss-seidel`` or ``async`` (the games' and the centralized start's).
        pilots_per_class: semantic pilots per class of every pair.
        tolerance, max_iterations: the games' convergence tolerance and update cap.
    """

    latents: str = "digits"
    n_antennas: int = 2
    snr_db: float = 20.0
    schedule: str = "gauss-seidel"
    pilots_per_class: int = 100
    tolerance: float = 1e-8
    max_iterations: int = 200

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("latents", self.latents, ("digits", "synthetic"))
        check_choice("schedule", self.schedule, SCHEDULES)
        for name in ("n_antennas", "pilots_per_class", "max_iterations"):
            check_positive_int(name, getattr(self, name))
        check_snr_db(self.snr_db, finite=True)
        check_positive("tolerance", self.tolerance)


@dataclass(frozen=True)
class GameRun(GameSettings):
    """One interference-game configuration (the study's secondary pairs, N x N antennas).

    Attributes:
        pairs: the digits pairs as ``tx:rx,tx:rx,...`` (default: three zoo pairs); with synthetic
            latents, one synthetic pair per entry.
        latents_options: the synthetic pairs' data settings as a JSON object (default
            :data:`SYNTHETIC_OPTIONS`).
        method: ``game-fixed-eigenmode``, ``game-full-mimo``, ``ignore-interference``,
            ``centralized`` or ``orthogonal``.
        channel_uses: T channel uses per latent; cross_gain_db: power gain of every cross channel.
        pu_protection: ``none`` (no primary user), ``individual`` or ``global`` budgets (need
            ``pu_limit_db``, dB above the primary receiver's noise) or ``null`` shaping; one primary
            user with one antenna whenever it is not ``none``.
        seed: channels, pilots, classifiers; draws: channel draws per seed.
        experiment: the label of the study part (``compression``, ``cross-gain``, ``pu-limit``,
            ``convergence``; ``game`` for a sweep). ``convergence`` runs record one row per instance
            (convergence diagnostics, no accuracy).
        csi_error: ε in [0, 1], the fraction of every channel's power (direct, cross, primary) the
            designs' estimates miss (the error model of :mod:`semalign.link.csi`); the symbols always
            go through the true channels, and the primary-user interference is measured on them.
        robust: design for the expectation over the channel error (expected interference, limits
            held on average); reset to ``False`` when ``csi_error == 0`` (nothing to be robust to),
            so a sweep does not store the same run twice.
        The link conventions, the channel model of every channel (direct, cross, primary) and its
        options (:class:`~semalign.experiments.runs.common.LinkConventions`; on TDL/CDL the
        ``orthogonal`` baseline is OFDMA and ``csi_error`` is an independent error per subcarrier;
        correlated ``kronecker`` antennas refuse ``csi_error``) and
        the shared settings are those of :class:`GameSettings`.
    """

    pairs: str | None = None
    latents_options: str | None = None
    method: str = "game-fixed-eigenmode"
    channel_uses: int = 2
    cross_gain_db: float = -10.0
    pu_protection: str = "none"
    pu_limit_db: float | None = None
    seed: int = 27
    draws: int = 1
    experiment: str = "game"
    csi_error: float = 0.0
    robust: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("method", self.method, method_names("game"))
        check_choice("pu_protection", self.pu_protection, ("none", *PU_METHODS))
        for name in ("channel_uses", "draws"):
            check_positive_int(name, getattr(self, name))
        check_finite_number("cross_gain_db", self.cross_gain_db)
        if self.pu_limit_db is not None:
            check_finite_number("pu_limit_db", self.pu_limit_db)
        if self.pairs is not None:
            digits_pairs(self.pairs)  # checks the spelling
        if self.latents_options is not None:
            object.__setattr__(self, "latents_options", canonical_options(self.latents_options))
        if self.pu_protection in ("individual", "global") and self.pu_limit_db is None:
            raise ValueError(f"pu_protection={self.pu_protection!r} needs pu_limit_db (dB above the primary receiver's noise)")
        if self.pu_protection in ("none", "null"):  # no budget: the limit is ignored, so one run
            object.__setattr__(self, "pu_limit_db", None)
        if self.pu_protection != "none" and self.method not in PU_METHODS[self.pu_protection]:
            raise ValueError(f"method {self.method!r} does not support pu_protection={self.pu_protection!r}; expected one of {', '.join(PU_METHODS[self.pu_protection])}")
        if self.experiment == "convergence" and not self.method.startswith("game-"):
            raise ValueError(f"experiment='convergence' traces a game's updates; method {self.method!r} solves no game (use game-fixed-eigenmode or game-full-mimo)")
        object.__setattr__(self, "csi_error", check_csi_error(self.csi_error))
        check_robust(self.robust)
        for name in self.ignored_settings():
            object.__setattr__(self, name, GameRun.__dataclass_fields__[name].default)
        self.check_csi_model_for(csi_error=self.csi_error, per_subcarrier=("csi_error",))

    def ignored_settings(self) -> tuple[str, ...]:
        """The settings the run does not use (they take their defaults, so a sweep over them does
        not store one run several times): the schedule when no game is solved, ``robust`` with
        perfect channel knowledge, the options of the channel models other than ``channel_model``
        (``ValueError`` listing the valid names if it is not a channel model)."""
        ignored = []
        if self.method in ("ignore-interference", "orthogonal"):  # no game is solved: one run
            ignored.append("schedule")
        if self.csi_error == 0:
            ignored.append("robust")  # nothing to be robust to
        return (*ignored, *self.unused_channel_options())

    def csi(self) -> str:
        """What the designs know of the channels: ``perfect`` or ``error-model`` (``csi_error > 0``)."""
        return "error-model" if self.csi_error else "perfect"


def digits_pairs(spec: str | None) -> tuple[tuple[str, str], ...]:
    """``"tx:rx,tx:rx"`` -> pairs of encoder names (``None``: :data:`DIGITS_PAIRS`)."""
    if spec is None:
        return DIGITS_PAIRS
    pairs = tuple(tuple(item.split(":")) for item in spec.split(","))
    if len(pairs) < 2 or any(len(p) != 2 or not all(p) for p in pairs):
        raise ValueError(f"pairs={spec!r}: expected at least two transmitter:receiver encoder pairs, e.g. mlp64:cnn128,cnn48-tanh:mlp96-gelu")
    return pairs


def load_pairs(latents: str, pairs: str | None = None, options: str | None = None) -> list[LatentPair]:
    """The secondary pairs' latents (loaded once per process); ``options``: the synthetic pairs'
    data settings (JSON)."""

    def load() -> list[LatentPair]:
        specs = digits_pairs(pairs)
        if latents == "digits":
            return [load_latents("digits", tx=tx, rx=rx) for tx, rx in specs]
        settings = json.loads(options) if options else SYNTHETIC_OPTIONS
        return [load_latents("synthetic", seed=1000 + i, **settings) for i in range(len(specs))]

    return cached_latents(("game", latents, pairs, options), load)


def check_game_runs(runs: list[GameRun]) -> None:
    """Check every run's antennas and channel uses against its pairs' latent sizes (each run's own
    settings are checked when it is made).

    Raises:
        ValueError: more channel symbols per latent than complex latent entries (a compression
            factor above 100 %).
    """
    sizes = {(r.latents, r.pairs, r.latents_options, r.n_antennas, r.channel_uses): r for r in runs}
    for run in sizes.values():
        _game([run]).check_sizes(load_pairs(run.latents, run.pairs, run.latents_options))


def _game(runs: list[GameRun]) -> SemanticInterferenceGame:
    first = runs[0]
    return SemanticInterferenceGame(
        n_antennas=first.n_antennas, channel_uses=first.channel_uses, snr_db=first.snr_db, snr_convention=first.snr_convention,
        channel_variance=first.channel_variance, power=first.power, cross_gain_db=first.cross_gain_db,
        primary_users=0 if first.pu_protection == "none" else 1, pu_limit_db=first.pu_limit_db, pu_protection=first.pu_protection,
        pilots_per_class=first.pilots_per_class, seeds=tuple(r.seed for r in runs), draws=first.draws,
        method=first.method, schedule=first.schedule, tol=first.tolerance, max_iter=first.max_iterations,
        csi_error=first.csi_error, robust=first.robust, channel_model=first.channel_model, **first.channel().options(),
    )  # fmt: skip


def run_game_group(runs: list[GameRun], run_ids: list[str], context: RunContext = RunContext()) -> list[dict]:
    """Design the runs (one setting, several seeds) as one batch of games; their rows."""
    first = runs[0]
    pairs = load_pairs(first.latents, first.pairs, first.latents_options)
    threads = torch.get_num_threads()
    # The games are many small batched linear-algebra calls: one thread avoids the intra-op
    # threading overhead that dominates them (several times faster on a 2-core machine).
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # non-convergence is recorded per row
            game = _game(runs).fit(pairs)
        seconds = time.perf_counter() - start
        rows = _convergence_rows(game, first, seconds) if first.experiment == "convergence" else _pair_rows(game, first, pairs, seconds)
    finally:
        torch.set_num_threads(threads)
    common = {
        **provenance("game", "cpu"), "dataset": pairs[0].dataset, "n_pairs": len(pairs), "snr_db": first.snr_db,
        "snr_convention": first.snr_convention, "channel_variance": first.channel_variance, "power": first.power,
        "n_tx": first.n_antennas, "n_rx": first.n_antennas, "pilots_per_class": first.pilots_per_class, "pilot_method": "random",
        "tolerance": first.tolerance, "max_iterations": first.max_iterations, "experiment": first.experiment, "method": first.method,
        "channel_uses": first.channel_uses, "cross_gain_db": first.cross_gain_db, "noise_variance": game.noise_variance_,
        "pu_protection": first.pu_protection, "csi": first.csi(), "csi_error": first.csi_error, "robust": first.robust,
        "channel_model": first.channel_model, **first.channel().options(),
    }  # fmt: skip
    by_seed = {run.seed: (run, run_id) for run, run_id in zip(runs, run_ids, strict=True)}
    out = []
    for row in rows:
        run, identifier = by_seed[row["seed"]]
        row = {**common, **row}
        # The channel model's own options are recorded; the other models' are not (as link rows).
        settings = {k: v for k, v in asdict(run).items() if (k not in row or row[k] is None) and k not in run.unused_channel_options()}
        out.append({**row, **settings, "run_id": identifier})
    return out


def _pair_rows(game: SemanticInterferenceGame, run: GameRun, pairs: list[LatentPair], seconds: float) -> list[dict]:
    design, conditions = game.design_, game.check_conditions()
    n_test = len(pairs[0].test)
    generators, orders = game.instance_orders(n_test)
    xs = [torch.stack([pair.test.tx[orders[b][q]] for b in range(len(orders))]) for q, pair in enumerate(pairs)]
    # The symbols meet the true channels (the designs know estimates when csi_error > 0).
    estimates = game.transmit(xs, generator=generators, channel=game.true_channel_)
    if len(orders) == 1:
        estimates = [e.unsqueeze(0) for e in estimates]
    limit = game.pu_limit()
    is_game = run.method.startswith("game-")
    # Primary-user interference measured on the true channels, and what the design believed of it.
    primary = game.primary_interference() if game.primary_users else None
    true_mse = game.true_mse()
    rows = []
    for b, (seed, _) in enumerate(game.instances()):
        pu_interference = pu_model = None
        if primary is not None and primary.total.shape[1]:
            pu_interference = float(primary.total[b].max())  # the most interfered primary receiver
            pu_model = float(primary.believed[b].sum(-1).max())
        for q, pair in enumerate(pairs):
            head = classifier(("game", run.latents, run.pairs, run.latents_options, q), pair.train.rx, pair.train.labels, seed)
            y_hat, order, test, pilots = estimates[q][b], orders[b][q], pair.test, game.pilots_[seed][q]
            rows.append(
                {
                    "schedule": run.schedule if is_game else None,
                    "seed": seed,
                    "pair": q,
                    "tx_encoder": pair.tx_encoder,
                    "rx_encoder": pair.rx_encoder,
                    "d_tx": pair.d_tx,
                    "d_rx": pair.d_rx,
                    "compression_factor": game.compression_factor(q),
                    "n_pilots": pilots.n_pilots,
                    "accuracy": accuracy(head, y_hat, test.labels[order]),
                    "clean_accuracy": accuracy(head, test.rx, test.labels),
                    "mse": mse(y_hat, test.rx[order]),
                    "model_mse": float(design.mse[b, q]) / pair.d_rx,
                    "true_model_mse": float(true_mse[b, q]) / pair.d_rx,
                    "residual_mse": pilots.residual_mse / pair.d_rx,
                    "nmse": float(design.mse[b, q]) / pilots.total_energy,
                    "converged": bool(design.converged[b]),
                    "iterations": int(design.iterations[b]),
                    "best_response_gap": float(design.best_response_gap[b, q]) if is_game else None,
                    "full_mimo_gap": float(design.full_mimo_gap[b, q]) if is_game else None,
                    "condition_holds": bool(conditions.holds[b]) if conditions.applicable else None,
                    "c1": float(conditions.c1[b]),
                    "c2": float(conditions.c2[b]),
                    "classical_condition": float(conditions.classical[b]),
                    "pu_limit_db": run.pu_limit_db,
                    "pu_interference": pu_interference,
                    "pu_interference_model": pu_model,
                    "pu_limit": limit,
                    "pu_limit_exceeded": None if pu_interference is None or limit is None or run.pu_protection == "null" else pu_interference > limit * (1 + 1e-9),
                    "pair_pu_interference": float(primary.per_pair[b, :, q].sum()) if primary is not None else None,
                    "pair_pu_interference_model": float(primary.believed[b, :, q].sum()) if primary is not None else None,
                    "fit_seconds": seconds / game.network_.n_instances,
                }
            )
    return rows


def _convergence_rows(game: SemanticInterferenceGame, run: GameRun, seconds: float) -> list[dict]:
    equilibrium, conditions = game.design_, game.check_conditions()
    rate = None
    if run.method == "game-fixed-eigenmode":
        reduced = EigenmodeGame.from_network(game.network_)
        powers = (reduced.tx_modes.mH @ equilibrium.precoders @ reduced.semantic_modes.mH).diagonal(dim1=-2, dim2=-1).abs().square()
        rate = local_rate(reduced, powers)
    return [
        {
            "schedule": run.schedule,
            "seed": seed,
            "draw": draw,
            "pair": None,
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
            "fit_seconds": seconds / game.network_.n_instances,
        }
        for b, (seed, draw) in enumerate(game.instances())
    ]


def _batched_fields(run: GameRun) -> tuple[str, ...]:
    """The method's batched estimator parameters as run settings (the game's ``seeds`` are runs' ``seed``)."""
    return tuple({"seeds": "seed"}.get(name, name) for name in get_method("game", run.method).batched)


def run_kind() -> RunKind:
    """The ``game`` run kind (where the registry says the games run: the CPU, small complex128 eigenproblems)."""
    return RunKind(
        "game", "game", GameRun, run_game_group, check_game_runs, _batched_fields,
        devices=devices_of("game"), alone=lambda run: run.schedule == "async",
        sort_columns=("experiment", "channel_model", "method", "pu_protection", "channel_uses", "cross_gain_db", "pu_limit_db", "csi_error", "robust", "schedule", "seed", "draw", "pair"),
    )  # fmt: skip
