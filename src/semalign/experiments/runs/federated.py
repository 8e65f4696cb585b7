"""Federated-downlink runs: one :class:`FederatedRun` is one user set, link setting, method and seed
(rows: one per user of every user group of the set).

``semalign run federated key=value ...`` sweeps any field, and the federated study (``semalign
reproduce federated``) is a named grid of them. Each run is its own protocol (nothing is batched).

User pools. The digits zoo (or cached ``timm`` encoders): the AP is ``ap_encoder`` (the ``tx`` side),
each user an encoder (the ``rx`` side) seeing the same images. Synthetic agents
(``load_latents("synthetic")`` makes pairs only): every user is one pair drawn with the *same* seed
and data settings and its own ``proximity`` and ``d_rx``, so all pairs share the same semantic
samples and the same transmitter agent; the AP latent is the first pair's ``tx`` (the others' ``tx``
equal it up to a read-out scale calibrated after the receiver's parameters, checked to within 1 %).
Users drawn at the same proximity share their hidden features (they differ only in read-out width):
a homogeneous set; users at proximity 0 and 1 do not: a heterogeneous set.

Every method of a seed sees the same per-user channels (one draw of the run's ``channel_model`` per
user identity, from the seed's ``channel`` stream, so a user keeps its channel across user sets), the
same pilots and the same test-noise stream.

Channel models (:mod:`semalign.link.channel_models`, the settings of single-link runs):
``rayleigh`` (default; exactly the draws of :func:`~semalign.link.channel.rayleigh_channel` from the
same stream) and ``kronecker`` are flat: one ``(N, N)`` matrix per user shared by the T uses of a
latent. The 3GPP TDL/CDL models put the T uses on T OFDM subcarriers: each user draws ``(T, N, N)``
and the schemes see one use of the block-diagonal diag(H_1, ..., H_T) ``(T N, T N)``
(:meth:`~semalign.link.Link.from_subcarriers`; the same noise level and compression factor as T uses
of a flat channel). Rows still count T channel uses per latent.

Imperfect channel knowledge (``csi_error`` = ε > 0): the per-user channels above are the true ones;
the methods are fitted on estimates drawn around them with the error model of
:mod:`semalign.link.csi` (:func:`~semalign.link.csi.estimate_of`, from the seed's ``csi`` stream,
one estimate per user identity, so every method of a seed and every user set knows the same
estimate of a user's channel), and the test latents go through the true channels. With
``pilot_snr_db`` instead, every user's channel is estimated from pilots (LMMSE) and the designs know
the estimate and the ε it implies.
``robust`` designs for the error (ignored, and reset to ``False``, when ε = 0). On TDL/CDL each
subcarrier's channel is estimated with its own independent error; correlated Kronecker channels
take no CSI error (the error model needs i.i.d. entries).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass

import torch

from semalign._checks import check_choice, check_positive, check_positive_int
from semalign._seeds import stream_generator
from semalign._vocabulary import PROCESSING
from semalign.experiments.engine import RunContext, RunKind
from semalign.experiments.runs.common import LastUsed, LinkConventions, cached_latents, canonical_options, check_pilot_estimation, check_snr_db, classifier, provenance
from semalign.latents import DIGITS_ENCODERS, LatentSplit, load_latents, select_pilots
from semalign.link.csi import check_csi_error, check_robust, estimate_channel, estimate_of
from semalign.link.link import Link
from semalign.link.packing import complex_dim
from semalign.methods import devices_of, get_method, method_names
from semalign.multiuser.federated_baselines import FederatedFeatureBaseline
from semalign.tasks import accuracy, mse

#: User sets of a run: every user of the pool, the homogeneous sets, the heterogeneous sets, or each
#: user of those sets alone.
USER_SETS = ("all", "homogeneous", "heterogeneous", "single")
SOURCES = ("digits", "synthetic", "timm")
#: Default users from the digits zoo; the AP is ``mlp32-tanh`` (32 dims, like the paper's small ViT-Tiny AP).
DIGITS_AP = "mlp32-tanh"
DIGITS_USERS = ("mlp64", "cnn128", "cnn48-tanh", "mlp96-gelu")
#: Homogeneous sets: the two MLPs, the two CNNs. Heterogeneous: one MLP and one CNN each. Every user
#: is in one set of each kind, so the comparison is over the same users.
DIGITS_HOMOGENEOUS = (("mlp64", "mlp96-gelu"), ("cnn128", "cnn48-tanh"))
DIGITS_HETEROGENEOUS = (("mlp64", "cnn128"), ("mlp96-gelu", "cnn48-tanh"))
#: Synthetic users: (name, proximity to the AP agent, latent dimension), their sets and data.
SYNTHETIC_OPTIONS = {"n_train": 2000, "n_test": 2000, "d_tx": 32, "seed": 1000}
SYNTHETIC_USERS = (("near-64", 1.0, 64), ("near-96", 1.0, 96), ("far-64", 0.0, 64), ("far-96", 0.0, 96))
SYNTHETIC_HOMOGENEOUS = (("near-64", "near-96"), ("far-64", "far-96"))
SYNTHETIC_HETEROGENEOUS = (("near-64", "far-64"), ("near-96", "far-96"))


def format_sets(sets) -> str:
    """``(("a", "b"), ("c", "d"))`` -> ``"a,b;c,d"`` (the run setting's spelling)."""
    return ";".join(",".join(group) for group in sets)


def parse_sets(name: str, spec: str) -> tuple[tuple[str, ...], ...]:
    """``"a,b;c,d"`` -> ``(("a", "b"), ("c", "d"))``."""
    sets = tuple(tuple(u.strip() for u in group.split(",")) for group in spec.split(";"))
    if not sets or any(not all(group) for group in sets):
        raise ValueError(f"{name}={spec!r}: expected user sets such as a,b;c,d")
    return sets


@dataclass(frozen=True)
class ProtocolSettings(LinkConventions):
    """The settings a federated run and the federated study share.

    Attributes:
        snr_db: SNR in dB under ``snr_convention``.
        processing / baseline_processing: the protocol's / the First-K and Top-K users' class of maps.
        rho, rounds: the protocol's ADMM penalty and rounds.
        pilot_method: how the shared pilots are chosen.
    """

    snr_db: float = 20.0
    processing: str = "strictly-linear"
    baseline_processing: str = "strictly-linear"
    rho: float = 1.0
    rounds: int = 30
    pilot_method: str = "random"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("processing", self.processing, PROCESSING)
        check_choice("baseline_processing", self.baseline_processing, PROCESSING)
        check_positive_int("rounds", self.rounds)
        check_positive("rho", self.rho)
        check_snr_db(self.snr_db)


@dataclass(frozen=True)
class FederatedRun(ProtocolSettings):
    """One federated-downlink configuration.

    Attributes:
        latents: ``digits`` (AP ``mlp32-tanh``, four zoo users), ``synthetic`` agents or ``timm``
            encoders cached by ``semalign latents extract`` (then ``ap_encoder`` and ``users`` name
            timm models and ``dataset`` the data set).
        method: ``federated-admm``, ``federated-prox``, ``multi-link``, ``first-k`` or ``top-k``.
        user_set: ``all`` (every user), ``homogeneous``, ``heterogeneous`` or ``single`` (each alone).
        n_antennas, channel_uses: N = N_t = N_r per user and T channel uses per latent.
        pilot_fraction: share of the training set used as shared pilots (1: all); seed: channels,
            pilots, classifiers and test noise.
        dataset, ap_encoder, user_pool, homogeneous_sets, heterogeneous_sets: the encoders (the pool's
            users comma separated, sets as ``a,b;c,d``); ``None``: the source's defaults. Synthetic
            users are ``name:proximity:d_rx`` items (e.g. ``near-64:1.0:64,far-64:0.0:64``). (Rows
            name the users of their own set in ``users``.)
        latents_options: the synthetic users' data settings as a JSON object (default
            :data:`SYNTHETIC_OPTIONS`).
        experiment: the label of the study part (``compression``, ``snr``, ``heterogeneity``,
            ``pilots``; ``federated`` for a sweep).
        csi_error: ε in [0, 1], the fraction of each user's channel power the designs' estimates
            miss (0: perfect channel knowledge; module docstring).
        pilot_snr_db, csi_pilots: instead of ``csi_error``, every user estimates its channel from
            ``csi_pilots`` orthogonal pilots per transmit antenna at this pilot SNR (LMMSE,
            :func:`~semalign.link.csi.estimate_channel`); the designs know the estimates and the ε
            they imply (recorded as ``csi_error_known``).
        robust: design for the channels the estimates stand for (averaging over the CSI error);
            ignored (reset to ``False``) with perfect channel knowledge.
        The link conventions, the users' channel model and its options
        (:class:`~semalign.experiments.runs.common.LinkConventions`; ``csi_error`` is modelled on
        i.i.d. channels, per subcarrier on TDL/CDL) and the protocol's settings are those of :class:`ProtocolSettings`.
    """

    latents: str = "digits"
    method: str = "federated-admm"
    user_set: str = "all"
    n_antennas: int = 2
    channel_uses: int = 2
    pilot_fraction: float = 1.0
    seed: int = 27
    dataset: str | None = None
    ap_encoder: str | None = None
    user_pool: str | None = None
    homogeneous_sets: str | None = None
    heterogeneous_sets: str | None = None
    latents_options: str | None = None
    experiment: str = "federated"
    csi_error: float = 0.0
    pilot_snr_db: float | None = None
    csi_pilots: int = 8
    robust: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "csi_error", check_csi_error(self.csi_error))
        check_pilot_estimation(pilot_snr_db=self.pilot_snr_db, csi_pilots=self.csi_pilots, csi_error=self.csi_error, n_antennas=self.n_antennas)
        check_robust(self.robust)
        # Settings the run does not use take their defaults (nothing to be robust to without a CSI
        # error; the options of other channel models), so a sweep does not store the same run twice.
        for name in self.ignored_settings():
            object.__setattr__(self, name, FederatedRun.__dataclass_fields__[name].default)
        # TDL/CDL: per-subcarrier estimates, each with its own error.
        self.check_csi_model_for(csi_error=self.csi_error, pilot_snr_db=self.pilot_snr_db, per_subcarrier=("csi_error", "pilot_snr_db"))
        check_choice("latents", self.latents, SOURCES)
        check_choice("method", self.method, method_names("federated"))
        check_choice("user_set", self.user_set, USER_SETS)
        for name in ("n_antennas", "channel_uses"):
            check_positive_int(name, getattr(self, name))
        if not 0.0 < self.pilot_fraction <= 1.0:
            raise ValueError(f"pilot_fraction must be in (0, 1], got {self.pilot_fraction!r}")
        if self.latents_options is not None:
            object.__setattr__(self, "latents_options", canonical_options(self.latents_options))
        pool = self.pool_settings()
        if self.latents == "digits":
            for name in (pool["ap_encoder"], *pool["users"]):
                check_choice("users", name, DIGITS_ENCODERS)
        known = pool["users"]
        for group in (*pool["homogeneous"], *pool["heterogeneous"]):
            for user in group:
                if user not in known:
                    raise ValueError(f"user set {group!r} names {user!r}, which is not one of users {tuple(known)!r}")

    def ignored_settings(self) -> tuple[str, ...]:
        """The settings the run does not use: ``robust`` without a CSI error, and the options of the
        channel models other than ``channel_model`` (``ValueError`` listing the valid names if it is
        not a channel model)."""
        ignored = ["csi_pilots"] if self.pilot_snr_db is None else []
        if not (self.csi_error or self.pilot_snr_db is not None):
            ignored.append("robust")  # nothing to be robust to
        return (*ignored, *self.unused_channel_options())

    def csi(self) -> str:
        """What the designs know of the channels: ``perfect``, ``error-model`` (``csi_error``) or
        ``estimated`` (from pilots)."""
        return "estimated" if self.pilot_snr_db is not None else "error-model" if self.csi_error else "perfect"

    def synthetic_users(self) -> tuple[tuple[str, float, int], ...]:
        """The synthetic users as ``(name, proximity, d_rx)``."""
        if not self.user_pool:
            return SYNTHETIC_USERS
        try:
            return tuple((name, float(prox), int(dim)) for name, prox, dim in (item.split(":") for item in self.user_pool.split(",")))
        except ValueError:
            raise ValueError(f"user_pool={self.user_pool!r}: synthetic users are name:proximity:d_rx items, e.g. near-64:1.0:64,far-64:0.0:64") from None

    def pool_settings(self) -> dict:
        """The AP, the users and their sets (the source's defaults where a setting is ``None``)."""
        synthetic = self.latents == "synthetic"
        return {
            "ap_encoder": None if synthetic else self.ap_encoder or DIGITS_AP,
            "users": tuple(u[0] for u in self.synthetic_users()) if synthetic else tuple(u.strip() for u in self.user_pool.split(",")) if self.user_pool else DIGITS_USERS,
            "homogeneous": parse_sets("homogeneous_sets", self.homogeneous_sets) if self.homogeneous_sets else SYNTHETIC_HOMOGENEOUS if synthetic else DIGITS_HOMOGENEOUS,
            "heterogeneous": parse_sets("heterogeneous_sets", self.heterogeneous_sets) if self.heterogeneous_sets else SYNTHETIC_HETEROGENEOUS if synthetic else DIGITS_HETEROGENEOUS,
        }

    def pool_key(self) -> tuple:
        """What determines the run's user pool (its first seven entries) and its channels and pilots."""
        return (self.latents, self.dataset, self.ap_encoder, self.user_pool, self.homogeneous_sets, self.heterogeneous_sets, self.latents_options, self.channel_variance, self.pilot_method)


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


