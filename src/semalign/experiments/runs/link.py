"""Single-link runs: one :class:`LinkRun` is one fitted and evaluated configuration of one method.

``semalign run link key=value ...`` sweeps any of its fields, and the single-link study
(``semalign reproduce mimo``) is a named grid of them. Runs that differ only in what their method can
batch (the SNR; the neural sparsity weight too) share a channel, pilots and shapes, so
:func:`run_link_group` fits them as one batched solver call.

Every method of a seed sees the same channel (:meth:`~semalign.link.channel_models.ChannelModel.for_seed`), the
same pilots and the same test-noise stream (the ``test-noise`` stream of the seed); accuracy and
MSE are computed on the same estimates ŷ, by the receiver's classifier trained on its clean latents.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from semalign._checks import check_choice, check_positive, check_positive_int
from semalign._seeds import stream_generator
from semalign._vocabulary import AWARENESS, BASELINE_RECEIVERS, PROCESSING
from semalign.experiments.engine import RunContext, RunKind
from semalign.experiments.runs.common import LastUsed, LinkConventions, cached_latents, canonical_options, check_pilot_estimation, check_snr_db, classifier, provenance
from semalign.latents import LatentPair, load_latents, select_pilots
from semalign.link.channel_models import options_of
from semalign.link.csi import check_csi_error, check_doppler, estimate_channel, estimate_of, gauss_markov_channels
from semalign.link.link import Link
from semalign.link.packing import complex_dim
from semalign.methods import devices_of, get_method, method_names
from semalign.tasks import accuracy, mse
from semalign.transceivers.baselines import check_robust_receiver
from semalign.transceivers.linear_admm import gram_statistics

#: The feature-selection baselines (their receiver is a setting).
BASELINES = ("first-k", "top-k", "eigen-k")

#: Fields naming where the latents come from (passed to :func:`~semalign.latents.load_latents`).
LATENT_FIELDS = ("tx", "rx", "dataset", "path")


@dataclass(frozen=True)
class LinkSolverSettings(LinkConventions):
    """The single-link methods' settings a run and the single-link study share.

    Attributes:
        rho, iterations, processing: linear ADMM's penalty, iteration count and class of maps.
        baseline_receiver: the First-K / Top-K / Eigen-K receiver, ``received`` (a map learned from
            the pilots as received) or ``published`` (the published design, which fails on nearly
            low-rank latents; see :mod:`semalign.transceivers.baselines`).
        pilot_method, pilot_grouping: how pilots are chosen (see :func:`~semalign.latents.select_pilots`).
        neural_epochs, neural_lr, neural_batch_size, neural_validation_fraction: neural training.
    """

    rho: float = 100.0
    iterations: int = 20
    processing: str = "widely-linear"
    baseline_receiver: str = "received"
    pilot_method: str = "random"
    pilot_grouping: str = "label"
    neural_epochs: int = 1000
    neural_lr: float = 1e-2
    neural_batch_size: int = 256
    neural_validation_fraction: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("processing", self.processing, PROCESSING)
        check_choice("baseline_receiver", self.baseline_receiver, BASELINE_RECEIVERS)
        check_positive("rho", self.rho)
        check_positive_int("iterations", self.iterations)
        check_positive_int("neural_epochs", self.neural_epochs)
        check_positive("neural_lr", self.neural_lr)
        check_positive_int("neural_batch_size", self.neural_batch_size)
        if not 0.0 <= self.neural_validation_fraction < 1.0:
            raise ValueError(f"neural_validation_fraction must be in [0, 1), got {self.neural_validation_fraction!r}")


@dataclass(frozen=True)
class LinkRun(LinkSolverSettings):
    """One single-link configuration (square N x N MIMO channel, one channel use per latent).

    Attributes:
        latents: latent source: ``digits`` (default), ``synthetic``, ``timm``, ``file`` or a file path.
        tx, rx: encoder names (digits zoo or timm models; default: the source's default pair).
        dataset: data set of the ``timm`` source (e.g. ``cifar10``). path: file of the ``file`` source.
        latents_options: further keyword arguments of the source's loader as a JSON object, e.g.
            ``{"n_train": 600, "d_tx": 24}`` for ``synthetic`` latents.
        method: a registered single-link method (``linear-admm``, ``neural``, ``first-k``, ``top-k``,
            ``eigen-k``) or ``clean`` (the receiver's classifier on clean latents: the ceiling; its
            link settings are reset to the defaults, since it uses none).
        awareness: ``aware`` (perfect CSI when fitting) or ``unaware``.
        n_antennas: N = N_t = N_r, at most ceil(d_tx / 2).
        pilots_per_class: semantic pilots per class (0: every training sample).
        snr_db: SNR in dB under ``snr_convention`` (``total`` or ``per-antenna``).
        seed: seed of the channel, pilots, classifier and test noise.
        lam: neural sparsity weight.
        experiment: the label of the study part the run belongs to (``compression``, ``snr``,
            ``flops`` in the single-link study; ``link`` for a sweep); recorded in the rows.
        csi_error: the fraction ε of the channel's power the design's estimate misses (the error
            model of :mod:`semalign.link.csi`: the estimate is drawn around the seed's channel).
        pilot_snr_db, csi_pilots: instead of ``csi_error``, estimate the channel from ``csi_pilots``
            orthogonal pilots per transmit antenna at this pilot SNR (LMMSE); the implied ε is recorded.
        doppler, coherence: at test time the channel evolves (Gauss-Markov, Jakes' correlation at
            normalised Doppler ``doppler`` per latent) in blocks of ``coherence`` latents, while the
            design keeps the channel it was fitted for (outdated CSI).
        robust: design for the channels the estimate stands for (averaging over the CSI error).
        channel_uses: T channel uses per latent (T x N symbols carry a latent).
        The link conventions, the channel model and its options (:class:`LinkConventions`;
        imperfect CSI is modelled on i.i.d. channels, per subcarrier on TDL/CDL; outdated CSI on
        flat ones) and the methods' settings
        are those of :class:`LinkSolverSettings`.
        The link conventions and the methods' settings are those of :class:`LinkSolverSettings`. A
        method's run keeps the defaults of the settings it does not use (``lam`` and ``neural_*``
        but for ``neural``, ``rho``, ``iterations``, ``processing`` but for ``linear-admm``,
        ``baseline_receiver`` but for the baselines), so sweeping them does not store one run
        several times.
    """

    latents: str = "digits"
    tx: str | None = None
    rx: str | None = None
    dataset: str | None = None
    path: str | None = None
    latents_options: str | None = None
    method: str = "linear-admm"
    awareness: str = "aware"
    n_antennas: int = 4
    pilots_per_class: int = 100
    snr_db: float = 20.0
    seed: int = 27
    lam: float = 0.0
    experiment: str = "link"
    csi_error: float = 0.0
    pilot_snr_db: float | None = None
    csi_pilots: int = 8
    doppler: float = 0.0
    coherence: int = 10
    robust: bool = False
    channel_uses: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("method", self.method, (*method_names("single-link"), "clean"))
        check_choice("awareness", self.awareness, AWARENESS)
        check_positive_int("n_antennas", self.n_antennas)
        check_snr_db(self.snr_db)
        if self.pilots_per_class < 0:
            raise ValueError(f"pilots_per_class must be >= 0 (0: every training sample), got {self.pilots_per_class}")
        if not self.lam >= 0 or self.lam == float("inf"):
            raise ValueError(f"lam must be a finite number >= 0, got {self.lam!r}")
        check_csi_error(self.csi_error)
        check_pilot_estimation(pilot_snr_db=self.pilot_snr_db, csi_pilots=self.csi_pilots, csi_error=self.csi_error, n_antennas=self.n_antennas)
        check_positive_int("coherence", self.coherence)
        check_doppler(self.doppler)
        check_positive_int("channel_uses", self.channel_uses)
        if self.method in BASELINES:
            check_robust_receiver(self.robust, self.baseline_receiver, "baseline_receiver")
        if self.latents_options is not None:
            object.__setattr__(self, "latents_options", canonical_options(self.latents_options))
        # Settings a method ignores take their defaults, so a sweep over them does not store the
        # same run twice.
        for name in self.ignored_settings():
            object.__setattr__(self, name, LinkRun.__dataclass_fields__[name].default)
        # Estimates (error model or pilots) are made per subcarrier on TDL/CDL; their channels' evolution is not modelled.
        self.check_csi_model_for(csi_error=self.csi_error, pilot_snr_db=self.pilot_snr_db, doppler=self.doppler, per_subcarrier=("csi_error", "pilot_snr_db"))

    def ignored_settings(self) -> tuple[str, ...]:
        """The settings the run's method does not use: ``lam`` and ``neural_*`` are the neural
        model's, ``rho``, ``iterations`` and ``processing`` linear ADMM's, ``baseline_receiver``
        the baselines'; the options of other channel models; the clean ceiling uses no link at all."""
        ignored = []
        if self.method != "neural":
            ignored += ["lam", "neural_epochs", "neural_lr", "neural_batch_size", "neural_validation_fraction"]
        if self.method != "linear-admm":
            ignored += ["rho", "iterations", "processing"]
        if self.method not in BASELINES:
            ignored += ["baseline_receiver"]
        if self.pilot_snr_db is None:
            ignored += ["csi_pilots"]
        if self.doppler == 0:
            ignored += ["coherence"]
        if self.awareness == "unaware":
            ignored += ["csi_error", "pilot_snr_db", "csi_pilots", "robust"]  # it knows no channel at all
        elif not (self.csi_error or self.pilot_snr_db is not None):
            ignored += ["robust"]  # nothing to be robust to
        ignored += self.unused_channel_options()
        if self.method == "clean":
            ignored += ["awareness", "n_antennas", "pilots_per_class", "snr_db", "csi_error", "pilot_snr_db", "csi_pilots", "doppler", "coherence", "robust"]
            ignored += ["channel_uses", "channel_model", *options_of(self.channel_model)]
        return tuple(ignored)

    def csi(self) -> str:
        """What the design knows of the channel: ``perfect``, ``error-model`` (``csi_error``) or
        ``estimated`` (from pilots); ``outdated`` (perfect when fitted) or ``+outdated`` when the
        channel then changes."""
        if self.pilot_snr_db is not None:
            known = "estimated"
        elif self.csi_error:
            known = "error-model"
        else:
            return "outdated" if self.doppler else "perfect"
        return known + "+outdated" if self.doppler else known

    def latent_options(self) -> dict:
        """Keyword arguments of :func:`~semalign.latents.load_latents` besides the source."""
        options = json.loads(self.latents_options) if self.latents_options else {}
        return {**options, **{name: getattr(self, name) for name in LATENT_FIELDS if getattr(self, name) is not None}}

    def latents_key(self) -> tuple:
        return (self.latents, tuple(sorted(self.latent_options().items())))


def latents_of(run: LinkRun) -> LatentPair:
    """The run's latent pair (loaded once per process)."""
    return cached_latents(run.latents_key(), lambda: load_latents(run.latents, **run.latent_options()))


def check_link_runs(runs: list[LinkRun]) -> None:
    """Check every run against its latents' size before anything runs.

    Raises:
        ValueError: an antenna count above ceil(d_tx / 2) (naming the offending values), a pilot
            budget a class cannot fill, or a latent source that cannot be loaded.
    """
    by_source: dict[tuple, list[LinkRun]] = {}
    for run in runs:
        by_source.setdefault(run.latents_key(), []).append(run)
    for (source, _), members in by_source.items():
        pair = latents_of(members[0])
        m = complex_dim(pair.d_tx)
        too_big = sorted({(r.channel_uses, r.n_antennas) for r in members if r.channel_uses * r.n_antennas > m and r.method != "clean"})
        if too_big and all(t == 1 for t, _ in too_big):
            raise ValueError(f"n_antennas {[n for _, n in too_big]} exceed the complex latent size ceil(d_tx/2) = {m} of {source} latents (d_tx = {pair.d_tx}); expected at most {m}")
        if too_big:
            raise ValueError(
                f"channel_uses x n_antennas {too_big} exceed the complex latent size ceil(d_tx/2) = {m} of {source} latents (d_tx = {pair.d_tx}); "
                f"expected channel_uses * n_antennas <= {m}"
            )
        # Pilots are selected now (cheap, and deterministic): a budget a class cannot fill fails here.
        for run in dict.fromkeys(replace(r, experiment="", method="linear-admm", awareness="aware", n_antennas=1, snr_db=0.0) for r in members if r.method != "clean"):
            try:
                _pilots(run, pair)
            except ValueError as error:  # name the run's setting, not the selector's argument
                raise ValueError(f"pilots_per_class={run.pilots_per_class} does not fit the {source} latents: {error}") from None


def expected_cost(run: LinkRun) -> float:
    """What a run costs relative to a linear ADMM fit, for the progress display's time left: a
    neural fit trains for hundreds of epochs (about 7 s on digits against 0.02-0.05 s for a closed
    form, measured in the quick study), the clean reference only classifies."""
    return {"neural": 100.0, "clean": 0.2}.get(run.method, 1.0)


def latents_version(run: LinkRun) -> str:
    """Fingerprint of the latents a run reads, for its run id: when the ``timm`` caches were
    written (a re-extraction changes it), or a latent file's size and modification time; empty for
    the built-in sources, which are versioned with the package."""
    if run.latents == "timm":
        from semalign.latents.cache import PAPER_RX, PAPER_TX, cached_metadata

        dataset = run.dataset or "cifar10"
        stamps = [cached_metadata(dataset, model, split).get("created", "missing") for model in (run.tx or PAPER_TX, run.rx or PAPER_RX) for split in ("train", "test")]
        return "timm:" + ",".join(stamps)
    path = Path(run.path or run.latents)
    if run.latents not in ("digits", "synthetic") and path.is_file():
        stat = path.stat()
        return f"file:{stat.st_size}:{stat.st_mtime_ns}"
    return ""


# Gram statistics of a pilot set are shared by every antenna count and SNR of its seed.
_STATISTICS = LastUsed(8)


def _pilots(run: LinkRun, pair: LatentPair) -> torch.Tensor:
    return select_pilots(pair.train, run.pilots_per_class or None, method=run.pilot_method, grouping=run.pilot_grouping, seed=run.seed)


def _transceiver(run: LinkRun, channel: torch.Tensor, snrs: list[float], lams: list[float] | None, device: str, csi_error: float = 0.0):
    """The transceiver of ``run.method`` for a batch of configurations ``channel`` ``(b, n_rx, n_tx)``
    in the link's layout (the channel the design knows, with the error fraction ``csi_error`` it
    misses; block diagonal over the subcarriers for a frequency-selective model)."""
    link = Link(
        channel, torch.as_tensor(snrs, dtype=torch.float64), run.power, snr_convention=run.snr_convention,
        channel_variance=run.channel_variance, csi_error=csi_error, device=device, **run.channel().link_settings(run.channel_uses),
    )  # fmt: skip
    common = dict(link=link, awareness=run.awareness, seed=run.seed, device=device, robust=run.robust)
    extra = {}
    if run.method == "linear-admm":
        extra = dict(rho=run.rho, iterations=run.iterations, processing=run.processing)
    elif run.method == "neural":
        extra = dict(
            epochs=run.neural_epochs, lr=run.neural_lr, batch_size=run.neural_batch_size,
            validation_fraction=run.neural_validation_fraction, lam=list(lams),
        )  # fmt: skip
    elif run.method in BASELINES:
        extra = dict(receiver=run.baseline_receiver)
    return get_method("single-link", run.method).create(**common, **extra)


def run_link_group(runs: list[LinkRun], run_ids: list[str], context: RunContext = RunContext()) -> list[dict]:
    """Fit and evaluate runs that differ only in what their method batches, as one batched call
    (runs of several seeds or awarenesses, for a method that trains those together, as one
    training loop of one fit per seed and awareness).

    Args:
        runs: the group's runs (all other fields equal).
        run_ids: the id of each run, recorded in its row.
        context: where the solvers run.

    Returns:
        one row per run, in order: the measured columns, the run's settings, ``setting`` and ``run_id``.
    """
    device = context.device
    pair = latents_of(runs[0])
    fits: dict[tuple, list[int]] = {}  # (seed, awareness) -> positions of its runs
    for k, run in enumerate(runs):
        fits.setdefault((run.seed, run.awareness), []).append(k)
    rows: list[dict | None] = [None] * len(runs)
    if runs[0].method == "clean":
        for members in fits.values():
            first = runs[members[0]]
            head = classifier((first.latents_key(), "rx"), pair.train.rx, pair.train.labels, first.seed, device)
            row = {**_base_row(first, pair, device), "accuracy": accuracy(head, pair.test.rx, pair.test.labels), "mse": 0.0}
            for k in members:
                rows[k] = row
    else:
        prepared = [_prepare_fit([runs[k] for k in members], pair, device) for members in fits.values()]
        start = time.perf_counter()
        entry = get_method("single-link", runs[0].method)
        if len(prepared) > 1 and entry.trained_together:
            entry.estimator.fit_together([fit.model for fit in prepared], [(fit.x, fit.y) for fit in prepared])
        else:
            for fit in prepared:
                fit.fit()
        seconds = (time.perf_counter() - start) / len(runs)
        for members, fit in zip(fits.values(), prepared):
            first = runs[members[0]]
            head = classifier((first.latents_key(), "rx"), pair.train.rx, pair.train.labels, first.seed, device)
            for k, row in zip(members, _evaluate(fit, pair, head, _base_row(first, pair, device), seconds)):
                rows[k] = row
    out = []
    for run, identifier, row in zip(runs, run_ids, rows, strict=True):
        skip = {*row, *LATENT_FIELDS, "latents_options", *run.ignored_settings()}
        settings = {k: v for k, v in asdict(run).items() if k not in skip}
        out.append({**row, **settings, "run_id": identifier})
    return out


def _base_row(first: LinkRun, pair: LatentPair, device: str) -> dict:
    """The columns every row of one fit shares: provenance, method, seed, data and conventions."""
    return {
        **provenance("single-link", device),
        "experiment": first.experiment, "method": first.method, "seed": first.seed,
        "awareness": first.awareness if first.method != "clean" else "none",
        "dataset": pair.dataset, "tx_encoder": pair.tx_encoder, "rx_encoder": pair.rx_encoder, "d_tx": pair.d_tx, "d_rx": pair.d_rx,
        "snr_convention": first.snr_convention, "channel_variance": first.channel_variance, "power": first.power,
        "pilot_method": first.pilot_method, "pilot_grouping": first.pilot_grouping,
    }  # fmt: skip


@dataclass
class _Fit:
    """One fit of a group: runs of one seed and awareness that differ only in what the method batches."""

    runs: list[LinkRun]
    model: object
    x: torch.Tensor
    y: torch.Tensor
    n_pilots: int
    statistics_key: tuple | None
    channel: torch.Tensor  # (n_rx, n_tx) the seed's true channel in the link's layout, which the symbols go through
    csi_error: float  # the error fraction of what the design knows

    def fit(self) -> None:
        if self.statistics_key is not None:  # linear ADMM: from the seed's shared Gram statistics
            self.model.fit_statistics(_STATISTICS.get(self.statistics_key, lambda: gram_statistics(self.x, self.y, self.model.domain)))
        else:
            self.model.fit(self.x, self.y)


def _prepare_fit(runs: list[LinkRun], pair: LatentPair, device: str) -> _Fit:
    first = runs[0]
    idx = _pilots(first, pair)
    x, y = pair.train.tx[idx].to(device), pair.train.rx[idx].to(device)
    n, channel_model = first.n_antennas, first.channel()
    drawn = channel_model.for_seed(first.seed, n, n, first.channel_uses, channel_variance=first.channel_variance, device=device)
    known, csi_error = _known_channel(first, drawn)  # on TDL/CDL per subcarrier: each its own estimate
    # In the link's layout: flat (N, N); TDL/CDL diag(H_1..H_T) (T N, T N).
    h, known = channel_model.link_channel(drawn).to(torch.complex64), channel_model.link_channel(known).to(torch.complex64)
    lams = [run.lam for run in runs] if first.method == "neural" else None
    model = _transceiver(first, known.unsqueeze(0).expand(len(runs), *h.shape), [run.snr_db for run in runs], lams, device, csi_error)
    key = None
    if first.method == "linear-admm":
        key = (first.latents_key(), first.seed, first.pilots_per_class, first.pilot_method, first.pilot_grouping, model.domain, str(device))
    return _Fit(runs, model, x, y, int(idx.numel()), key, h, csi_error)


def _known_channel(run: LinkRun, channel: torch.Tensor) -> tuple[torch.Tensor, float]:
    """What the design knows of the seed's ``channel`` (flat ``(N, N)`` or per subcarrier
    ``(T, N, N)``), and the CSI error fraction of that knowledge: the channel itself, an estimate
    with the error model's ``csi_error``, or an LMMSE estimate from pilots (per subcarrier, each with
    its own error). Drawn from the seed's ``csi`` stream, so every method of a seed knows the same
    estimate."""
    if run.method == "clean" or run.awareness == "unaware":
        return channel, 0.0
    generator = stream_generator("csi", run.seed)
    if run.pilot_snr_db is not None:
        estimate = estimate_channel(
            channel.cpu(), pilots=run.csi_pilots, pilot_snr_db=run.pilot_snr_db, channel_variance=run.channel_variance, generator=generator,
        )  # fmt: skip
        return estimate.design_channel.to(channel.device), estimate.csi_error
    if run.csi_error:
        return estimate_of(channel.cpu(), run.csi_error, run.channel_variance, generator=generator).to(channel.device), run.csi_error
    return channel, 0.0


def _evaluate(fit: _Fit, pair: LatentPair, head, base: dict, fit_seconds: float) -> list[dict]:
    first, test, model = fit.runs[0], pair.test, fit.model
    neural, linear = first.method == "neural", first.method == "linear-admm"
    n = first.n_antennas
    # The test noise is drawn on the CPU and moved: every device sees the same noise for a seed.
    y_hat = _transmit_test(fit, test.tx.to(fit.x.device))
    flops = model.inference_flops() if hasattr(model, "inference_flops") else None
    side_bits = model.side_information_bits() if hasattr(model, "side_information_bits") else 0.0
    # What a receiver achieves with no link at all: predicting the pilots' mean (every row carries it,
    # so a method can be checked against it).
    mean_predictor_mse = mse(fit.y.mean(0, keepdim=True).expand_as(test.rx).cpu(), test.rx)
    rows = []
    for i, run in enumerate(fit.runs):
        rows.append(
            {
                **base,
                "snr_db": float(run.snr_db),
                "channel_uses": first.channel_uses,
                "n_tx": n,
                "n_rx": n,
                "compression_factor": model.compression_factor(pair.d_tx),
                "pilots_per_class": first.pilots_per_class or None,
                "n_pilots": fit.n_pilots,
                "accuracy": accuracy(head, y_hat[i], test.labels),
                "mse": mse(y_hat[i], test.rx),
                "mean_predictor_mse": mean_predictor_mse,
                "side_info_bits": side_bits,
                "noise_variance": float(model.noise_variance()[i]),
                "flops": None if flops is None else int(flops[i]),
                "sparsity": float(model.sparsity_[i]) if neural else None,
                "lam": run.lam if neural else None,
                "iterations": first.iterations if linear else None,
                "rho": first.rho if linear else None,
                "processing": first.processing if linear else None,
                "epochs": int(model.n_epochs_) if neural else None,
                "best_epoch": int(model.best_epoch_[i]) if neural else None,
                "learning_rate": first.neural_lr if neural else None,
                "batch_size": first.neural_batch_size if neural else None,
                "fit_seconds": fit_seconds,
                "csi": first.csi(),
                "csi_error_known": fit.csi_error,
                "channel_model": first.channel_model,
            }
        )
    return rows


def _transmit_test(fit: _Fit, x: torch.Tensor) -> torch.Tensor:
    """The test latents through the seed's true channel (which is what the design knew only with
    perfect CSI); with ``doppler``, through a channel that evolves from it block by block."""
    first, model = fit.runs[0], fit.model
    noise = stream_generator("test-noise", first.seed)
    b = len(fit.runs)
    true = fit.channel.unsqueeze(0).expand(b, *fit.channel.shape)
    if first.method == "clean" or not first.doppler:
        return model.transmit(x, generator=noise, channel=true if first.method != "clean" else None)
    blocks = -(-x.shape[0] // first.coherence)
    evolution = gauss_markov_channels(
        fit.channel.cpu(), blocks, doppler=first.doppler, coherence=first.coherence, channel_variance=first.channel_variance,
        generator=stream_generator("channel-evolution", first.seed),
    ).to(fit.channel.device)  # fmt: skip
    parts = [
        model.transmit(x[k * first.coherence : (k + 1) * first.coherence], generator=noise, channel=evolution[k].unsqueeze(0).expand(b, *fit.channel.shape))
        for k in range(blocks)
    ]
    return torch.cat(parts, dim=-2)


def _batched_fields(run: LinkRun) -> tuple[str, ...]:
    if run.method == "clean":
        return ()
    entry = get_method("single-link", run.method)
    return entry.batched + entry.trained_together


def run_kind() -> RunKind:
    """The ``link`` run kind."""
    return RunKind(
        "link", "single-link", LinkRun, run_link_group, check_link_runs, _batched_fields,
        devices=devices_of("single-link"), data_version=latents_version,
        sort_columns=("experiment", "channel_model", "method", "awareness", "pilots_per_class", "n_tx", "snr_db", "csi_error", "pilot_snr_db", "doppler", "robust", "lam", "seed"),
        cost=expected_cost,
    )  # fmt: skip
