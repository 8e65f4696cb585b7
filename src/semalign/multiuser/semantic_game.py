"""Secondary semantic pairs on a shared MIMO interference channel, from latents to accuracy.

:class:`SemanticInterferenceGame` is the estimator of the game: each pair q has its own transmitter
and receiver encoders (a :class:`~semalign.latents.LatentPair`); ``fit(pairs)`` learns every pair's
alignment from its semantic pilots, draws the channels (Sionna; Rayleigh by default, see
``channel_model``) that connect every transmitter to every receiver and to the primary receivers,
and designs every pair's transceiver with ``method`` (an equilibrium of the game, or a baseline); ``transmit(xs)`` sends every pair's
latents at once through the network.

The pilot pipeline (:mod:`semalign.multiuser.game_pilots`), per pair and seed: the whitened
least-squares alignment A, its residual e^LS and the semantic weights (squared singular values of
A). Pairs with smaller latents are zero-padded to the largest, which changes nothing. The channels
of every instance are drawn by :mod:`semalign.multiuser.game_channels`.

Link model: N_t = N_r antennas per pair, T channel uses per latent lifted
as I_T (x) H (flat channel models; per subcarrier below), direct channels CN(0, v), cross channels CN(0, v * cross_gain), primary-receiver
channels CN(0, v * pu_gain); noise sigma^2 from the SNR convention (P the energy per latent). A
primary user's limit ``pu_limit_db`` is relative to its own noise energy over a latent's channel
uses, I^max = 10^(dB/10) sigma^2 T N_p. Every receiver hears all transmitters: its
:class:`~semalign.link.Link` has every transmitter's antennas side by side (``transmitters=Q``), so
the interference is part of y = H s + w. The pairs send independent latents (in a study, each
pair's test set in its own random order, :meth:`SemanticInterferenceGame.instance_orders`), so the
model's independence assumption holds.

Channel models (``channel_model``, :mod:`semalign.link.channel_models`). ``rayleigh`` (default;
exactly the draws of :func:`~semalign.link.channel.rayleigh_channel` from the same stream) and
``kronecker`` (``tx_correlation``, ``rx_correlation``) are flat: one ``(N, N)`` matrix per channel,
shared by the T uses of a latent and lifted as I_T (x) H. The 3GPP TR 38.901 models ``tdl-a`` ...
``tdl-e`` and ``cdl-a`` ... ``cdl-e`` (``delay_spread_ns``, ``carrier_frequency_ghz``,
``bandwidth_mhz``) put the T uses of a latent on T OFDM subcarriers: every transmitter-receiver
channel (direct, cross and primary, each an independent draw of the model scaled by its gain) has
one matrix H^(t) per subcarrier and is lifted as diag(H^(1), ..., H^(T)); every design (both games,
ignore-interference, centralized) works on those lifted channels, and ``orthogonal`` becomes OFDMA
(pair q gets the subcarriers t = q, q + Q, ...). A subcarrier is a channel use: the noise level
and the primary-user limits stay those of T uses. With ``csi_error`` each subcarrier's channel is
estimated on its own: the errors below are independent per subcarrier (correlated ``kronecker`` is refused).

Instances: ``seeds`` x ``draws`` independent instances (pilots per seed; channels per seed and
draw) are designed as one batch.

Imperfect channel knowledge (``csi_error`` = ε > 0, the error model of :mod:`semalign.link.csi`).
The channels drawn in ``fit`` are the true ones (``true_channels_per_use_``,
``true_pu_channels_per_use_``, ``true_network_``); every design sees estimates of all of them,
Ĥ = estimate_of(H, ε, v_H) (:func:`~semalign.link.csi.estimate_of`) with v_H the variance of that channel's
entries (v direct, v * cross_gain cross, v * pu_gain primary), so H = Ĥ + D with D independent of Ĥ,
entries CN(0, ε v_H), shared by the T uses of a latent (TDL/CDL: one independent D_t per subcarrier).
A naive design (``robust=False``) takes Ĥ for the truth. A robust design (``robust=True``) designs for
the expectation over D:

* receiver q's interference from transmitter r is E[H_qr Q_r H_qr^H] = Ĥ_qr Q_r Ĥ_qr^H + ε v_qr
  B(Q_r) (x) I_N (per channel use t: + ε v_qr tr(Q_r,tt) I; B(Q) the T x T block traces of Q; per
  subcarrier errors keep its diagonal only, diag(B(Q_r)) (x) I_N);
* each primary budget binds E[tr(G_jr Q_r G_jr^H)] = tr(Ĝ_jr Q_r Ĝ_jr^H) + ε v_pu N_p tr(Q_r);
* the pair's own channel error adds E[D_qq F F^H D_qq^H] = ε v B(Q_q) (x) I <= ε v tr(Q_q) I <= ε v P_q I
  to its receiver: a robust design adds the bound ε v P_q I to the noise, so its reported MSE
  (``design_.mse``) is an upper bound of the MSE it expects (exact for T = 1 at full power).

What is guaranteed: the primary-user limits of a robust design hold *on average over the channel
error given the estimate* (the expectation above), not for every realisation of the true channel;
a particular true channel may exceed them (:meth:`SemanticInterferenceGame.primary_interference`
measures it). What is not: a naive design's limits hold only on the estimate; the equilibria are
equilibria of the game on the estimate (or of its expectation), not of the true channels; null
shaping on the estimate nulls the estimate only, so ε v_pu N_p tr(Q_q) of expected interference
remains (robust or not: null shaping has no limit to meet).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from semalign._checks import as_real_matrix, check_choice, check_finite_number, check_positive, check_positive_int
from semalign._estimator import Estimator
from semalign._registry import register
from semalign._seeds import check_seed, stream_generator
from semalign._vocabulary import SCHEDULES
from semalign.latents import LatentPair
from semalign.latents.pilots import PILOT_METHODS
from semalign.link.channel_models import CHANNEL_OPTIONS, ChannelModel
from semalign.link.csi import check_csi_error, check_robust
from semalign.link.link import Link, as_true_channel
from semalign.link.mimo import block_diagonal_channel, subcarrier_block_diagonal
from semalign.link.noise import check_snr_convention, db_to_linear, noise_variance
from semalign.link.packing import complex_dim, pack_complex, unpack_complex
from semalign.multiuser.baselines import Design, centralized, ignore_interference
from semalign.multiuser.best_response import pair_mse
from semalign.multiuser.conditions import ConditionReport, check_conditions
from semalign.multiuser.game import Equilibrium, solve_game
from semalign.multiuser.game_channels import draw_instance_channels, receivers_view
from semalign.multiuser.game_pilots import PairPilots, learn_pair_pilots
from semalign.multiuser.network import DTYPE, PU_PROTECTIONS, InterferenceNetwork

#: Methods of :class:`SemanticInterferenceGame` (its ``method`` and :meth:`~SemanticInterferenceGame.design`).
GAME_METHODS = ("game-fixed-eigenmode", "game-full-mimo", "ignore-interference", "centralized", "orthogonal")


@dataclass(frozen=True)
class PrimaryInterference:
    """What :meth:`SemanticInterferenceGame.primary_interference` returns (energy per latent over its
    T channel uses, the unit of the limit).

    Attributes:
        per_pair: ``(B, J, Q)`` float64 tr(G_jq Q_q G_jq^H) on the channels asked (default: the true
            ones), the interference pair q causes at primary j.
        total: ``(B, J)`` float64 its sum over the pairs, what primary j receives.
        believed: ``(B, J, Q)`` float64 what the design computed for itself: on the estimate (naive)
            or its expectation over the channel error (robust); equal to ``per_pair`` with perfect CSI.
        limit: I^max per primary receiver (a float; ``None`` without ``pu_limit_db``). With
            individual budgets each pair's share is limit / Q.
    """

    per_pair: torch.Tensor
    total: torch.Tensor
    believed: torch.Tensor
    limit: float | None


@register("orthogonal", "game", options={"method": "orthogonal"}, batched=("seeds",), devices=("cpu",), description="round-robin time division of the channel uses")
@register("centralized", "game", options={"method": "centralized"}, batched=("seeds",), devices=("cpu",), description="sum-MSE descent from the equilibrium (price of anarchy)")
@register("ignore-interference", "game", options={"method": "ignore-interference"}, batched=("seeds",), devices=("cpu",), description="each pair's single-link optimum")
@register("game-full-mimo", "game", options={"method": "game-full-mimo"}, batched=("seeds",), devices=("cpu",), description="Nash equilibrium of full precoders (may cycle)")
@register("game-fixed-eigenmode", "game", options={"method": "game-fixed-eigenmode"}, batched=("seeds",), devices=("cpu",), description="Nash equilibrium, directions frozen to the direct channel's SVD")
class SemanticInterferenceGame(Estimator):
    """Q semantic pairs sharing a MIMO interference channel with J primary receivers.

    Args:
        n_antennas: N_t = N_r per pair.
        channel_uses: T channel uses per latent vector.
        snr_db, snr_convention, channel_variance, power: the link.
        channel_model: the channels' model (module docs): ``"rayleigh"`` (default), ``"kronecker"``
            or a 3GPP TDL/CDL model ``"tdl-a"`` ... ``"cdl-e"`` (frequency selective over the T uses).
        tx_correlation, rx_correlation: ``kronecker``'s exponential correlation coefficients in [0, 1).
        delay_spread_ns, carrier_frequency_ghz, bandwidth_mhz: the TDL/CDL models' options. An
            option of another model than ``channel_model`` must keep its default (``ValueError``).
        cross_gain_db: power gain of every cross channel relative to the direct ones.
        primary_users: J primary receivers, each with ``primary_antennas`` antennas.
        pu_gain_db: power gain of the channels to the primary receivers.
        pu_limit_db: interference limit relative to a primary receiver's noise (see module docs).
        pu_protection: ``"none"``, ``"null"``, ``"individual"`` or ``"global"`` (requires primary users;
            budgets require ``pu_limit_db``).
        pilots_per_class, pilot_method: semantic pilots (see :func:`~semalign.latents.select_pilots`).
        seeds: one instance per seed (pilots, channels and the default test noise come from it).
        draws: channel draws per seed (more instances).
        csi_error: ε in [0, 1], the fraction of each channel's power the designs' estimates miss
            (module docs); 0: perfect channel knowledge (then nothing changes). On a TDL/CDL
            ``channel_model`` the error is per subcarrier (independent across the T uses);
            ``ValueError`` with correlated ``kronecker`` antennas.
        robust: design for the expectation over the channel error (module docs) instead of taking
            the estimate for the truth; only matters with ``csi_error > 0``.
        method: what ``fit`` designs: ``"game-fixed-eigenmode"`` (default) or ``"game-full-mimo"`` (a
            Nash equilibrium by semantic water-filling), ``"ignore-interference"`` (each pair's
            single-link optimum), ``"centralized"`` (sum-MSE descent started from the
            fixed-eigenmode equilibrium: the price of anarchy) or ``"orthogonal"`` (round-robin
            time division of the T channel uses; OFDMA over the T subcarriers on a TDL/CDL model).
        schedule: update schedule of the games: ``"jacobi"``, ``"gauss-seidel"`` or ``"async"``.
        tol: the games stop once the fixed-point residual is below it (their convergence is judged
            by it, so it has a value).
        max_iter: cap on the games' updates.
        centralized_tol: relative sum-MSE improvement below which the centralized descent stops.
        centralized_max_iter: cap on the centralized descent's steps. Block-coordinate descent
            needs far more steps than the games need updates (about 230 on the digits pairs at
            the default tolerance), so it has its own cap; instances that reach it are flagged
            ``converged=False`` with a warning.
        device: where the latents are processed (the game itself runs in complex128 on the CPU).

    Attributes after :meth:`fit`:
        network_: the batch of :class:`InterferenceNetwork` (B = len(seeds) * draws instances) the
            designs are computed on: the estimated channels (with the error's second moments when
            ``robust``); the true network with perfect CSI.
        true_network_: the same network on the true channels (no error terms): what the symbols meet.
        channels_per_use_, pu_channels_per_use_: ``(B, Q, Q, N, N)`` and ``(B, J, Q, N_p, N)``
            complex128 per-use channels the designs know (``[:, q, r]`` from transmitter r to
            receiver q; ``[:, j, q]`` from transmitter q to primary j); on a frequency-selective
            (TDL/CDL) model one matrix per use (subcarrier): ``(B, Q, Q, T, N, N)`` and
            ``(B, J, Q, T, N_p, N)``.
        true_channels_per_use_, true_pu_channels_per_use_: the true channels in the same layouts
            (equal to the known ones when ``csi_error == 0``).
        design_: the :class:`~semalign.multiuser.game.Equilibrium` (games) or
            :class:`~semalign.multiuser.baselines.Design` (baselines) of ``method``: precoders,
            decoders, model MSE, primary-user interference, convergence.
        link_: the :class:`~semalign.link.Link` of the network as the receivers hear it, on the
            channels the designs know: ``(B, Q, N, Q N)`` per use (receiver q of instance b, every
            transmitter's antennas side by side: columns r N ... (r + 1) N - 1 are H_qr). On a
            frequency-selective model one use of the subcarriers (``subcarriers=T``):
            ``(B, Q, T N, Q T N)``, transmitter r's columns r T N ... (r + 1) T N - 1 holding
            diag(H_qr^(1), ..., H_qr^(T)). The property :attr:`true_channel_` holds the true
            channels in this layout (what :meth:`transmit` takes as ``channel``).
        noise_variance_: sigma^2 per receive antenna per channel use.
        pilots_: per seed, per pair, what the pilots gave (:class:`PairPilots`).
        d_tx_, d_rx_: each pair's latent dimensions.
    """

    fit_marker = "design_"
    _fit_call, _transmit_call = "fit(pairs)", "transmit(xs)"
    _deprecated_params = ("pairs",)

    def __init__(
        self,
        pairs: Sequence[LatentPair] | None = None,
        *,
        n_antennas: int = 2,
        channel_uses: int = 1,
        snr_db: float = 20.0,
        snr_convention: str = "total",
        channel_variance: float = 1.0,
        power: float = 1.0,
        channel_model: str = ChannelModel.name,  # the channel model's defaults are ChannelModel's
        tx_correlation: float = ChannelModel.tx_correlation,
        rx_correlation: float = ChannelModel.rx_correlation,
        delay_spread_ns: float = ChannelModel.delay_spread_ns,
        carrier_frequency_ghz: float = ChannelModel.carrier_frequency_ghz,
        bandwidth_mhz: float = ChannelModel.bandwidth_mhz,
        cross_gain_db: float = -10.0,
        primary_users: int = 0,
        primary_antennas: int = 1,
        pu_gain_db: float = 0.0,
        pu_limit_db: float | None = None,
        pu_protection: str = "none",
        pilots_per_class: int | None = 100,
        pilot_method: str = "random",
        seeds: int | Sequence[int] = 0,
        draws: int = 1,
        csi_error: float = 0.0,
        robust: bool = False,
        method: str = "game-fixed-eigenmode",
        schedule: str = "gauss-seidel",
        tol: float = 1e-8,
        max_iter: int = 200,
        centralized_tol: float = 1e-7,
        centralized_max_iter: int = 5000,
        device: str = "cpu",
    ) -> None:
        if pairs is not None:
            warnings.warn(
                "SemanticInterferenceGame(pairs, ...) is deprecated: pass the pairs to fit(pairs) instead",
                DeprecationWarning, stacklevel=2,
            )  # fmt: skip
            self._check_pairs(pairs)
        self.pairs = None if pairs is None else list(pairs)
        self._set_params(locals())
        self._validate()

    @classmethod
    def _param_names(cls) -> list[str]:
        return [name for name in super()._param_names() if name not in cls._deprecated_params]

    def set_params(self, **params) -> "SemanticInterferenceGame":
        pairs = self.pairs  # given to the deprecated constructor: kept
        super().set_params(**params)
        self.pairs = pairs
        return self

    def _validate(self) -> None:
        self.n_antennas = check_positive_int("n_antennas", self.n_antennas)
        self.channel_uses = check_positive_int("channel_uses", self.channel_uses)
        self.snr_db = check_finite_number("snr_db", self.snr_db, allow_inf=True)  # inf is refused at fit: the game needs noise
        self.snr_convention = check_snr_convention(self.snr_convention)
        self.channel_variance = check_positive("channel_variance", self.channel_variance)
        self.power = check_positive("power", self.power)
        self.cross_gain_db = check_finite_number("cross_gain_db", self.cross_gain_db)
        if isinstance(self.primary_users, bool) or int(self.primary_users) != self.primary_users or self.primary_users < 0:
            raise ValueError(f"primary_users must be an integer >= 0, got {self.primary_users!r}")
        self.primary_users = int(self.primary_users)
        self.primary_antennas = check_positive_int("primary_antennas", self.primary_antennas)
        self.pu_gain_db = check_finite_number("pu_gain_db", self.pu_gain_db)
        self.pu_protection = check_choice("pu_protection", self.pu_protection, PU_PROTECTIONS)
        if self.pu_protection != "none" and self.primary_users == 0:
            raise ValueError(f"pu_protection={self.pu_protection!r} needs primary_users >= 1")
        if self.pu_protection in ("individual", "global") and self.pu_limit_db is None:
            raise ValueError(f"pu_protection={self.pu_protection!r} needs pu_limit_db (the limit relative to the primary receiver's noise, dB)")
        self.pu_limit_db = None if self.pu_limit_db is None else check_finite_number("pu_limit_db", self.pu_limit_db)
        seeds = self.seeds
        if isinstance(seeds, numbers.Integral):
            seeds = (seeds,)
        if not isinstance(seeds, Sequence) or isinstance(seeds, (str, bytes)) or not seeds:
            raise ValueError(f"seeds must be an integer seed or a non-empty sequence of them, got {self.seeds!r}")
        self.seeds = tuple(check_seed("seeds", s) for s in seeds)
        if self.pilots_per_class is not None:
            self.pilots_per_class = check_positive_int("pilots_per_class", self.pilots_per_class)
        self.pilot_method = check_choice("pilot_method", self.pilot_method, PILOT_METHODS)
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {self.device!r}") from None
        self.draws = check_positive_int("draws", self.draws)
        self.csi_error = check_csi_error(self.csi_error)
        self.channel().check_csi_model_for(csi_error=self.csi_error, per_subcarrier=("csi_error",))
        check_robust(self.robust)
        self.method = check_choice("method", self.method, GAME_METHODS)
        self.schedule = check_choice("schedule", self.schedule, SCHEDULES)
        self.tol = check_positive("tol", self.tol)
        self.max_iter = check_positive_int("max_iter", self.max_iter)
        self.centralized_tol = check_positive("centralized_tol", self.centralized_tol)
        self.centralized_max_iter = check_positive_int("centralized_max_iter", self.centralized_max_iter)

    def channel(self) -> ChannelModel:
        """The :class:`~semalign.link.channel_models.ChannelModel` of ``channel_model`` with its options
        (checked: ``ValueError`` for an unknown name, a bad option, or a non-default option of
        another model)."""
        return ChannelModel(self.channel_model, **{option: getattr(self, option) for option in CHANNEL_OPTIONS})

    @property
    def frequency_selective(self) -> bool:
        """Whether the T uses of a latent see different channels (a TDL/CDL ``channel_model``)."""
        return self.channel().frequency_selective

    @staticmethod
    def _check_pairs(pairs) -> list[LatentPair]:
        pairs = list(pairs) if isinstance(pairs, Sequence) and not isinstance(pairs, (str, bytes)) else None
        if not pairs or not all(isinstance(p, LatentPair) for p in pairs):
            raise ValueError("pairs must be a non-empty sequence of LatentPair (one per secondary pair)")
        lengths = {len(p.test) for p in pairs}
        if len(lengths) != 1:
            raise ValueError(f"every pair's test split must have the same length (they transmit simultaneously), got {sorted(lengths)}")
        return pairs

    def check_sizes(self, pairs: Sequence[LatentPair]) -> None:
        """Raise ``ValueError`` unless every pair's transmitter sends at most one channel symbol per
        complex latent entry (T N_t <= ceil(d_tx / 2), a compression factor of at most 100 %).

        :meth:`fit` does not require it (the game gives surplus eigenmodes no power, which small
        tests use), but runs and studies do, as the single link does: more symbols than entries
        compress nothing."""
        too_small = [(q, p.d_tx) for q, p in enumerate(pairs) if self.n_tx > complex_dim(p.d_tx)]
        if too_small:
            limit = min(complex_dim(d) for _, d in too_small)
            raise ValueError(
                f"channel_uses x n_antennas = {self.channel_uses} x {self.n_antennas} = {self.n_tx} symbols exceed the complex latent size "
                f"ceil(d_tx/2) of pairs {[q for q, _ in too_small]} (d_tx {[d for _, d in too_small]}); expected at most {limit} "
                "(a compression factor of at most 100 %)"
            )

    # ------------------------------------------------------------------ sizes
    @property
    def n_pairs(self) -> int:
        if hasattr(self, "d_tx_"):
            return len(self.d_tx_)
        if self.pairs is None:
            raise ValueError("the number of pairs is known once fitted; call fit(pairs)")
        return len(self.pairs)

    @property
    def n_tx(self) -> int:
        """Transmit dimensions n_T = T N_t."""
        return self.channel_uses * self.n_antennas

    def compression_factor(self, pair: int) -> float:
        """Percent of channel symbols per complex latent entry of ``pair``: 100 T N_t / ceil(d_tx/2)."""
        d_tx = self.d_tx_[pair] if hasattr(self, "d_tx_") else self.pairs[pair].d_tx
        return 100.0 * self.n_tx / complex_dim(d_tx)

    def instances(self) -> list[tuple[int, int]]:
        """``(seed, draw)`` of each instance, in batch order."""
        return [(seed, draw) for seed in self.seeds for draw in range(self.draws)]

    @property
    def pairs_(self) -> list[LatentPair]:
        """The pairs of the last ``fit`` (kept in memory, never saved: a loaded game has none)."""
        self._check_fitted("pairs_")
        if not hasattr(self, "_pairs"):
            raise ValueError("the pairs' latents are not saved with a game; fit(pairs) again to have them")
        return self._pairs

    # ------------------------------------------------------------------ pilots
    def _pair_pilots(self, pair: LatentPair, seed: int) -> PairPilots:
        return learn_pair_pilots(pair, seed, pilots_per_class=self.pilots_per_class, pilot_method=self.pilot_method, device=self.device)

    def noise_variance(self) -> float:
        """sigma^2 per receive antenna per channel use."""
        return float(
            noise_variance(
                self.snr_db, power=self.power, n_tx=self.n_antennas, channel_uses=self.channel_uses,
                channel_variance=self.channel_variance, convention=self.snr_convention, n_rx=self.n_antennas,
            )
        )  # fmt: skip

    def pu_limit(self) -> float | None:
        """I^max per primary receiver (energy per latent over T channel uses), or ``None``."""
        if self.pu_limit_db is None:
            return None
        return float(db_to_linear(self.pu_limit_db)) * self.noise_variance() * self.channel_uses * self.primary_antennas

    # ------------------------------------------------------------------ fit
    def fit(self, pairs: Sequence[LatentPair] | None = None) -> "SemanticInterferenceGame":
        """Learn every pair's alignment from its pilots, draw the channels of every instance and design
        every pair's transceiver with ``method``.

        Args:
            pairs: one :class:`~semalign.latents.LatentPair` per secondary pair (each with its own
                encoders); their test splits must have the same length (they are sent simultaneously).

        Returns:
            self
        """
        if pairs is None:
            if self.pairs is None:
                raise ValueError("fit needs pairs: a non-empty sequence of LatentPair (one per secondary pair)")
            pairs = self.pairs
        pairs = self._check_pairs(pairs)
        self._validate()
        self.__dict__.pop(self.fit_marker, None)  # not fitted until this fit succeeds
        self._prepare(pairs)
        self.design_ = self.design(self.method)
        return self

    def _prepare(self, pairs: list[LatentPair]) -> None:
        """Pilots, channels and the interference network of every instance (no design yet)."""
        q, n, t = len(pairs), self.n_antennas, self.channel_uses
        model = self.channel()
        d = max(complex_dim(p.d_tx) for p in pairs)
        m = max(complex_dim(p.d_rx) for p in pairs)
        sigma2 = self.noise_variance()
        if not sigma2 > 0:
            raise ValueError(f"snr_db must be finite for the game (it needs positive noise), got {self.snr_db!r}")
        self._pairs = pairs
        self.d_tx_, self.d_rx_ = [p.d_tx for p in pairs], [p.d_rx for p in pairs]
        self.pilots_ = {seed: [self._pair_pilots(p, seed) for p in pairs] for seed in self.seeds}
        alignment, residual, drawn = [], [], []
        # One estimate stream per seed (the csi stream has no draw), consumed in draw order, so an
        # instance's estimate depends on its seed and draw only, never on the rest of the batch.
        csi_generators = {seed: stream_generator("csi", seed) for seed in self.seeds}
        for seed, draw in self.instances():
            a = torch.zeros(q, m, d, dtype=DTYPE)
            for i, pilots in enumerate(self.pilots_[seed]):
                a[i, : pilots.alignment.shape[0], : pilots.alignment.shape[1]] = pilots.alignment.cpu()
            alignment.append(a)
            residual.append(torch.tensor([p.residual_mse for p in self.pilots_[seed]], dtype=torch.float64))
            drawn.append(draw_instance_channels(
                model, pairs=q, n_antennas=n, channel_uses=t, primary_users=self.primary_users, primary_antennas=self.primary_antennas,
                cross_gain_db=self.cross_gain_db, pu_gain_db=self.pu_gain_db, channel_variance=self.channel_variance, csi_error=self.csi_error,
                generator=stream_generator("game-channels", seed, draw=draw),  # one CPU generator per (seed, draw): the same instance everywhere
                csi_generator=csi_generators[seed],
            ))  # fmt: skip
        self.true_channels_per_use_ = torch.stack([c.true for c in drawn])  # (B, Q, Q, N, N); (B, Q, Q, T, N, N) per subcarrier
        self.channels_per_use_ = torch.stack([c.known for c in drawn])  # what the designs know (perfect CSI: a copy)
        primary = self.primary_users > 0
        self.true_pu_channels_per_use_ = torch.stack([c.primary for c in drawn]) if primary else None  # (B, J, Q, N_p, N); (B, J, Q, T, N_p, N)
        self.pu_channels_per_use_ = torch.stack([c.primary_known for c in drawn]) if primary else None
        self.noise_variance_ = sigma2
        heard = receivers_view(self.channels_per_use_)
        uses = {"channel_uses": 1, "subcarriers": t} if self.frequency_selective else {"channel_uses": t}
        self.link_ = Link(
            heard, self.snr_db, self.power, snr_convention=self.snr_convention, channel_variance=self.channel_variance, transmitters=q, **uses,
        )  # fmt: skip
        alignment, residual = torch.stack(alignment), torch.stack(residual)
        self.network_ = self._network(alignment, residual)
        self.true_network_ = self._network(alignment, residual, true=True)

    @property
    def true_channel_(self) -> torch.Tensor:
        """``(B, Q, N, Q N)`` complex128 (``(B, Q, T N, Q T N)`` on a frequency-selective model): the
        true channels drawn in :meth:`fit`, in the layout of ``link_.channel`` (what :meth:`transmit`
        takes as ``channel``)."""
        self._check_fitted("true_channel_")
        return receivers_view(self.true_channels_per_use_)

    @property
    def designs_robust(self) -> bool:
        """Whether the designs average over a channel error (``robust`` with ``csi_error > 0``)."""
        return self.robust and self.csi_error > 0

    def _lift(self, h: torch.Tensor, uses: Sequence[int] | None = None) -> torch.Tensor:
        """Per-use channels over the channel uses ``uses`` (default: all T; the orthogonal baseline
        lifts a pair's own) as one matrix: flat ``(..., n_r, n_t)`` -> I_U (x) H, per-subcarrier
        ``(..., T, n_r, n_t)`` -> diag(H^(u) for u in uses); ``(..., U n_r, U n_t)`` either way."""
        uses = range(self.channel_uses) if uses is None else uses
        if self.frequency_selective:
            return subcarrier_block_diagonal(h[..., list(uses), :, :])
        return block_diagonal_channel(h, len(uses))

    def _error_terms(self, b: int, q: int, uses: int) -> dict:
        """A robust design's model of the channel error (empty otherwise): the per-entry error
        variances ε v_H of every cross and primary channel, the lifting T, and whether the uses'
        errors are independent (subcarriers of a TDL/CDL model) or shared (flat)."""
        if not self.designs_robust:
            return {}
        eps, v = self.csi_error, self.channel_variance
        gains = torch.full((q, q), float(db_to_linear(self.cross_gain_db)), dtype=torch.float64)
        gains.fill_diagonal_(1.0)
        terms = dict(channel_error=(eps * v * gains).expand(b, q, q), uses=uses, independent_errors=self.frequency_selective)
        if self.primary_users:
            terms["pu_channel_error"] = torch.full((b, self.primary_users, q), eps * v * float(db_to_linear(self.pu_gain_db)), dtype=torch.float64)
        return terms

    def _noise(self, b: int, q: int, n_r: int, power: torch.Tensor) -> torch.Tensor:
        """``(B, Q, n_R, n_R)`` R_q^0: thermal noise, plus for a robust design the bound ε v P_q I of
        its own channel error's contribution E[D F F^H D^H] = ε v B(Q_q) (x) I <= ε v tr(Q_q) I."""
        eye = torch.eye(n_r, dtype=DTYPE)
        noise = self.noise_variance_ * eye.expand(b, q, n_r, n_r)
        if self.designs_robust:
            noise = noise + (self.csi_error * self.channel_variance * power).to(DTYPE)[..., None, None] * eye
        return noise

    def _network(self, alignment, residual, *, true: bool = False) -> InterferenceNetwork:
        """The network the designs see (``true=False``: the known channels, the error model when
        robust) or the true one (the true channels, no error terms)."""
        b, q = alignment.shape[:2]
        uses = self.channel_uses
        n_r = uses * self.n_antennas
        power = torch.full((b, q), self.power, dtype=torch.float64)
        channels = self.true_channels_per_use_ if true else self.channels_per_use_
        extra = {} if true else self._error_terms(b, q, uses)
        noise = self.noise_variance_ * torch.eye(n_r, dtype=DTYPE).expand(b, q, n_r, n_r) if true else self._noise(b, q, n_r, power)
        if self.primary_users:
            limits = None if self.pu_limit_db is None else torch.full((b, self.primary_users), self.pu_limit(), dtype=torch.float64)
            pu = self.true_pu_channels_per_use_ if true else self.pu_channels_per_use_
            extra.update(pu_channels=self._lift(pu), pu_limits=limits, pu_protection=self.pu_protection)
        return InterferenceNetwork(alignment, self._lift(channels), noise, power, residual_mse=residual, **extra)

    def _check_network(self) -> None:
        if not hasattr(self, "network_"):
            self._check_fitted("solve, design or check_conditions")

    # ------------------------------------------------------------------ designs
    def solve(self, method: str = "gauss-seidel", variant: str = "fixed-eigenmode", **options) -> Equilibrium:
        """Equilibrium transceivers of every instance (see :func:`~semalign.multiuser.solve_game`)."""
        self._check_network()
        return solve_game(self.network_, variant=variant, method=method, **options)

    def check_conditions(self) -> ConditionReport:
        """The existence/uniqueness/convergence conditions of every instance."""
        self._check_network()
        return check_conditions(self.network_)

    def design(self, method: str, *, schedule: str | None = None, **options) -> Equilibrium | Design:
        """Transceivers of ``method`` (one of :data:`GAME_METHODS`) for every instance of the fitted network.

        The games use ``schedule`` (default: the estimator's), ``tolerance`` and ``max_iterations``
        (default: ``tol`` and ``max_iter``); the centralized descent starts from the fixed-eigenmode
        equilibrium unless ``start`` is given. ``orthogonal`` is round-robin time division of the T
        channel uses (pair q gets the uses t = q, q + Q, ...; with T < Q some pairs get none and
        cannot transmit), each pair alone on its uses with the same energy per latent and the same
        primary-user protection; on a frequency-selective model the uses are subcarriers (OFDMA),
        each pair designing for its own subcarriers' channels.
        """
        check_choice("method", method, GAME_METHODS)
        self._check_network()
        schedule = self.schedule if schedule is None else schedule
        if method.startswith("game-"):
            options = {"tolerance": self.tol, "max_iterations": self.max_iter, **options}
            return self.solve(method=schedule, variant=method.removeprefix("game-"), **options)
        if method == "ignore-interference":
            return ignore_interference(self.network_)
        if method == "centralized":
            start = options.pop("start", None)
            if start is None:
                # From the fixed-eigenmode equilibrium: the sum MSE then can only improve on it.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # its convergence is not the point here
                    start = self.solve(method=schedule, tolerance=self.tol, max_iterations=self.max_iter).precoders
            options = {"max_iterations": self.centralized_max_iter, "tolerance": self.centralized_tol, **options}
            design = centralized(self.network_, start, **options)
            if not bool(design.converged.all()):
                stuck = (~design.converged).nonzero().flatten().tolist()
                warnings.warn(
                    f"centralized descent: {len(stuck)} of {design.converged.numel()} instances did not converge within "
                    f"{options['max_iterations']} steps (instances {stuck}); their rows are flagged converged=False",
                    RuntimeWarning, stacklevel=2,
                )  # fmt: skip
            return design
        return self._orthogonal()

    def _orthogonal(self) -> Design:
        net = self.network_
        b, q = net.n_instances, net.n_pairs
        d, m, n = net.alignment.shape[-1], net.alignment.shape[-2], self.n_antennas
        precoders = torch.zeros(b, q, net.n_tx, d, dtype=DTYPE)
        decoders = torch.zeros(b, q, m, net.n_rx, dtype=DTYPE)
        mse = net.residual_mse + net.alignment.abs().square().sum((-2, -1))  # a silent pair predicts the mean
        pu_load = torch.zeros(b, self.primary_users, q, dtype=torch.float64)
        for pair in range(q):
            uses = list(range(pair, self.channel_uses, q))
            if not uses:
                continue
            alone = ignore_interference(self._alone_network(pair, uses))  # nobody else on these uses
            rows = torch.cat([torch.arange(t * n, (t + 1) * n) for t in uses])  # the pair's slots in the frame
            precoders[:, pair, rows] = alone.precoders[:, 0]
            decoders[:, pair, :, rows] = alone.decoders[:, 0]
            mse[:, pair] = alone.mse[:, 0]
            pu_load[:, :, pair] = alone.pu_interference[:, :, 0]
        return Design(precoders, decoders, mse, pu_load, torch.zeros(b, dtype=torch.long), torch.ones(b, dtype=torch.bool))

    def _alone_network(self, pair: int, uses: list[int]) -> InterferenceNetwork:
        """Pair ``pair`` alone on the channel uses ``uses`` (its subcarriers on a frequency-selective
        model), with its share I^max / Q of each limit."""
        net = self.network_
        b, n_r = net.n_instances, len(uses) * self.n_antennas
        power = net.power[:, pair : pair + 1]
        extra = {}
        if self.designs_robust:  # its own primary channels' error (no cross channel on its uses)
            extra = self._error_terms(b, 1, len(uses))  # the variances are the same for every pair
        if self.primary_users:
            protection = "individual" if self.pu_protection == "global" else self.pu_protection
            limits = None if self.pu_limit_db is None else torch.full((b, self.primary_users), self.pu_limit() / net.n_pairs, dtype=torch.float64)
            extra.update(pu_channels=self._lift(self.pu_channels_per_use_[:, :, pair : pair + 1], uses), pu_limits=limits, pu_protection=protection)
        return InterferenceNetwork(
            net.alignment[:, pair : pair + 1],
            self._lift(self.channels_per_use_[:, pair : pair + 1, pair : pair + 1], uses),
            self._noise(b, 1, n_r, power),
            power,
            residual_mse=net.residual_mse[:, pair : pair + 1],
            **extra,
        )

    # ------------------------------------------------------------------ transmit
    def instance_orders(self, n: int) -> tuple[list[torch.Generator], list[list[torch.Tensor]]]:
        """Independent test orders: for each instance, its ``game-test`` generator (from its seed and
        draw) and one random order of ``n`` samples per pair drawn from it. Sending pair q's latents
        in ``orders[b][q]`` makes the pairs' latents independent; pass the generators on to
        :meth:`transmit` and the noise continues their streams."""
        self._check_network()
        generators, orders = [], []
        for seed, draw in self.instances():
            generator = stream_generator("game-test", seed, draw=draw)
            orders.append([torch.randperm(n, generator=generator) for _ in range(self.n_pairs)])
            generators.append(generator)
        return generators, orders

    def _check_channel(self, channel) -> torch.Tensor | None:
        """``channel`` as complex128 ``(B, Q, N, Q N)`` (``(B, Q, T N, Q T N)`` on a frequency-selective
        model), or ``ValueError`` naming it unless it has the shape of ``link_.channel``."""
        if channel is None:
            return None
        layout = "B, Q, T N, Q T N" if self.frequency_selective else "B, Q, N, Q N"
        return as_true_channel(channel, self.link_.channel.shape, f"{layout}: the receivers' view, like true_channel_", "cpu")

    def _check_pu_channel(self, channel) -> torch.Tensor:
        """``channel`` as complex128 ``(B, J, Q, N_p, N)`` per-use primary channels (``(B, J, Q, T, N_p, N)``
        on a frequency-selective model; default: the true ones)."""
        if channel is None:
            return self.true_pu_channels_per_use_
        layout = "B, J, Q, T, N_p, N" if self.frequency_selective else "B, J, Q, N_p, N"
        return as_true_channel(channel, self.true_pu_channels_per_use_.shape, f"{layout}: per-use primary-user channels, like true_pu_channels_per_use_", "cpu")

    def primary_interference(self, design: Equilibrium | Design | None = None, *, channel=None) -> PrimaryInterference:
        """The interference each primary receiver actually gets from ``design`` (default ``design_``),
        next to its limit and to what the design believed.

        Args:
            design: a design of the fitted network.
            channel: the primary-user channels per use, ``(B, J, Q, N_p, N)`` complex (``[:, j, q]``
                from transmitter q to primary j; ``(B, J, Q, T, N_p, N)``, one per subcarrier, on a
                frequency-selective model); default: the true ones drawn in :meth:`fit`
                (``true_pu_channels_per_use_``).

        Returns:
            :class:`PrimaryInterference` (energies per latent over its T channel uses).
        """
        self._check_fitted("primary_interference")
        if not self.primary_users:
            raise ValueError("primary_interference needs primary users; this game has primary_users=0")
        design = self.design_ if design is None else design
        g = self._lift(self._check_pu_channel(channel))  # (B, J, Q, T N_p, T N)
        covariances = design.precoders @ design.precoders.mH
        per_pair = torch.diagonal(g @ covariances.unsqueeze(1) @ g.mH, dim1=-2, dim2=-1).sum(-1).real
        return PrimaryInterference(per_pair, per_pair.sum(-1), design.pu_interference, self.pu_limit())

    def true_mse(self, design: Equilibrium | Design | None = None) -> torch.Tensor:
        """``(B, Q)`` float64 each pair's complex MSE (e^LS included, as ``design_.mse``) of ``design``
        (default ``design_``) on the true channels: what its precoders and decoders achieve on the
        channels the symbols meet (the model's value: latents independent across pairs)."""
        self._check_fitted("true_mse")
        design = self.design_ if design is None else design
        net = self.true_network_
        r = net.interference(design.precoders @ design.precoders.mH)
        return net.residual_mse + pair_mse(net.alignment, net.direct_channels, design.precoders, design.decoders, r)

    @torch.no_grad()
    def transmit(
        self,
        xs,
        *,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
        noise: bool = True,
        design: Equilibrium | Design | None = None,
        channel=None,
    ):
        """Send every pair's latents through the network at once, every instance.

        Every pair's signal reaches every receiver (its link hears all transmitters); an orthogonal
        design occupies disjoint channel uses, so its pairs do not interfere without special casing.
        As for the single-link estimators, the symbols go through the channels the design knows
        unless ``channel`` says otherwise: with imperfect CSI a study passes ``channel=true_channel_``.

        Args:
            xs: one ``(n, d_tx)`` real tensor per pair (the same latents in every instance), or one
                ``(B, n, d_tx)`` per pair (per instance); every pair sends n latents.
            generator: the noise source: one generator (instances draw from it in turn), or one per
                instance; by default a fresh generator from ``seeds[0]`` (repeated calls agree).
            noise: add the receivers' AWGN.
            design: transmit with this design of the fitted network (e.g. from :meth:`design`)
                instead of ``design_``.
            channel: the channels the symbols go through, per use as the receivers hear them:
                ``(B, Q, N, Q N)`` complex, ``channel[b, q][:, r N:(r + 1) N]`` = H_qr of instance b
                (the layout of ``link_.channel``; :attr:`true_channel_` holds the true ones); the
                same for the T uses of a latent. On a frequency-selective model the band at once:
                ``(B, Q, T N, Q T N)``, columns r T N ... (r + 1) T N - 1 = diag_t(H_qr^(t)).
                Default: ``link_.channel``, the channels the design knows. The noise level stays
                the link's.

        Returns:
            one estimate per pair: ``(n, d_rx)`` float32 for one instance, ``(B, n, d_rx)`` for several.
        """
        if isinstance(xs, (Equilibrium, Design)):
            warnings.warn("transmit(design) is deprecated: use transmit(xs, design=...) with the orders of instance_orders()", DeprecationWarning, stacklevel=2)
            return self._transmit_test_sets(xs)
        self._check_fitted()
        design = self.design_ if design is None else design
        channel = self._check_channel(channel)
        net, b_count, q_count = self.network_, self.network_.n_instances, self.n_pairs
        xs = self._check_latents(xs, b_count)
        n = xs[0].shape[-2]
        if generator is None:
            generators = [stream_generator("transmit-noise", self.seeds[0])] * b_count
        elif isinstance(generator, torch.Generator):
            generators = [generator] * b_count
        else:
            generators = list(generator)
            if len(generators) != b_count or not all(isinstance(g, torch.Generator) for g in generators):
                raise ValueError(f"generator must be a torch.Generator or one per instance ({b_count}), got {generator!r}")
        d, t, n_ant = net.alignment.shape[-1], self.channel_uses, self.n_antennas
        estimates = [[] for _ in range(q_count)]
        for b, (seed, _) in enumerate(self.instances()):
            symbols = []
            for q in range(q_count):
                pilots = self.pilots_[seed][q]
                x = xs[q][b] if xs[q].ndim == 3 else xs[q]
                white = pilots.whitener.whiten(pack_complex(x.to(self.device, torch.float64))).to(DTYPE).cpu()
                padded = torch.nn.functional.pad(white, (0, d - white.shape[1]))
                symbols.append((padded @ design.precoders[b, q].mT.cpu()).reshape(n, t, n_ant))  # F x~ per use
            # Every transmitter side by side: per use (flat: T uses of one channel), or transmitter
            # by transmitter (frequency selective: one use of each transmitter's T subcarriers).
            stacked = torch.stack(symbols, dim=1 if self.frequency_selective else -2).reshape(n, t * q_count * n_ant)
            through = None if channel is None else channel[b]
            received = self.link_.select(b).send(stacked, generator=generators[b], noise=noise, independent_noise=True, channel=through)  # (Q, n, T N)
            for q in range(q_count):
                pilots = self.pilots_[seed][q]
                estimate = received[q] @ design.decoders[b, q].mT.cpu()
                m_q = pilots.rx_mean.shape[0]
                estimates[q].append(unpack_complex((estimate[:, :m_q] + pilots.rx_mean.cpu()).to(torch.complex128), self.d_rx_[q]).float())
        return [torch.stack(e) if b_count > 1 else e[0] for e in estimates]

    def _check_latents(self, xs, b_count: int) -> list[torch.Tensor]:
        if isinstance(xs, torch.Tensor) or not isinstance(xs, Sequence) or len(xs) != self.n_pairs:
            raise ValueError(f"xs must be a sequence of one (n, d_tx) tensor per pair ({self.n_pairs}), got {type(xs).__name__}")
        out = []
        for q, x in enumerate(xs):
            x = as_real_matrix(f"xs[{q}]", x, allow_batch=True)
            if x.shape[-1] != self.d_tx_[q]:
                raise ValueError(f"xs[{q}] has {x.shape[-1]} features but pair {q} was fitted on d_tx = {self.d_tx_[q]}")
            if x.ndim == 3 and x.shape[0] != b_count:
                raise ValueError(f"xs[{q}] holds {x.shape[0]} instances' latents but the game has {b_count} instances")
            out.append(x)
        if len({x.shape[-2] for x in out}) != 1:
            raise ValueError(f"every pair must send the same number of latents (they transmit simultaneously), got {[x.shape[-2] for x in out]}")
        return out

    def _transmit_test_sets(self, design: Equilibrium | Design) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
        """The 0.1 transmit: every pair's test set in its own random order, per instance
        ``[(y_hat (n, d_rx), order (n,)), ...]``."""
        self._check_network()
        pairs = self.pairs_ if hasattr(self, "design_") else self._pairs
        n = len(pairs[0].test)
        generators, orders = self.instance_orders(n)
        xs = [torch.stack([pair.test.tx[orders[b][q]] for b in range(len(orders))]) for q, pair in enumerate(pairs)]
        estimates = self.transmit(xs, generator=generators, design=design)
        if len(orders) == 1:
            estimates = [e.unsqueeze(0) for e in estimates]
        return [[(estimates[q][b], orders[b][q]) for q in range(len(pairs))] for b in range(len(orders))]


def __getattr__(name: str):
    if name == "METHODS":  # 0.1's name of GAME_METHODS
        import warnings

        warnings.warn("semalign.multiuser.semantic_game.METHODS is deprecated: use GAME_METHODS", DeprecationWarning, stacklevel=2)
        return GAME_METHODS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
