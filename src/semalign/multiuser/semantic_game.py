"""Secondary semantic pairs on a shared MIMO interference channel, from latents to accuracy.

:class:`SemanticInterferenceGame` is the user-facing side of the game: each pair q has its own
transmitter and receiver encoders (a :class:`~semalign.latents.LatentPair`); semantic pilots give
its alignment matrix; Rayleigh channels (Sionna) connect every transmitter to every receiver and to
the primary receivers; :meth:`solve` finds the equilibrium transceivers and :meth:`transmit` sends
the test latents of all pairs at once through the network.

The pilot pipeline (spec game.md §1), per pair and seed: pack the real latents into complex ones
(first half real, second half imaginary), whiten the transmitter's pilots (x~ = L^{-1}(x - mu_x),
unit sample covariance), centre the receiver's (ybar = y - mu_y) and take the least-squares
alignment A = Ybar X~^H / (n - 1), the residual e^LS = tr R_yy - ||A||_F^2 and the semantic
weights (squared singular values of A). Pairs with smaller latents are zero-padded to the largest,
which changes nothing.

Link model (DESIGN.md conventions): N_t = N_r antennas per pair, T channel uses per latent lifted
as I_T (x) H, direct channels CN(0, v), cross channels CN(0, v * cross_gain), primary-receiver
channels CN(0, v * pu_gain); noise sigma^2 from the SNR convention (P the energy per latent). A
primary user's limit ``pu_limit_db`` is relative to its own noise energy over a latent's channel
uses, I^max = 10^(dB/10) sigma^2 T N_p. At test time the pairs send independent latents (each
pair's test set in its own random order), so the model's independence assumption holds.

Instances: ``seeds`` x ``draws`` independent instances (pilots per seed; channels per seed and
draw) are solved as one batch.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Sequence

import torch

from semalign._checks import check_choice, check_positive, check_positive_int
from semalign.latents import LatentPair, select_pilots
from semalign.link.channel import rayleigh_channel
from semalign.link.noise import check_snr_convention, db_to_linear, noise_variance
from semalign.link.packing import complex_dim, pack_complex, unpack_complex
from semalign.link.whitening import Whitener, fit_whitener
from semalign.multiuser.baselines import Design, centralized, ignore_interference
from semalign.multiuser.conditions import ConditionReport, check_conditions
from semalign.multiuser.game import Equilibrium, solve_game
from semalign.multiuser.network import DTYPE, PU_PROTECTIONS, InterferenceNetwork
from semalign.transceivers.linear_admm import block_diagonal_channel

#: Methods that :meth:`SemanticInterferenceGame.design` knows.
METHODS = ("game-fixed-eigenmode", "game-full-mimo", "ignore-interference", "centralized", "orthogonal")


@dataclass(frozen=True)
class _PairPilots:
    """What one pair learns from its pilots, for one seed."""

    whitener: Whitener
    rx_mean: torch.Tensor  # (m,) complex
    alignment: torch.Tensor  # (m, d) complex128
    residual_mse: float
    total_energy: float  # tr R_yy
    n_pilots: int


class SemanticInterferenceGame:
    """Q semantic pairs sharing a MIMO interference channel with J primary receivers.

    Args:
        pairs: one :class:`LatentPair` per secondary pair (each with its own encoders); the test
            splits must have the same length (they are sent simultaneously).
        n_antennas: N_t = N_r per pair.
        channel_uses: T channel uses per latent vector.
        snr_db, snr_convention, channel_variance, power: the link (DESIGN.md conventions).
        cross_gain_db: power gain of every cross channel relative to the direct ones.
        primary_users: J primary receivers, each with ``primary_antennas`` antennas.
        pu_gain_db: power gain of the channels to the primary receivers.
        pu_limit_db: interference limit relative to a primary receiver's noise (see module docs).
        pu_protection: ``"none"``, ``"null"``, ``"individual"`` or ``"global"`` (requires primary users;
            budgets require ``pu_limit_db``).
        pilots_per_class, pilot_method: semantic pilots (see :func:`~semalign.latents.select_pilots`).
        seeds: one instance per seed (pilots, channels, test order and noise come from it).
        draws: channel draws per seed (more instances).
        device: where the latents are processed (the game itself runs in complex128 on the CPU).

    Attributes after :meth:`fit`:
        network_: the batch of :class:`InterferenceNetwork` (B = len(seeds) * draws instances).
        noise_variance_: sigma^2 per receive antenna per channel use.
        pilots_: per seed, per pair, what the pilots gave.
    """

    def __init__(
        self,
        pairs: Sequence[LatentPair],
        *,
        n_antennas: int = 2,
        channel_uses: int = 1,
        snr_db: float = 20.0,
        snr_convention: str = "total",
        channel_variance: float = 1.0,
        power: float = 1.0,
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
        device: str = "cpu",
    ) -> None:
        self.pairs = list(pairs)
        if len(self.pairs) < 1 or not all(isinstance(p, LatentPair) for p in self.pairs):
            raise ValueError("pairs must be a non-empty sequence of LatentPair (one per secondary pair)")
        lengths = {len(p.test) for p in self.pairs}
        if len(lengths) != 1:
            raise ValueError(f"every pair's test split must have the same length (they transmit simultaneously), got {sorted(lengths)}")
        self.n_antennas = check_positive_int("n_antennas", n_antennas)
        self.channel_uses = check_positive_int("channel_uses", channel_uses)
        self.snr_db = float(snr_db)
        self.snr_convention = check_snr_convention(snr_convention)
        self.channel_variance = check_positive("channel_variance", channel_variance)
        self.power = check_positive("power", power)
        self.cross_gain_db = float(cross_gain_db)
        self.primary_users = int(primary_users)
        if self.primary_users < 0:
            raise ValueError(f"primary_users must be >= 0, got {primary_users!r}")
        self.primary_antennas = check_positive_int("primary_antennas", primary_antennas)
        self.pu_gain_db = float(pu_gain_db)
        self.pu_protection = check_choice("pu_protection", pu_protection, PU_PROTECTIONS)
        if pu_protection != "none" and self.primary_users == 0:
            raise ValueError(f"pu_protection={pu_protection!r} needs primary_users >= 1")
        if pu_protection in ("individual", "global") and pu_limit_db is None:
            raise ValueError(f"pu_protection={pu_protection!r} needs pu_limit_db (the limit relative to the primary receiver's noise, dB)")
        self.pu_limit_db = None if pu_limit_db is None else float(pu_limit_db)
        self.pilots_per_class = pilots_per_class
        self.pilot_method = pilot_method
        self.seeds = (int(seeds),) if isinstance(seeds, numbers.Integral) else tuple(int(s) for s in seeds)
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")
        self.draws = check_positive_int("draws", draws)
        self.device = device

    # ------------------------------------------------------------------ sizes
    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @property
    def n_tx(self) -> int:
        """Transmit dimensions n_T = T N_t."""
        return self.channel_uses * self.n_antennas

    def compression_factor(self, pair: int) -> float:
        """Percent of channel symbols per complex latent entry of ``pair``: 100 T N_t / ceil(d_tx/2)."""
        return 100.0 * self.n_tx / complex_dim(self.pairs[pair].d_tx)

    def instances(self) -> list[tuple[int, int]]:
        """``(seed, draw)`` of each instance, in batch order."""
        return [(seed, draw) for seed in self.seeds for draw in range(self.draws)]

    # ------------------------------------------------------------------ pilots
    def _pair_pilots(self, pair: LatentPair, seed: int) -> _PairPilots:
        idx = select_pilots(pair.train, self.pilots_per_class, method=self.pilot_method, seed=seed)
        x = pack_complex(pair.train.tx[idx].to(self.device, torch.float64))
        y = pack_complex(pair.train.rx[idx].to(self.device, torch.float64))
        n = x.shape[0]
        whitener = fit_whitener(x, name=f"pilots of pair {pair.tx_encoder}->{pair.rx_encoder}")
        x_white = whitener.whiten(x).to(DTYPE)
        y_mean = y.mean(0)
        y_centred = (y - y_mean).to(DTYPE)
        # The least-squares map Ybar X~^H (X~ X~^H)^{-1}: Ybar X~^H / (n - 1) when the whitening is exact,
        # a general solve when it was shrunk (fewer pilots than transmitter dimensions).
        cross = y_centred.mT @ x_white.conj()
        gram = x_white.mT @ x_white.conj()
        alignment = cross / (n - 1) if whitener.shrinkage == 0.0 else torch.linalg.solve(gram.mT, cross.mT).mT
        total = float(y_centred.abs().square().sum() / (n - 1))
        residual = float((y_centred.mT - alignment @ x_white.mT).abs().square().sum() / (n - 1))
        return _PairPilots(whitener, y_mean, alignment, residual, total, n)

    def noise_variance(self) -> float:
        """sigma^2 per receive antenna per channel use."""
        return float(
            noise_variance(
                self.snr_db,
                power=self.power,
                n_tx=self.n_antennas,
                channel_uses=self.channel_uses,
                channel_variance=self.channel_variance,
                convention=self.snr_convention,
            )
        )

    def pu_limit(self) -> float | None:
        """I^max per primary receiver (energy per latent over T channel uses), or ``None``."""
        if self.pu_limit_db is None:
            return None
        return float(db_to_linear(self.pu_limit_db)) * self.noise_variance() * self.channel_uses * self.primary_antennas

    # ------------------------------------------------------------------ fit
    def fit(self) -> "SemanticInterferenceGame":
        """Learn every pair's alignment from its pilots and draw the channels of every instance."""
        q, n = self.n_pairs, self.n_antennas
        d = max(complex_dim(p.d_tx) for p in self.pairs)
        m = max(complex_dim(p.d_rx) for p in self.pairs)
        sigma2 = self.noise_variance()
        if not sigma2 > 0:
            raise ValueError(f"snr_db must be finite for the game (it needs positive noise), got {self.snr_db!r}")
        self.pilots_ = {seed: [self._pair_pilots(p, seed) for p in self.pairs] for seed in self.seeds}
        alignment, residual, per_use, pu_per_use = [], [], [], []
        cross = db_to_linear(self.cross_gain_db).item() ** 0.5
        for seed, draw in self.instances():
            a = torch.zeros(q, m, d, dtype=DTYPE)
            for i, pilots in enumerate(self.pilots_[seed]):
                a[i, : pilots.alignment.shape[0], : pilots.alignment.shape[1]] = pilots.alignment.cpu()
            alignment.append(a)
            residual.append(torch.tensor([p.residual_mse for p in self.pilots_[seed]], dtype=torch.float64))
            # One CPU generator per (seed, draw): the same instance for every method and device.
            generator = torch.Generator().manual_seed(1_000_003 * seed + 7919 * draw + 17)
            h = rayleigh_channel(n, n, generator=generator, batch=q * q, channel_variance=self.channel_variance, dtype=DTYPE).view(q, q, n, n)
            eye = torch.eye(q, dtype=torch.bool)[:, :, None, None]
            per_use.append(torch.where(eye, h, h * cross))
            if self.primary_users:
                g = rayleigh_channel(self.primary_antennas, n, generator=generator, batch=self.primary_users * q, channel_variance=self.channel_variance, dtype=DTYPE)
                pu_per_use.append(g.view(self.primary_users, q, self.primary_antennas, n) * db_to_linear(self.pu_gain_db).item() ** 0.5)
        self.channels_per_use_ = torch.stack(per_use)  # (B, Q, Q, N, N)
        self.pu_channels_per_use_ = torch.stack(pu_per_use) if self.primary_users else None  # (B, J, Q, N_p, N)
        self.noise_variance_ = sigma2
        self.network_ = self._network(torch.stack(alignment), torch.stack(residual))
        return self

    def _lift(self, h: torch.Tensor, uses: int) -> torch.Tensor:
        lead = h.shape[:-2]
        return block_diagonal_channel(h.reshape(-1, *h.shape[-2:]), uses).view(*lead, uses * h.shape[-2], uses * h.shape[-1])

    def _network(self, alignment, residual) -> InterferenceNetwork:
        b, q = alignment.shape[:2]
        uses = self.channel_uses
        n_r = uses * self.n_antennas
        noise = self.noise_variance_ * torch.eye(n_r, dtype=DTYPE).expand(b, q, n_r, n_r)
        extra = {}
        if self.primary_users:
            limits = None if self.pu_limit_db is None else torch.full((b, self.primary_users), self.pu_limit(), dtype=torch.float64)
            extra = dict(pu_channels=self._lift(self.pu_channels_per_use_, uses), pu_limits=limits, pu_protection=self.pu_protection)
        return InterferenceNetwork(
            alignment, self._lift(self.channels_per_use_, uses), noise, torch.full((b, q), self.power, dtype=torch.float64), residual_mse=residual, **extra
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise RuntimeError("SemanticInterferenceGame is not fitted yet; call fit() first")

    # ------------------------------------------------------------------ solve
    def solve(self, method: str = "gauss-seidel", variant: str = "fixed-eigenmode", **options) -> Equilibrium:
        """Equilibrium transceivers of every instance (see :func:`~semalign.multiuser.solve_game`)."""
        self._check_fitted()
        return solve_game(self.network_, variant=variant, method=method, **options)

    def check_conditions(self) -> ConditionReport:
        """The existence/uniqueness/convergence conditions of every instance (spec §7)."""
        self._check_fitted()
        return check_conditions(self.network_)

    def design(self, method: str, *, schedule: str = "gauss-seidel", **options) -> Equilibrium | Design:
        """Transceivers of ``method`` (one of :data:`METHODS`) for every instance.

        ``orthogonal`` is round-robin time division of the T channel uses (pair q gets the uses
        t = q, q + Q, ...; with T < Q some pairs get none and cannot transmit), each pair alone on
        its uses with the same energy per latent and the same primary-user protection.
        """
        check_choice("method", method, METHODS)
        self._check_fitted()
        if method.startswith("game-"):
            return self.solve(method=schedule, variant=method.removeprefix("game-"), **options)
        if method == "ignore-interference":
            return ignore_interference(self.network_)
        if method == "centralized":
            start = options.pop("start", None)
            return centralized(self.network_, start, **options)
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
            alone = ignore_interference(self._alone_network(pair, len(uses)))  # nobody else on these uses
            rows = torch.cat([torch.arange(t * n, (t + 1) * n) for t in uses])  # the pair's slots in the frame
            precoders[:, pair, rows] = alone.precoders[:, 0]
            decoders[:, pair, :, rows] = alone.decoders[:, 0]
            mse[:, pair] = alone.mse[:, 0]
            pu_load[:, :, pair] = alone.pu_interference[:, :, 0]
        return Design(precoders, decoders, mse, pu_load, torch.zeros(b, dtype=torch.long), torch.ones(b, dtype=torch.bool))

    def _alone_network(self, pair: int, uses: int) -> InterferenceNetwork:
        """Pair ``pair`` alone on ``uses`` channel uses, with its share I^max / Q of each limit."""
        net = self.network_
        b, n_r = net.n_instances, uses * self.n_antennas
        extra = {}
        if self.primary_users:
            protection = "individual" if self.pu_protection == "global" else self.pu_protection
            limits = None if self.pu_limit_db is None else torch.full((b, self.primary_users), self.pu_limit() / self.n_pairs, dtype=torch.float64)
            extra = dict(pu_channels=self._lift(self.pu_channels_per_use_[:, :, pair : pair + 1], uses), pu_limits=limits, pu_protection=protection)
        return InterferenceNetwork(
            net.alignment[:, pair : pair + 1],
            self._lift(self.channels_per_use_[:, pair : pair + 1, pair : pair + 1], uses),
            self.noise_variance_ * torch.eye(n_r, dtype=DTYPE).expand(b, 1, n_r, n_r),
            net.power[:, pair : pair + 1],
            residual_mse=net.residual_mse[:, pair : pair + 1],
            **extra,
        )

    # ------------------------------------------------------------------ transmit
    @torch.no_grad()
    def transmit(self, design: Equilibrium | Design) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
        """Send every pair's test latents through the network at once.

        Pair q's test set is sent in its own random order (independent sources). Every pair's
        signal reaches every receiver; an orthogonal design occupies disjoint channel uses and the
        channels act per use, so its pairs do not interfere without any special casing.

        Returns:
            for each instance, for each pair, ``(y_hat (n, d_rx) float32, order (n,))``: the
            estimates in the receiver's latent space and the test indices they estimate.
        """
        self._check_fitted()
        net = self.network_
        out = []
        n_test = len(self.pairs[0].test)
        d = net.alignment.shape[-1]
        for b, (seed, draw) in enumerate(self.instances()):
            generator = torch.Generator().manual_seed(10_007 * seed + 131 * draw + 1)
            orders, symbols = [], []
            for q, pair in enumerate(self.pairs):
                order = torch.randperm(n_test, generator=generator)
                pilots = self.pilots_[seed][q]
                x = pilots.whitener.whiten(pack_complex(pair.test.tx[order].to(self.device, torch.float64))).to(DTYPE).cpu()
                padded = torch.zeros(n_test, d, dtype=DTYPE)
                padded[:, : x.shape[1]] = x
                orders.append(order)
                symbols.append(padded @ design.precoders[b, q].mT.cpu())  # rows: F x~
            noise = torch.complex(*torch.randn(2, self.n_pairs, n_test, net.n_rx, generator=generator, dtype=torch.float64)) * (self.noise_variance_ / 2) ** 0.5
            results = []
            for q, pair in enumerate(self.pairs):
                received = noise[q].to(DTYPE)
                for r in range(self.n_pairs):
                    received = received + symbols[r] @ net.channels[b, q, r].mT.cpu()
                pilots = self.pilots_[seed][q]
                estimate = received @ design.decoders[b, q].mT.cpu()
                m_q = pilots.rx_mean.shape[0]
                y_hat = unpack_complex((estimate[:, :m_q] + pilots.rx_mean.cpu()).to(torch.complex128), pair.d_rx).float()
                results.append((y_hat, orders[q]))
            out.append(results)
        return out
