"""The federated multi-user downlink study (spec federated.md §5): per-user accuracy and MSE of an
access point (AP) serving several users, each with its own encoder and MIMO channel.

Experiments:

* ``compression``: vs the compression factor ζ = 100 T N_t / ceil(d_AP/2) % (channel uses x
  antennas), N = N_t = N_r antennas in ``compression_antennas``, T in ``compression_channel_uses``;
* ``snr``: vs SNR at ``snr_antennas`` antennas, for each T in ``snr_channel_uses``;
* ``heterogeneity``: homogeneous user sets (users whose encoders resemble each other) against
  heterogeneous ones (users that differ), from the digits zoo and from synthetic agents, plus every
  user served alone (``user_set="single"``, the cost-free reference), vs ζ;
* ``pilots``: vs the fraction of the training set used as (shared) semantic pilots.

Methods: ``federated-admm`` (one shared pre-equaliser, exact consensus ADMM), ``federated-prox``
(the published proximal average), ``multi-link`` (one precoder per user: K links, K·P power, K·T
channel uses per latent), and the privacy-preserving baselines ``first-k`` / ``top-k``
(:mod:`semalign.multiuser.federated_baselines`: users learn from the received pilot features, never
from the AP's latents).

User sets and data. The digits zoo: the AP is ``ap_encoder`` (the ``tx`` side), each user a zoo
encoder (the ``rx`` side) seeing the same images. Synthetic agents (``load_latents("synthetic")``
makes pairs only): every user is one pair drawn with the *same* seed and data settings and its own
``proximity`` and ``d_rx``, so all pairs share the same semantic samples and the same transmitter
agent; the AP latent is the first pair's ``tx`` (the others' ``tx`` equal it up to a read-out scale
calibrated after the receiver's parameters, checked to within 1 %). Users drawn at the same
proximity share their hidden features (they differ only in read-out width): a homogeneous set;
users at proximity 0 and 1 do not: a heterogeneous set.

Every method of a seed sees the same per-user channels (one Rayleigh draw per user identity, so a
user keeps its channel across user sets), the same pilots and the same test-noise stream. Tasks are
written to the store as they finish, so an interrupted run resumes where it stopped; figures are
drawn from the stored rows.
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
from semalign.latents import DIGITS_ENCODERS, LatentSplit, load_latents, select_pilots
from semalign.link.channel import rayleigh_channel
from semalign.link.noise import check_snr_convention
from semalign.link.packing import complex_dim
from semalign.multiuser.federated import VARIANTS, FederatedDownlink
from semalign.multiuser.federated_baselines import BASELINE_METHODS, PROCESSING, FederatedFeatureBaseline
from semalign.tasks import accuracy, mse, train_classifier

EXPERIMENTS = ("compression", "snr", "heterogeneity", "pilots")
METHODS = (*VARIANTS, *BASELINE_METHODS)
USER_SETS = ("homogeneous", "heterogeneous", "single")
SOURCES = ("digits", "synthetic")
#: Every source: also ``timm`` (pretrained encoders cached by ``semalign latents extract``; then
#: ``ap_encoder``, ``users`` and the user sets name timm models, and ``dataset`` the data set).
ALL_SOURCES = (*SOURCES, "timm")
PAPER_SEEDS = (27, 42, 100, 123, 144, 200)
#: Default users from the digits zoo; the AP is ``mlp32-tanh`` (32 dims, like the paper's small ViT-Tiny AP).
DIGITS_USERS = ("mlp64", "cnn128", "cnn48-tanh", "mlp96-gelu")
#: Homogeneous sets: the two MLPs, the two CNNs. Heterogeneous: one MLP and one CNN each. Every user
#: is in one set of each kind, so the comparison is over the same users.
DIGITS_HOMOGENEOUS = (("mlp64", "mlp96-gelu"), ("cnn128", "cnn48-tanh"))
DIGITS_HETEROGENEOUS = (("mlp64", "cnn128"), ("mlp96-gelu", "cnn48-tanh"))
#: Synthetic users: (name, proximity to the AP agent, latent dimension).
SYNTHETIC_USERS = (("near-64", 1.0, 64), ("near-96", 1.0, 96), ("far-64", 0.0, 64), ("far-96", 0.0, 96))
SYNTHETIC_HOMOGENEOUS = (("near-64", "near-96"), ("far-64", "far-96"))
SYNTHETIC_HETEROGENEOUS = (("near-64", "far-64"), ("near-96", "far-96"))


@dataclass(frozen=True)
class FederatedGrid:
    """The study's settings (defaults: digits zoo, AP ``mlp32-tanh``, four users, SNR 20 dB).

    ``latents`` picks the users of the ``compression``, ``snr`` and ``pilots`` experiments (the digits
    zoo ``users``, or the synthetic ``synthetic_users``); ``heterogeneity_sources`` the sources of the
    ``heterogeneity`` experiment. ``baseline_processing`` is the First-K / Top-K users' semantic map
    (``"strictly-linear"``: the class of the federated equalisers; ``"widely-linear"``: the stronger
    real map, see :mod:`semalign.multiuser.federated_baselines`). ``processing`` is the federated
    protocol's class of maps (``"strictly-linear"``, published; ``"widely-linear"``, real maps on the
    real composite channel).
    """

    latents: str = "digits"
    dataset: str = "cifar10"
    ap_encoder: str = "mlp32-tanh"
    users: tuple[str, ...] = DIGITS_USERS
    homogeneous_sets: tuple[tuple[str, ...], ...] = DIGITS_HOMOGENEOUS
    heterogeneous_sets: tuple[tuple[str, ...], ...] = DIGITS_HETEROGENEOUS
    synthetic_options: dict = field(default_factory=lambda: {"n_train": 2000, "n_test": 2000, "d_tx": 32, "seed": 1000})
    synthetic_users: tuple[tuple[str, float, int], ...] = SYNTHETIC_USERS
    synthetic_homogeneous_sets: tuple[tuple[str, ...], ...] = SYNTHETIC_HOMOGENEOUS
    synthetic_heterogeneous_sets: tuple[tuple[str, ...], ...] = SYNTHETIC_HETEROGENEOUS
    seeds: tuple[int, ...] = PAPER_SEEDS
    methods: tuple[str, ...] = METHODS
    experiments: tuple[str, ...] = EXPERIMENTS
    snr_db: float = 20.0
    snr_convention: str = "total"
    channel_variance: float = 1.0
    power: float = 1.0
    rho: float = 1.0
    rounds: int = 30
    baseline_processing: str = "strictly-linear"
    processing: str = "strictly-linear"
    pilot_method: str = "random"
    compression_antennas: tuple[int, ...] = (1, 2, 4)
    compression_channel_uses: tuple[int, ...] = (1, 2, 4, 8, 16)
    snr_values: tuple[float, ...] = (-20.0, -10.0, 0.0, 10.0, 20.0, 30.0)
    snr_antennas: int = 2
    snr_channel_uses: tuple[int, ...] = (1, 4)
    heterogeneity_sources: tuple[str, ...] = SOURCES
    heterogeneity_methods: tuple[str, ...] = ("federated-admm",)
    heterogeneity_antennas: int = 2
    heterogeneity_channel_uses: tuple[int, ...] = (1, 2, 4, 8)
    pilot_fractions: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
    pilots_antennas: int = 2
    pilots_channel_uses: int = 2

    def __post_init__(self) -> None:
        check_choice("latents", self.latents, ALL_SOURCES)
        for method in (*self.methods, *self.heterogeneity_methods):
            check_choice("method", method, METHODS)
        for experiment in self.experiments:
            check_choice("experiment", experiment, EXPERIMENTS)
        for source in self.heterogeneity_sources:
            check_choice("heterogeneity_sources", source, ALL_SOURCES)
        encoder_sources = {self.latents, *self.heterogeneity_sources} & {"digits", "timm"}
        if len(encoder_sources) > 1:
            raise ValueError("ap_encoder and users name either digits-zoo encoders or timm models, not both: "
                             f"latents={self.latents!r} with heterogeneity_sources={self.heterogeneity_sources!r}")  # fmt: skip
        check_choice("baseline_processing", self.baseline_processing, PROCESSING)
        check_choice("processing", self.processing, PROCESSING)
        check_snr_convention(self.snr_convention)
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")
        if "timm" not in encoder_sources:
            check_choice("ap_encoder", self.ap_encoder, DIGITS_ENCODERS)
            for user in self.users:
                check_choice("users", user, DIGITS_ENCODERS)
        names = [u[0] for u in self.synthetic_users]
        for sets, known, what in (
            (self.homogeneous_sets + self.heterogeneous_sets, self.users, "users"),
            (self.synthetic_homogeneous_sets + self.synthetic_heterogeneous_sets, names, "synthetic_users"),
        ):
            for group in sets:
                for user in group:
                    if user not in known:
                        raise ValueError(f"user set {group!r} names {user!r}, which is not one of {what} {tuple(known)!r}")
        if not self.users or not self.synthetic_users:
            raise ValueError("users and synthetic_users must each list at least one user")
        for name in ("rounds", "snr_antennas", "heterogeneity_antennas", "pilots_antennas", "pilots_channel_uses"):
            check_positive_int(name, getattr(self, name))
        for name in ("compression_antennas", "compression_channel_uses", "snr_channel_uses", "heterogeneity_channel_uses"):
            for value in getattr(self, name):
                check_positive_int(name, value)
        for fraction in self.pilot_fractions:
            if not 0.0 < float(fraction) <= 1.0:
                raise ValueError(f"pilot_fractions must be in (0, 1], got {fraction!r}")

    def settings_hash(self) -> str:
        """Short hash of everything that changes a row except the swept lists."""
        fixed = asdict(self)
        for swept in ("seeds", "methods", "experiments", "compression_antennas", "compression_channel_uses", "snr_values",
                      "snr_channel_uses", "heterogeneity_sources", "heterogeneity_methods", "heterogeneity_channel_uses", "pilot_fractions"):  # fmt: skip
            fixed.pop(swept)
        return hashlib.sha1(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()[:8]


def quick_grid(**overrides) -> FederatedGrid:
    """A few-minute grid: two seeds, fewer points, every experiment and method."""
    base = FederatedGrid(
        seeds=(27, 42),
        compression_antennas=(1, 2),
        compression_channel_uses=(1, 2, 4, 8),
        snr_values=(-10.0, 0.0, 10.0, 20.0, 30.0),
        heterogeneity_channel_uses=(1, 2, 4),
        pilot_fractions=(0.02, 0.1, 0.3, 1.0),
    )
    return replace(base, **overrides)


def full_grid(**overrides) -> FederatedGrid:
    """The complete grid: six seeds, every point."""
    return replace(FederatedGrid(), **overrides)


@dataclass(frozen=True)
class FederatedTask:
    """One fit setting of one experiment and method, for one seed (every user set of ``user_set``)."""

    experiment: str
    method: str
    prefix: str
    source: str
    user_set: str
    n_antennas: int
    channel_uses: int
    snr_db: float
    pilot_fraction: float
    seed: int

    @property
    def key(self) -> str:
        return (
            f"{self.prefix}-{self.experiment}-{self.method}-{self.source}-{self.user_set}-n{self.n_antennas}-T{self.channel_uses}"
            f"-snr{self.snr_db:g}-p{self.pilot_fraction:g}-s{self.seed}"
        )


@dataclass(frozen=True)
class UserPool:
    """Latents of one source: the AP's and each user's, of the same samples in the same order."""

    source: str
    dataset: str
    ap_encoder: str
    ap_train: torch.Tensor
    ap_test: torch.Tensor
    train_labels: torch.Tensor
    test_labels: torch.Tensor
    users: dict  # name -> (train (n, d_k), test (n_test, d_k))
    proximity: dict  # name -> proximity (synthetic) or None

    @property
    def d_ap(self) -> int:
        return self.ap_train.shape[1]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.users)


def encoder_pool(source: str, ap_encoder: str, users, **options) -> UserPool:
    """The AP encoder and each user encoder of ``source`` (``digits`` zoo or cached ``timm``
    models, with ``options`` such as ``dataset``), on the same images."""
    pairs = {u: load_latents(source, tx=ap_encoder, rx=u, **options) for u in dict.fromkeys(users)}
    ref = next(iter(pairs.values()))
    return UserPool(
        source, ref.dataset, ap_encoder, ref.train.tx, ref.test.tx, ref.train.labels, ref.test.labels,
        {u: (p.train.rx, p.test.rx) for u, p in pairs.items()}, dict.fromkeys(pairs),
    )  # fmt: skip


def synthetic_pool(options: dict, users) -> UserPool:
    """Synthetic users that are views of the same samples (module docstring).

    Every user is a synthetic pair drawn with the same ``options`` (seed, sizes, transmitter
    dimension) and its own ``proximity`` and ``d_rx``; the AP latent is the first pair's ``tx``.

    Raises:
        ValueError: if the pairs do not share their samples (labels differ, or the transmitter
            views differ by more than 1 %), which would happen if the generator's stream layout
            made the samples depend on the receiver's settings.
    """
    pairs = {}
    for name, proximity, d_rx in users:
        pairs[name] = load_latents("synthetic", **{**options, "proximity": proximity, "d_rx": d_rx})
    ref = next(iter(pairs.values()))
    for name, pair in pairs.items():
        for split, base in ((pair.train, ref.train), (pair.test, ref.test)):
            same_labels = torch.equal(split.labels, base.labels)
            gap = float(torch.linalg.vector_norm(split.tx - base.tx) / torch.linalg.vector_norm(base.tx))
            if not same_labels or gap > 1e-2:
                raise ValueError(
                    f"synthetic user {name!r} does not see the same samples as {next(iter(pairs))!r} "
                    f"(labels equal: {same_labels}, relative transmitter-view gap {gap:.3g}); use fewer samples per split "
                    "(at most 8192) or the same d_rx"
                )
    return UserPool(
        "synthetic", ref.dataset, ref.tx_encoder, ref.train.tx, ref.test.tx, ref.train.labels, ref.test.labels,
        {name: (p.train.rx, p.test.rx) for name, p in pairs.items()}, {name: prox for name, prox, _ in users},
    )  # fmt: skip


def _main_users(grid: FederatedGrid) -> tuple[str, ...]:
    return grid.users if grid.latents != "synthetic" else tuple(u[0] for u in grid.synthetic_users)


def user_groups(grid: FederatedGrid, source: str, user_set: str) -> list[tuple[str, ...]]:
    """The user sets fitted together by a task: ``"all"`` (the study's users), ``"homogeneous"``,
    ``"heterogeneous"`` or ``"single"`` (each user of the heterogeneity sets alone)."""
    digits = source != "synthetic"  # named encoders: the digits zoo or timm models
    if user_set == "all":
        return [_main_users(grid)]
    homogeneous = grid.homogeneous_sets if digits else grid.synthetic_homogeneous_sets
    heterogeneous = grid.heterogeneous_sets if digits else grid.synthetic_heterogeneous_sets
    if user_set == "homogeneous":
        return [tuple(g) for g in homogeneous]
    if user_set == "heterogeneous":
        return [tuple(g) for g in heterogeneous]
    return [(u,) for u in dict.fromkeys(u for g in (*homogeneous, *heterogeneous) for u in g)]


def plan_tasks(grid: FederatedGrid, ap_dims: dict[str, int] | None = None) -> list[FederatedTask]:
    """Every task of the study. ``ap_dims`` (the AP latent dimension per source) drops settings above
    100 % compression (T N_t > ceil(d_AP/2)); ``None`` keeps them all."""
    prefix = grid.settings_hash()
    src = grid.latents

    def fits(source: str, t: int, n: int) -> bool:
        return ap_dims is None or t * n <= complex_dim(ap_dims[source])

    tasks = []
    for seed in grid.seeds:
        if "compression" in grid.experiments:
            for n in grid.compression_antennas:
                for t in grid.compression_channel_uses:
                    if fits(src, t, n):
                        tasks += [FederatedTask("compression", m, prefix, src, "all", n, t, grid.snr_db, 1.0, seed) for m in grid.methods]
        if "snr" in grid.experiments:
            for t in grid.snr_channel_uses:
                for snr in grid.snr_values:
                    tasks += [FederatedTask("snr", m, prefix, src, "all", grid.snr_antennas, t, float(snr), 1.0, seed) for m in grid.methods]
        if "heterogeneity" in grid.experiments:
            for source in grid.heterogeneity_sources:
                for t in grid.heterogeneity_channel_uses:
                    if not fits(source, t, grid.heterogeneity_antennas):
                        continue
                    for kind in USER_SETS:
                        tasks += [FederatedTask("heterogeneity", m, prefix, source, kind, grid.heterogeneity_antennas, t, grid.snr_db, 1.0, seed)
                                  for m in grid.heterogeneity_methods]  # fmt: skip
        if "pilots" in grid.experiments:
            for fraction in grid.pilot_fractions:
                tasks += [FederatedTask("pilots", m, prefix, src, "all", grid.pilots_antennas, grid.pilots_channel_uses, grid.snr_db, float(fraction), seed)
                          for m in grid.methods]  # fmt: skip
    return tasks


def noise_generator_for_seed(seed: int) -> torch.Generator:
    """The test-noise stream of a seed, shared by every method."""
    return torch.Generator().manual_seed(10_007 * int(seed) + 1)


def _linear_cka(a: torch.Tensor, b: torch.Tensor) -> float:
    """Linear centred kernel alignment of two ``(n, d)`` latents (1 = same up to rotation and scale)."""
    a, b = a.to(torch.float64), b.to(torch.float64)
    a, b = a - a.mean(0), b - b.mean(0)
    return float(torch.linalg.matrix_norm(a.T @ b) ** 2 / (torch.linalg.matrix_norm(a.T @ a) * torch.linalg.matrix_norm(b.T @ b)))


def _precoder_power(model) -> float:
    """Energy per transmitted latent (per link for multi-link) of the precoder actually used:
    ||Z||_F^2 for the federated variants (whitened inputs), a^2 K for the baselines."""
    if isinstance(model, FederatedFeatureBaseline):
        return float(model.precoder_.abs().square().sum()) / model.n_streams * model.n_features_
    z = model.precoder_.reshape(-1, *model.precoder_.shape[-2:])
    return float(z.abs().square().sum((-2, -1)).mean())


class FederatedRunner:
    """Executes tasks, caching the latents per source, each user's classifier per seed, the
    channels per (seed, antennas) and the pilots per (seed, fraction)."""

    def __init__(self, grid: FederatedGrid, *, executor: str = "local", scheduler: str | None = None) -> None:
        self.grid = grid
        self.executor, self.scheduler = executor, scheduler
        self._pools: dict[str, UserPool] = {}
        self._heads: dict[tuple[str, str, int], torch.nn.Module] = {}
        self._channels: dict[tuple[str, int, int], torch.Tensor] = {}
        self._pilots: dict[tuple[str, int, float], torch.Tensor] = {}
        self._common = {
            "snr_convention": grid.snr_convention,
            "channel_variance": grid.channel_variance,
            "power": grid.power,
            "rounds": grid.rounds,
            "rho": grid.rho,
            "pilot_method": grid.pilot_method,
            "semalign_version": semalign.__version__,
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "device": "cpu",
        }

    def pool(self, source: str) -> UserPool:
        if source not in self._pools:
            grid = self.grid
            if source != "synthetic":
                users = dict.fromkeys((*grid.users, *(u for g in (*grid.homogeneous_sets, *grid.heterogeneous_sets) for u in g)))
                options = {"dataset": grid.dataset} if source == "timm" else {}
                self._pools[source] = encoder_pool(source, grid.ap_encoder, users, **options)
            else:
                self._pools[source] = synthetic_pool(grid.synthetic_options, grid.synthetic_users)
        return self._pools[source]

    def head(self, source: str, user: str, seed: int):
        key = (source, user, seed)
        if key not in self._heads:
            pool = self.pool(source)
            self._heads[key] = train_classifier(pool.users[user][0], pool.train_labels, seed=seed)
        return self._heads[key]

    def channels(self, source: str, seed: int, n: int, users: tuple[str, ...]) -> torch.Tensor:
        """``(K, N, N)`` channels of ``users``: one draw per user identity of the source, so a user
        keeps its channel in every user set."""
        key = (source, seed, n)
        if key not in self._channels:
            generator = torch.Generator().manual_seed(int(seed))
            count = len(self.pool(source).names)
            self._channels[key] = rayleigh_channel(n, n, generator=generator, batch=count, channel_variance=self.grid.channel_variance)
        names = self.pool(source).names
        return self._channels[key][[names.index(u) for u in users]]

    def pilots(self, source: str, seed: int, fraction: float) -> torch.Tensor:
        """Global indices of the shared pilots: ``fraction`` of each class, at random (all if 1)."""
        key = (source, seed, fraction)
        if key not in self._pilots:
            pool = self.pool(source)
            if fraction >= 1.0:
                self._pilots[key] = torch.arange(pool.ap_train.shape[0])
            else:
                smallest = int(torch.bincount(pool.train_labels).min())
                per_class = max(2, round(fraction * smallest))
                split = LatentSplit(pool.ap_train, pool.ap_train[:, :1], pool.train_labels)
                self._pilots[key] = select_pilots(split, per_class, method=self.grid.pilot_method, seed=seed)
        return self._pilots[key]

    def model(self, task: FederatedTask, channels: torch.Tensor):
        grid = self.grid
        link = dict(snr_db=task.snr_db, power=grid.power, snr_convention=grid.snr_convention, channel_variance=grid.channel_variance,
                    channel_uses=task.channel_uses)  # fmt: skip
        if task.method in VARIANTS:
            return FederatedDownlink(channels, variant=task.method, rho=grid.rho, rounds=grid.rounds, executor=self.executor, scheduler=self.scheduler, processing=grid.processing, **link)
        return FederatedFeatureBaseline(channels, method=task.method, processing=grid.baseline_processing, seed=task.seed, **link)

    def run(self, task: FederatedTask) -> list[dict]:
        grid = self.grid
        pool = self.pool(task.source)
        idx = self.pilots(task.source, task.seed, task.pilot_fraction)
        rows = []
        for group_index, group in enumerate(user_groups(grid, task.source, task.user_set)):
            channels = self.channels(task.source, task.seed, task.n_antennas, group)
            model = self.model(task, channels)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # few pilots: whitening shrinkage, recorded as n_pilots
                model.fit(pool.ap_train[idx], [pool.users[u][0][idx] for u in group])
                estimates = model.transmit(pool.ap_test, generator=noise_generator_for_seed(task.seed))
            seconds = time.perf_counter() - start
            k = len(group)
            links = k if task.method == "multi-link" else 1
            similarity = None
            if k > 1:
                pairs = [(a, b) for i, a in enumerate(group) for b in group[i + 1 :]]
                similarity = sum(_linear_cka(pool.users[a][0], pool.users[b][0]) for a, b in pairs) / len(pairs)
            for u, (name, y_hat) in enumerate(zip(group, estimates)):
                head = self.head(task.source, name, task.seed)
                test = pool.users[name][1]
                error = mse(y_hat, test)
                rows.append(
                    {
                        **self._common,
                        "dataset": pool.dataset,
                        "latents": task.source,
                        "experiment": task.experiment,
                        "method": task.method,
                        "seed": task.seed,
                        "user_set": task.user_set,
                        "user_group": group_index,
                        "users": ",".join(group),
                        "user": u,
                        "n_users": k,
                        "tx_encoder": pool.ap_encoder,
                        "rx_encoder": name,
                        "proximity": pool.proximity[name],
                        "set_similarity": similarity,
                        "d_tx": pool.d_ap,
                        "d_rx": test.shape[1],
                        "snr_db": task.snr_db,
                        "noise_variance": model.noise_variance(),
                        "channel_uses": task.channel_uses,
                        "n_tx": task.n_antennas,
                        "n_rx": task.n_antennas,
                        "compression_factor": model.compression_factor(pool.d_ap),
                        "links": links,
                        "total_channel_uses": links * task.channel_uses,
                        "total_power": links * grid.power,
                        "pilot_fraction": task.pilot_fraction,
                        "n_pilots": int(idx.numel()),
                        "processing": grid.processing if task.method in VARIANTS else grid.baseline_processing,
                        "accuracy": accuracy(head, y_hat, pool.test_labels),
                        "clean_accuracy": accuracy(head, test, pool.test_labels),
                        "mse": error,
                        "nmse": error / float(test.to(torch.float64).var(0).mean()),
                        "bytes_uplink": int(model.bytes_uplink_),
                        "bytes_downlink": int(model.bytes_downlink_),
                        "training_channel_uses": int(model.channel_uses_),
                        "precoder_power": _precoder_power(model),
                        "final_primal_residual": model.history_["primal_residual"][-1] if hasattr(model, "history_") else None,
                        "fit_seconds": seconds,
                        "run_key": task.key,
                    }
                )
        return rows


def run_federated(grid: FederatedGrid, out_dir: str | Path, *, progress: bool = True, figures: bool = True, executor: str = "local", scheduler: str | None = None):
    """Run (or resume) the study into ``out_dir``; returns the results as a Polars DataFrame.

    Writes ``out_dir/parts/*.parquet`` as tasks finish, ``out_dir/results.parquet``,
    ``out_dir/grid.json`` and, with ``figures``, PNGs in ``out_dir/figures/``. With
    ``executor="dask"`` every federated protocol runs with the AP and the users as Dask actors, on
    the cluster at ``scheduler`` or on one local cluster started for the whole run (same rows).
    """
    check_choice("executor", executor, ("local", "dask"))
    if executor == "dask" and scheduler is None:
        from dask.distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            return run_federated(grid, out_dir, progress=progress, figures=figures, executor=executor, scheduler=cluster.scheduler_address)
    from semalign.experiments.figures import draw_federated_figures
    from semalign.experiments.store import ResultStore, run_tasks

    out_dir = Path(out_dir)
    runner = FederatedRunner(grid, executor=executor, scheduler=scheduler)
    # Load (and check) every source before anything is written.
    sources = {grid.latents, *(grid.heterogeneity_sources if "heterogeneity" in grid.experiments else ())}
    tasks = plan_tasks(grid, {source: runner.pool(source).d_ap for source in sorted(sources)})
    store = ResultStore(out_dir)
    (out_dir / "grid.json").write_text(json.dumps(asdict(grid), indent=2, default=str))
    describe = lambda task: f"{task.experiment} {task.method} {task.source}/{task.user_set} N={task.n_antennas} T={task.channel_uses} seed={task.seed}"  # noqa: E731
    results = run_tasks(store, tasks, runner.run, label="federated", describe=describe, progress=progress)
    if figures and results.height:
        draw_federated_figures(results, out_dir / "figures")
    return results