def pool_of(run: FederatedRun) -> UserPool:
    """The run's user pool (loaded once per process)."""

    def load() -> UserPool:
        if run.latents == "synthetic":
            return synthetic_pool(json.loads(run.latents_options) if run.latents_options else SYNTHETIC_OPTIONS, run.synthetic_users())
        pool = run.pool_settings()
        users = dict.fromkeys((*pool["users"], *(u for g in (*pool["homogeneous"], *pool["heterogeneous"]) for u in g)))
        options = {"dataset": run.dataset or "cifar10"} if run.latents == "timm" else {}
        return encoder_pool(run.latents, pool["ap_encoder"], users, **options)

    return cached_latents(("federated",) + run.pool_key()[:7], load)


def user_groups(run: FederatedRun) -> list[tuple[str, ...]]:
    """The user sets fitted together by a run: ``"all"`` (the pool's users), ``"homogeneous"``,
    ``"heterogeneous"`` or ``"single"`` (each user of the heterogeneity sets alone)."""
    pool = run.pool_settings()
    if run.user_set == "all":
        return [pool["users"]]
    if run.user_set in ("homogeneous", "heterogeneous"):
        return [tuple(g) for g in pool[run.user_set]]
    return [(u,) for u in dict.fromkeys(u for g in (*pool["homogeneous"], *pool["heterogeneous"]) for u in g)]


