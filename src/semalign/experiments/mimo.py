"""The single-link study of the MIMO paper: accuracy vs compression factor, vs SNR and vs FLOPs.

A :class:`MimoGrid` describes the study; :func:`plan_tasks` expands it into tasks (one method,
awareness, pilot budget, antenna count and seed; the SNR values of a task, or the sparsity weights
of a neural ``flops`` task, are fitted as one batch of configurations); :func:`run_mimo` executes the tasks not yet stored, writes each task's rows as
soon as it finishes, merges them into ``results.parquet`` and draws the figures.

Every method of a seed sees the same channel (:func:`~semalign.link.channel.channel_for_seed`), the
same pilots and the same test-noise stream; accuracy and MSE are computed on the same estimates ŷ.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

import semalign
from semalign._checks import check_choice, check_positive_int
from semalign.latents import LatentPair, load_latents, select_pilots
from semalign.link.channel import channel_for_seed
from semalign.link.noise import check_snr_convention
from semalign.link.packing import complex_dim
from semalign.tasks import accuracy, mse, train_classifier
from semalign.transceivers.baselines import BASELINES
from semalign.transceivers.linear_admm import LinearSemanticTransceiver, gram_statistics
from semalign.transceivers.neural import NeuralSemanticTransceiver

METHODS = ("linear-admm", "neural", "first-k", "top-k", "eigen-k")
EXPERIMENTS = ("compression", "snr", "flops")
# Methods whose inference cost is compared in the ``flops`` experiment (spec mimo.md §3.4).
FLOPS_METHODS = ("linear-admm", "neural")
PAPER_SEEDS = (27, 42, 100, 123, 144, 200)


@dataclass(frozen=True)
class MimoGrid:
    """The study's settings. ``compression_antennas=None`` means powers of two up to the full
    complex latent size ceil(d_tx/2), which is included. Antennas are square (N_t = N_r = N), one
    channel use per latent, as in the paper. The ``flops`` experiment fits linear ADMM and the
    neural model (over the sparsity weights ``flops_lams``, batched) at ``flops_antennas``, aware,
    at ``compression_snr_db`` with ``flops_pilots`` pilots per class."""

    latents: str = "digits"
    latents_options: dict = field(default_factory=dict)
    seeds: tuple[int, ...] = PAPER_SEEDS
    methods: tuple[str, ...] = METHODS
    awareness: tuple[str, ...] = ("aware", "unaware")
    compression_antennas: tuple[int, ...] | None = None
    compression_pilots: tuple[int, ...] = (100, 50, 20, 10)
    compression_snr_db: float = 20.0
    snr_values: tuple[float, ...] = (-20.0, -10.0, 0.0, 10.0, 20.0, 30.0)
    snr_antennas: int = 4
    snr_pilots: int = 100
    snr_convention: str = "total"
    channel_variance: float = 1.0
    power: float = 1.0
    rho: float = 100.0
    iterations: int = 20
    processing: str = "widely-linear"
    pilot_method: str = "random"
    pilot_grouping: str = "label"
    neural_epochs: int = 100
    neural_lr: float = 1e-2
    neural_batch_size: int = 256
    neural_validation_fraction: float = 0.1
    flops_antennas: tuple[int, ...] = (2, 4)
    flops_lams: tuple[float, ...] = (0.0, 1e-4, 3e-4, 1e-3, 3e-3)
    flops_pilots: int = 100

    def __post_init__(self) -> None:
        for method in self.methods:
            check_choice("method", method, METHODS)
        for aw in self.awareness:
            check_choice("awareness", aw, ("aware", "unaware"))
        check_snr_convention(self.snr_convention)
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")
        for antennas in self.compression_antennas or ():
            check_positive_int("compression_antennas", antennas)
        for pilots in self.compression_pilots:
            check_positive_int("compression_pilots", pilots)
        check_positive_int("snr_antennas", self.snr_antennas)
        check_positive_int("snr_pilots", self.snr_pilots)
        check_positive_int("neural_epochs", self.neural_epochs)
        check_positive_int("neural_batch_size", self.neural_batch_size)
        check_positive_int("flops_pilots", self.flops_pilots)
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

    def settings_hash(self) -> str:
        """Short hash of everything that changes a row; it prefixes task keys so a changed grid
        never reuses stale parts in the same folder."""
        fixed = asdict(self)
        for swept in ("seeds", "methods", "awareness", "compression_antennas", "compression_pilots", "snr_values", "flops_antennas", "flops_lams"):
            fixed.pop(swept)
        return hashlib.sha1(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()[:8]


def quick_grid(**overrides) -> MimoGrid:
    """A few-minute grid: both experiments, every method, two seeds, aware and unaware."""
    base = MimoGrid(seeds=(27, 42), compression_pilots=(100, 20), snr_values=(-20.0, -10.0, 10.0, 30.0))
    return replace(base, **overrides)


def full_grid(**overrides) -> MimoGrid:
    """The complete grid: six seeds, four pilot budgets, SNR from -20 to 30 dB."""
    return replace(MimoGrid(), **overrides)


@dataclass(frozen=True)
class Task:
    """One fit: a method, awareness, pilot budget, antenna count and seed, over ``snrs`` (or, for a
    neural ``flops`` task, over the sparsity weights ``lams`` at one SNR) at once."""

    experiment: str
    method: str
    awareness: str
    pilots_per_class: int | None
    n_antennas: int | None
    seed: int
    snrs: tuple[float, ...]
    prefix: str
    lams: tuple[float, ...] = ()

    @property
    def key(self) -> str:
        pilots = "all" if self.pilots_per_class is None else self.pilots_per_class
        lams = "-lam" + hashlib.sha1(json.dumps(list(self.lams)).encode()).hexdigest()[:6] if self.lams else ""
        return f"{self.prefix}-{self.experiment}-{self.method}-{self.awareness}-p{pilots}-n{self.n_antennas}-s{self.seed}{lams}"

    @property
    def configurations(self) -> list[tuple[float, float | None]]:
        """``(snr_db, lam)`` of each configuration fitted at once."""
        if self.lams:
            return [(self.snrs[0], float(lam)) for lam in self.lams]
        return [(float(snr), None) for snr in self.snrs]


def plan_tasks(grid: MimoGrid, d_tx: int) -> list[Task]:
    """Every task of the study, the clean references first.

    Raises ``ValueError`` if an antenna count exceeds the complex latent size ceil(d_tx/2).
    """
    m = complex_dim(d_tx)
    for name, antennas in (("snr_antennas", grid.snr_antennas), *(("flops_antennas", a) for a in grid.flops_antennas)):
        if antennas > m:
            raise ValueError(
                f"{name} {antennas} exceeds the complex latent size ceil(d_tx/2) = {m} (d_tx = {d_tx}); expected at most {m}"
            )
    prefix = grid.settings_hash()
    flops_methods = [method for method in grid.methods if method in FLOPS_METHODS]
    experiments = [exp for exp in EXPERIMENTS if exp != "flops" or flops_methods]
    tasks = [Task(exp, "clean", "none", None, None, seed, (), prefix) for exp in experiments for seed in grid.seeds]
    for seed in grid.seeds:
        for method in grid.methods:
            for aw in grid.awareness:
                for pilots in grid.compression_pilots:
                    for n in grid.antennas_for(d_tx):
                        tasks.append(Task("compression", method, aw, pilots, n, seed, (grid.compression_snr_db,), prefix))
                tasks.append(Task("snr", method, aw, grid.snr_pilots, grid.snr_antennas, seed, tuple(grid.snr_values), prefix))
        for method in flops_methods:
            lams = tuple(grid.flops_lams) if method == "neural" else ()
            for n in grid.flops_antennas:
                tasks.append(Task("flops", method, "aware", grid.flops_pilots, n, seed, (grid.compression_snr_db,), prefix, lams))
    return tasks


def make_transceiver(method: str, channel: torch.Tensor, snrs, grid: MimoGrid, awareness: str, seed: int, device: str, lams=None):
    """The transceiver of ``method`` for a batch of configurations ``channel`` ``(b, N, N)`` (``lams``:
    the neural sparsity weight of each configuration)."""
    common = dict(
        snr_db=torch.as_tensor(snrs, dtype=torch.float64),
        power=grid.power,
        snr_convention=grid.snr_convention,
        channel_variance=grid.channel_variance,
        awareness=awareness,
        seed=seed,
        device=device,
    )
    if method == "linear-admm":
        return LinearSemanticTransceiver(channel, rho=grid.rho, iterations=grid.iterations, processing=grid.processing, **common)
    if method == "neural":
        return NeuralSemanticTransceiver(
            channel,
            epochs=grid.neural_epochs,
            lr=grid.neural_lr,
            batch_size=grid.neural_batch_size,
            validation_fraction=grid.neural_validation_fraction,
            lam=0.0 if lams is None else list(lams),
            **common,
        )
    return BASELINES[method](channel, **common)


def test_noise_generator(seed: int, device: str) -> torch.Generator:
    """The test-noise stream of a seed, shared by every method. Always a CPU generator (the noise
    is drawn there and moved): CUDA's generator gives other numbers for the same seed, and the same
    seed should give the same test noise on every device."""
    return torch.Generator(device="cpu").manual_seed(10_007 * int(seed) + 1)


class MimoRunner:
    """Executes tasks with shared caches: classifiers per seed, pilots and Gram statistics per
    (seed, pilot budget), so every antenna count reuses one pass over the pilots."""

    def __init__(self, grid: MimoGrid, pair: LatentPair, device: str = "cpu") -> None:
        self.grid, self.pair, self.device = grid, pair, device
        self._classifiers: dict[int, torch.nn.Module] = {}
        self._pilots: dict[tuple[int, int | None], torch.Tensor] = {}
        self._stats: dict[tuple[int, int | None], object] = {}
        self._common = {
            "dataset": pair.dataset,
            "tx_encoder": pair.tx_encoder,
            "rx_encoder": pair.rx_encoder,
            "d_tx": pair.d_tx,
            "d_rx": pair.d_rx,
            "snr_convention": grid.snr_convention,
            "channel_variance": grid.channel_variance,
            "power": grid.power,
            "pilot_method": grid.pilot_method,
            "pilot_grouping": grid.pilot_grouping,
            "semalign_version": semalign.__version__,
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "device": str(device),
        }

    def classifier(self, seed: int):
        if seed not in self._classifiers:
            self._classifiers[seed] = train_classifier(self.pair.train.rx, self.pair.train.labels, seed=seed, device=self.device)
        return self._classifiers[seed]

    def pilots(self, seed: int, per_class: int | None) -> torch.Tensor:
        key = (seed, per_class)
        if key not in self._pilots:
            self._pilots[key] = select_pilots(
                self.pair.train, per_class, method=self.grid.pilot_method, grouping=self.grid.pilot_grouping, seed=seed
            )
        return self._pilots[key]

    def run(self, task: Task) -> list[dict]:
        """Fit and evaluate one task; returns its result rows."""
        return self.run_batch(
            experiment=task.experiment,
            method=task.method,
            awareness=task.awareness,
            pilots_per_class=task.pilots_per_class,
            n_antennas=task.n_antennas,
            seed=task.seed,
            configurations=task.configurations,
            run_key=task.key,
        )

    def run_batch(
        self,
        *,
        experiment: str,
        method: str,
        awareness: str,
        pilots_per_class: int | None,
        n_antennas: int | None,
        seed: int,
        configurations: list[tuple[float, float | None]],
        run_key: str,
    ) -> list[dict]:
        """Fit one method on one channel and pilot set for a batch of ``(snr_db, lam)``
        configurations at once (``lam``: the neural sparsity weight, ``None`` for other methods),
        and evaluate each; returns one row per configuration (one row in all for ``clean``)."""
        test = self.pair.test
        head = self.classifier(seed)
        base = {**self._common, "experiment": experiment, "method": method, "seed": seed, "awareness": awareness, "run_key": run_key}
        if method == "clean":
            return [{**base, "accuracy": accuracy(head, test.rx, test.labels), "mse": 0.0}]
        idx = self.pilots(seed, pilots_per_class)
        x, y = self.pair.train.tx[idx].to(self.device), self.pair.train.rx[idx].to(self.device)
        n = n_antennas
        h = channel_for_seed(seed, n, n, channel_variance=self.grid.channel_variance, device=self.device)
        snrs = [snr for snr, _ in configurations]
        neural_lams = [0.0 if lam is None else lam for _, lam in configurations] if method == "neural" else None
        channel = h.unsqueeze(0).expand(len(configurations), n, n)
        model = make_transceiver(method, channel, snrs, self.grid, awareness, seed, self.device, neural_lams)
        start = time.perf_counter()
        if method == "linear-admm":
            stats_key = (seed, pilots_per_class)
            if stats_key not in self._stats:
                self._stats[stats_key] = gram_statistics(x, y, model.domain)
            model.fit_statistics(self._stats[stats_key])
        else:
            model.fit(x, y)
        fit_seconds = time.perf_counter() - start
        y_hat = model.transmit(test.tx.to(self.device), generator=test_noise_generator(seed, self.device))
        flops = model.inference_flops() if hasattr(model, "inference_flops") else None
        linear, neural = method == "linear-admm", method == "neural"
        rows = []
        for i, snr in enumerate(snrs):
            rows.append(
                {
                    **base,
                    "snr_db": float(snr),
                    "channel_uses": int(model.channel_uses),
                    "n_tx": n,
                    "n_rx": n,
                    "compression_factor": model.compression_factor(self.pair.d_tx),
                    "pilots_per_class": pilots_per_class,
                    "n_pilots": int(idx.numel()),
                    "accuracy": accuracy(head, y_hat[i], test.labels),
                    "mse": mse(y_hat[i], test.rx),
                    "noise_variance": float(model.noise_variance()[i]),
                    "flops": None if flops is None else int(flops[i]),
                    "sparsity": float(model.sparsity_[i]) if neural else None,
                    "lam": neural_lams[i] if neural else None,
                    "iterations": self.grid.iterations if linear else None,
                    "rho": self.grid.rho if linear else None,
                    "processing": self.grid.processing if linear else None,
                    "epochs": int(model.n_epochs_) if neural else None,
                    "best_epoch": int(model.best_epoch_[i]) if neural else None,
                    "learning_rate": self.grid.neural_lr if neural else None,
                    "batch_size": self.grid.neural_batch_size if neural else None,
                    "fit_seconds": fit_seconds / len(configurations),
                }
            )
        return rows


def run_mimo(grid: MimoGrid, out_dir: str | Path, *, device: str = "cpu", progress: bool = True, figures: bool = True):
    """Run (or resume) the study into ``out_dir``; returns the results as a Polars DataFrame.

    Writes ``out_dir/parts/*.parquet`` as tasks finish, ``out_dir/results.parquet``,
    ``out_dir/grid.json`` and, with ``figures``, PNGs in ``out_dir/figures/``.
    """
    from semalign.experiments.figures import draw_mimo_figures
    from semalign.experiments.store import ResultStore, run_tasks

    out_dir = Path(out_dir)
    pair = load_latents(grid.latents, **grid.latents_options)
    # Validate antennas and pilot budgets before anything is written (pilots are cached for the run).
    tasks = plan_tasks(grid, pair.d_tx)
    runner = MimoRunner(grid, pair, device=device)
    for seed in grid.seeds:
        for pilots in sorted({*grid.compression_pilots, grid.snr_pilots, grid.flops_pilots}):
            runner.pilots(seed, pilots)
    store = ResultStore(out_dir)
    (out_dir / "grid.json").write_text(json.dumps(asdict(grid), indent=2, default=str))
    describe = lambda task: f"{task.experiment} {task.method} {task.awareness} N={task.n_antennas} seed={task.seed}"  # noqa: E731
    results = run_tasks(store, tasks, runner.run, label="mimo", describe=describe, progress=progress)
    if figures and results.height:
        draw_mimo_figures(results, out_dir / "figures")
    return results
