"""Single-link runs for sweeps: one :class:`LinkRun` is one fitted and evaluated configuration.

``semalign run link key=value ...`` sweeps any of its fields. Runs that differ only in
:data:`BATCHED_FIELDS` (the SNR and the neural sparsity weight) share a channel, pilots and shapes,
so :func:`run_link_group` fits them as one batched solver call, through the same
:class:`~semalign.experiments.mimo.MimoRunner` as the single-link study (same channels per seed,
same pilots, same test-noise stream, same rows).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from semalign._checks import check_choice, check_positive_int
from semalign.experiments.mimo import METHODS, MimoGrid, MimoRunner
from semalign.link.noise import check_snr_convention
from semalign.link.packing import complex_dim

#: Fields that a batch of runs may vary (one solver call fits them all).
BATCHED_FIELDS = ("snr_db", "lam")
#: Fields naming where the latents come from (passed to :func:`~semalign.latents.load_latents`).
LATENT_FIELDS = ("tx", "rx", "dataset", "path")


@dataclass(frozen=True)
class LinkRun:
    """One single-link configuration (square N x N MIMO channel, one channel use per latent).

    Attributes:
        latents: latent source: ``digits`` (default), ``synthetic``, ``timm`` or a file path.
        tx, rx: encoder names (digits zoo or timm models; default: the source's default pair).
        dataset: data set of the ``timm`` source (e.g. ``cifar10``). path: file of the ``file`` source.
        method: ``linear-admm``, ``neural``, ``first-k``, ``top-k``, ``eigen-k`` or ``clean`` (the
            receiver's classifier on clean latents: the ceiling; its link settings are reset to
            the defaults, since it uses none).
        awareness: ``aware`` (perfect CSI when fitting) or ``unaware``.
        n_antennas: N = N_t = N_r, at most ceil(d_tx / 2).
        pilots_per_class: semantic pilots per class (0: every training sample).
        snr_db: SNR in dB under ``snr_convention`` (``total`` or ``per-antenna``).
        seed: seed of the channel, pilots, classifier and test noise.
        lam: neural sparsity weight.
        channel_variance: variance v of each channel entry; power: energy per latent vector.
        rho, iterations, processing: linear ADMM settings. neural_*: neural training settings.
            A method's run keeps the defaults of the settings it does not use (``lam`` and
            ``neural_*`` but for ``neural``, ``rho``, ``iterations``, ``processing`` but for
            ``linear-admm``), so sweeping them does not store one run several times.
        pilot_method, pilot_grouping: how pilots are chosen (see :func:`~semalign.latents.select_pilots`).
    """

    latents: str = "digits"
    tx: str | None = None
    rx: str | None = None
    dataset: str | None = None
    path: str | None = None
    method: str = "linear-admm"
    awareness: str = "aware"
    n_antennas: int = 4
    pilots_per_class: int = 100
    snr_db: float = 20.0
    seed: int = 27
    lam: float = 0.0
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

    def __post_init__(self) -> None:
        check_choice("method", self.method, (*METHODS, "clean"))
        check_choice("awareness", self.awareness, ("aware", "unaware"))
        check_snr_convention(self.snr_convention)
        check_positive_int("n_antennas", self.n_antennas)
        if self.pilots_per_class < 0:
            raise ValueError(f"pilots_per_class must be >= 0 (0: every training sample), got {self.pilots_per_class}")
        if not self.lam >= 0 or self.lam == float("inf"):
            raise ValueError(f"lam must be a finite number >= 0, got {self.lam!r}")
        if not self.channel_variance > 0:
            raise ValueError(f"channel_variance must be > 0, got {self.channel_variance!r}")
        if not self.power > 0:
            raise ValueError(f"power must be > 0, got {self.power!r}")
        # Settings a method ignores take their defaults, so a sweep over them does not store the
        # same run twice: lam is the neural model's; the clean ceiling uses no link at all.
        ignored = []
        if self.method != "neural":
            ignored += ["lam", "neural_epochs", "neural_lr", "neural_batch_size", "neural_validation_fraction"]
        if self.method != "linear-admm":
            ignored += ["rho", "iterations", "processing"]
        if self.method == "clean":
            ignored += ["awareness", "n_antennas", "pilots_per_class", "snr_db"]
        for name in ignored:
            object.__setattr__(self, name, LinkRun.__dataclass_fields__[name].default)

    def latent_options(self) -> dict:
        """Keyword arguments of :func:`~semalign.latents.load_latents` besides the source."""
        return {name: getattr(self, name) for name in LATENT_FIELDS if getattr(self, name) is not None}

    def grid(self) -> MimoGrid:
        """The study settings this run shares with every run of its batch (no swept lists)."""
        fields = asdict(self)
        return MimoGrid(
            latents=self.latents,
            latents_options=self.latent_options(),
            seeds=(self.seed,),
            methods=("linear-admm",),  # unused by the runner: the method is per batch
            **{k: fields[k] for k in ("snr_convention", "channel_variance", "power", "rho", "iterations", "processing", "pilot_method", "pilot_grouping", "neural_epochs", "neural_lr", "neural_batch_size", "neural_validation_fraction")},
        )


def check_link_runs(runs: list[LinkRun]) -> None:
    """Check every run against its latents' size before anything runs.

    Raises:
        ValueError: an antenna count above ceil(d_tx / 2) (naming the offending values), or a
            latent source that cannot be loaded.
    """
    by_source: dict[tuple, list[LinkRun]] = {}
    for run in runs:
        by_source.setdefault((run.latents, tuple(sorted(run.latent_options().items()))), []).append(run)
    for (source, options), members in by_source.items():
        pair = _latents(source, options)
        m = complex_dim(pair.d_tx)
        too_big = sorted({r.n_antennas for r in members if r.n_antennas > m and r.method != "clean"})
        if too_big:
            raise ValueError(f"n_antennas {too_big} exceed the complex latent size ceil(d_tx/2) = {m} of {source} latents (d_tx = {pair.d_tx}); expected at most {m}")


def latents_version(run: LinkRun) -> str:
    """Fingerprint of the latents a run reads, for its run id: when the ``timm`` caches were
    written (a re-extraction changes it), or a latent file's size and modification time; empty for
    the built-in sources, which are versioned with the package."""
    if run.latents == "timm":
        from semalign.latents.extract import PAPER_RX, PAPER_TX, cached_metadata

        dataset = run.dataset or "cifar10"
        stamps = [cached_metadata(dataset, model, split).get("created", "missing") for model in (run.tx or PAPER_TX, run.rx or PAPER_RX) for split in ("train", "test")]
        return "timm:" + ",".join(stamps)
    path = Path(run.path or run.latents)
    if run.latents not in ("digits", "synthetic") and path.is_file():
        stat = path.stat()
        return f"file:{stat.st_size}:{stat.st_mtime_ns}"
    return ""


# The last runners of this process (a Dask worker keeps its own): latents, classifiers, pilots and
# Gram statistics are reused by every batch with the same settings. Batches with the same settings
# run one after another, so two are enough; more would hold every latent set in memory.
_RUNNERS: dict[tuple[str, str], MimoRunner] = {}
_KEEP_RUNNERS = 2


def _keep(cache: dict, key, make):
    """``cache[key]``, made by ``make()`` if missing; the cache keeps the last two entries."""
    if key not in cache:
        while len(cache) >= _KEEP_RUNNERS:
            cache.pop(next(iter(cache)))
        cache[key] = make()
    return cache[key]


# Latents by (source, options): the checks before a sweep and its runners read them once.
_LATENTS: dict[tuple, object] = {}


def _latents(source: str, options: tuple):
    from semalign.latents import load_latents

    return _keep(_LATENTS, (source, options), lambda: load_latents(source, **dict(options)))


def _runner(grid: MimoGrid, device: str) -> MimoRunner:
    options = tuple(sorted(grid.latents_options.items()))
    key = (grid.settings_hash() + repr(grid.latents) + repr(options), device)
    return _keep(_RUNNERS, key, lambda: MimoRunner(grid, _latents(grid.latents, options), device=device))


def run_link_group(runs: list[LinkRun], run_ids: list[str], device: str = "cpu") -> list[dict]:
    """Fit and evaluate runs that differ only in :data:`BATCHED_FIELDS`, as one batch.

    Args:
        runs: the batch's runs (all other fields equal).
        run_ids: the id of each run, recorded in its row.
        device: torch device.

    Returns:
        one row per run, in order: the study's row columns plus ``run_id`` and the run's fields.
    """
    first = runs[0]
    runner = _runner(first.grid(), device)
    pilots = first.pilots_per_class or None
    neural = first.method == "neural"
    configurations = [(run.snr_db, run.lam if neural else None) for run in runs]
    rows = runner.run_batch(
        experiment="link",
        method=first.method,
        awareness=first.awareness if first.method != "clean" else "none",
        pilots_per_class=pilots,
        n_antennas=first.n_antennas,
        seed=first.seed,
        configurations=configurations,
        run_key=run_ids[0] if len(runs) == 1 else f"{run_ids[0]}+{len(runs) - 1}",
    )
    if first.method == "clean":
        rows = rows * len(runs)  # the ceiling does not depend on the swept link settings
    out = []
    for run, run_id, row in zip(runs, run_ids, rows, strict=True):
        settings = {k: v for k, v in asdict(run).items() if k not in row and k not in LATENT_FIELDS}
        out.append({**row, **settings, "run_id": run_id})
    return out