_CHANNELS = LastUsed(16)
_PILOTS = LastUsed(16)


def _pool_channels(run: FederatedRun) -> torch.Tensor:
    """True channels of every user of the pool, one draw per user identity of the run's channel
    model (the seed's ``channel`` stream): ``(users of the pool, N, N)`` for the flat models (for
    ``rayleigh`` exactly :func:`~semalign.link.channel.rayleigh_channel` from that stream), ``(users
    of the pool, T, N, N)`` per subcarrier for TDL/CDL."""
    names = pool_of(run).names
    model = run.channel()

    def draw() -> torch.Tensor:
        generator = stream_generator("channel", run.seed)
        return model.draw(run.n_antennas, run.n_antennas, run.channel_uses, generator=generator, batch=len(names), channel_variance=run.channel_variance)

    uses = run.channel_uses if model.frequency_selective else None  # flat draws do not depend on T
    return _CHANNELS.get((run.pool_key(), run.seed, run.n_antennas, model, uses), draw)


def user_channels(run: FederatedRun, users: tuple[str, ...]) -> torch.Tensor:
    """Channels of ``users``, ``(K, N, N)`` (flat models) or ``(K, T, N, N)`` per subcarrier
    (TDL/CDL): one draw per user identity of the pool (from the seed's ``channel`` stream), so a
    user keeps its channel in every user set."""
    names = pool_of(run).names
    return _pool_channels(run)[[names.index(u) for u in users]]


def known_channels(run: FederatedRun, users: tuple[str, ...]) -> tuple[torch.Tensor, float]:
    """What the designs know of the channels of ``users``, in the layout of :func:`user_channels`,
    and the error fraction ε of that knowledge: the channels themselves (0), estimates with the
    error model's ``csi_error``, or LMMSE estimates from ``csi_pilots`` pilots at ``pilot_snr_db``
    (per subcarrier on TDL/CDL, each with its own error). Drawn for every user identity of the pool
    at once from the seed's ``csi`` stream (the same estimate of a user's channel in every user set
    and for every method of a seed)."""
    if not (run.csi_error or run.pilot_snr_db is not None):
        return user_channels(run, users), 0.0
    names = pool_of(run).names
    generator = stream_generator("csi", run.seed)
    if run.pilot_snr_db is not None:
        estimate = estimate_channel(
            _pool_channels(run), pilots=run.csi_pilots, pilot_snr_db=run.pilot_snr_db, channel_variance=run.channel_variance, generator=generator,
        )  # fmt: skip
        estimates, eps = estimate.design_channel, estimate.csi_error
    else:
        estimates, eps = estimate_of(_pool_channels(run), run.csi_error, run.channel_variance, generator=generator), run.csi_error
    return estimates[[names.index(u) for u in users]], eps


def shared_pilots(run: FederatedRun) -> torch.Tensor:
    """Global indices of the shared pilots: ``pilot_fraction`` of each class, at random (all if 1)."""
    pool = pool_of(run)

    def select() -> torch.Tensor:
        if run.pilot_fraction >= 1.0:
            return torch.arange(pool.ap_train.shape[0])
        smallest = int(torch.bincount(pool.train_labels).min())
        per_class = max(2, round(run.pilot_fraction * smallest))
        split = LatentSplit(pool.ap_train, pool.ap_train[:, :1], pool.train_labels)
        return select_pilots(split, per_class, method=run.pilot_method, seed=run.seed)

    return _PILOTS.get((run.pool_key(), run.seed, run.pilot_fraction), select)


def check_federated_runs(runs: list[FederatedRun]) -> None:
    """Raise ``ValueError`` if T N exceeds the AP's complex latent size ceil(d_AP/2)."""
    for key in {r.pool_key() for r in runs}:
        members = [r for r in runs if r.pool_key() == key]
        d_ap = pool_of(members[0]).d_ap
        too_big = sorted({(r.channel_uses, r.n_antennas) for r in members if r.channel_uses * r.n_antennas > complex_dim(d_ap)})
        if too_big:
            raise ValueError(f"channel_uses x n_antennas {too_big} exceed the AP's complex latent size ceil(d_AP/2) = {complex_dim(d_ap)} ({members[0].latents})")


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


def _model(run: FederatedRun, channels: torch.Tensor, csi_error: float, context: RunContext):
    """The run's scheme, unfitted, on the link of the known ``channels`` (in the layout of
    :func:`user_channels`; missing the share ``csi_error`` of their power): T uses of flat
    ``(K, N, N)`` channels, or, for TDL/CDL, one use of diag(H_1, ..., H_T) per latent."""
    model = run.channel()
    users_link = Link(
        model.link_channel(channels), run.snr_db, run.power, snr_convention=run.snr_convention, channel_variance=run.channel_variance,
        csi_error=csi_error, **model.link_settings(run.channel_uses),
    )  # fmt: skip
    link = dict(link=users_link, robust=run.robust)
    entry = get_method("federated", run.method)
    if entry.estimator is FederatedFeatureBaseline:
        return entry.create(processing=run.baseline_processing, seed=run.seed, **link)
    return entry.create(rho=run.rho, rounds=run.rounds, executor=context.protocol_executor, scheduler=context.protocol_scheduler, processing=run.processing, **link)


def run_federated_group(runs: list[FederatedRun], run_ids: list[str], context: RunContext = RunContext()) -> list[dict]:
    """Fit and evaluate one run (groups have one run: nothing is batched); one row per user."""
    (run,), (identifier,) = runs, run_ids
    pool = pool_of(run)
    idx = shared_pilots(run)
    protocol = run.method not in ("first-k", "top-k")
    channel_model = run.channel()
    rows = []
    for group_index, group in enumerate(user_groups(run)):
        # Fitted on what the designs know; the test latents cross the true channels (in the link's
        # layout: block diagonal over the subcarriers for TDL/CDL).
        true = channel_model.link_channel(user_channels(run, group))
        known, csi_error = known_channels(run, group)
        model = _model(run, known, csi_error, context)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # few pilots: whitening shrinkage, recorded as n_pilots
            model.fit(pool.ap_train[idx], [pool.users[u][0][idx] for u in group])
            estimates = model.transmit(pool.ap_test, generator=stream_generator("test-noise", run.seed), channel=true if run.csi() != "perfect" else None)
        seconds = time.perf_counter() - start
        k = len(group)
        links = k if run.method == "multi-link" else 1
        similarity = None
        if k > 1:
            pairs = [(a, b) for i, a in enumerate(group) for b in group[i + 1 :]]
            similarity = sum(_linear_cka(pool.users[a][0], pool.users[b][0]) for a, b in pairs) / len(pairs)
        for u, (name, y_hat) in enumerate(zip(group, estimates)):
            head = classifier(("federated", run.pool_key()[:7], name), pool.users[name][0], pool.train_labels, run.seed)
            test = pool.users[name][1]
            error = mse(y_hat, test)
            row = {
                **provenance("federated", "cpu"),
                "snr_convention": run.snr_convention, "channel_variance": run.channel_variance, "power": run.power,
                "rounds": run.rounds, "rho": run.rho, "pilot_method": run.pilot_method,
                "dataset": pool.dataset, "latents": run.latents, "experiment": run.experiment, "method": run.method,
                "seed": run.seed, "user_set": run.user_set, "user_group": group_index, "users": ",".join(group), "user": u,
                "n_users": k, "tx_encoder": pool.ap_encoder, "rx_encoder": name, "proximity": pool.proximity[name],
                "set_similarity": similarity, "d_tx": pool.d_ap, "d_rx": test.shape[1], "snr_db": run.snr_db,
                "noise_variance": model.noise_variance(), "channel_uses": run.channel_uses, "n_tx": run.n_antennas,
                "n_rx": run.n_antennas, "compression_factor": model.compression_factor(pool.d_ap), "links": links,
                "total_channel_uses": links * run.channel_uses, "total_power": links * run.power,
                "pilot_fraction": run.pilot_fraction, "n_pilots": int(idx.numel()),
                "processing": run.processing if protocol else run.baseline_processing,
                "accuracy": accuracy(head, y_hat, pool.test_labels), "clean_accuracy": accuracy(head, test, pool.test_labels),
                "mse": error, "nmse": error / float(test.to(torch.float64).var(0).mean()),
                "bytes_uplink": int(model.bytes_uplink_), "bytes_downlink": int(model.bytes_downlink_),
                "training_channel_uses": int(model.channel_uses_), "precoder_power": _precoder_power(model),
                "final_primal_residual": model.history_["primal_residual"][-1] if hasattr(model, "history_") else None,
                "fit_seconds": seconds,
                "csi": run.csi(), "csi_error": run.csi_error, "csi_error_known": csi_error, "robust": run.robust,
                "channel_model": run.channel_model,
            }  # fmt: skip
            # The channel model's own options are recorded; the other models' are not (as link rows).
            settings = {k: v for k, v in asdict(run).items() if k not in row and k not in run.unused_channel_options()}
            rows.append({**row, **settings, "run_id": identifier})
    return rows


def pool_version(run: FederatedRun) -> str:
    """Fingerprint of the cached latents a ``timm`` pool reads (when each encoder's caches were
    written), for the run id: re-extracted latents rerun the run; empty for the built-in sources."""
    if run.latents != "timm":
        return ""
    from semalign.latents.cache import cached_metadata

    pool = run.pool_settings()
    encoders = dict.fromkeys((pool["ap_encoder"], *pool["users"], *(u for g in (*pool["homogeneous"], *pool["heterogeneous"]) for u in g)))
    dataset = run.dataset or "cifar10"
    return "timm:" + ",".join(cached_metadata(dataset, model, split).get("created", "missing") for model in encoders for split in ("train", "test"))


def run_kind() -> RunKind:
    """The ``federated`` run kind (where the registry says the protocols run: the CPU)."""
    return RunKind(
        "federated", "federated", FederatedRun, run_federated_group, check_federated_runs, lambda run: (),
        devices=devices_of("federated"), data_version=pool_version,
        sort_columns=(
            "experiment", "channel_model", "method", "latents", "user_set", "n_tx", "channel_uses", "snr_db", "pilot_fraction", "csi_error",
            "pilot_snr_db", "robust", "seed", "user_group", "user",
        ),
    )  # fmt: skip
