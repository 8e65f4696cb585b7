"""First-K and Top-K baselines for the multi-user downlink, without giving users the AP's latents.

The published multi-user baselines let every user fit a
least-squares map from the AP's *raw pilot latents* S to its own latents, which contradicts the
privacy premise of the federated method (a user never sees the AP's latents). Here the users only
ever see what the channel delivers:

1. **AP, features.** The AP packs its latent into m_0 = ceil(d_0/2) complex coordinates and keeps
   K = T min(N_t, N_r) of them (at most m_0):

   * ``"first-k"``: the first K coordinates;
   * ``"top-k"``: the K coordinates with the largest pilot variance E|s_i - mu_i|^2 of the *raw*
     AP latent, chosen once by the AP alone (fixed indices; no per-sample selection, so no genie
     side information is needed: the users never learn which coordinates were kept).

   The kept coordinates are whitened with the pilots' mean and Cholesky factor (zero mean, identity
   covariance). For First-K this equals the first K coordinates of the whole whitened latent,
   because the Cholesky whitening is lower triangular.
2. **AP, precoder.** One broadcast serves every user, so the K unit-variance features go on
   S = min(N_t, N_r) common streams per channel use, the strongest eigenvectors V of
   sum_k H_k^H H_k, with equal power: x_t = a V p_t, a = sqrt(P / K), so every latent costs energy P
   over its T channel uses. With one user V holds the channel's right singular vectors, as in the
   single-link baselines (:mod:`semalign.transceivers.baselines`). First-K's transmission is
   exactly the default (spectral) start of :class:`~semalign.multiuser.federated.FederatedDownlink`,
   so what the federated method gains over First-K is the protocol's doing.
3. **Pilots over the air.** The AP broadcasts the n precoded pilot features once (n T channel uses);
   user k receives r = H_k x + w (noisy, w ~ CN(0, sigma^2 I)).
4. **User k, equaliser.** The linear MMSE estimate of the features from its effective channel
   E_k = a H_k V: p̂ = (E_k^H E_k + sigma^2 I)^{-1} E_k^H r. With one user E_k = a U diag(sigma_i)
   and this is exactly the per-stream MMSE of the single-link baselines, g_i =
   a sigma_i / (a^2 sigma_i^2 + sigma^2). The user knows E_k (perfect CSI, like every method here);
   the AP broadcasts a V once as a control message, counted in ``bytes_downlink_``.
5. **User k, semantic map.** A ridge least-squares map with intercept from the *equalised received
   pilot features* to its own pilot latents. No uplink. ``processing="strictly-linear"`` (default)
   fits a complex map from p̂ to the user's packed latent, the same class of receiver as the
   federated method's equaliser G_k, so the comparison isolates the AP's design (learned shared
   pre-equaliser vs feature selection); ``"widely-linear"`` fits a real map from [Re p̂, Im p̂] to
   the real latent (the published baseline's real least-squares map is of this kind). On packed
   real latents, which are improper complex vectors, the widely-linear map is the stronger one.

Assumption, stated plainly: the user learns its map from the noisy features the channel delivered,
never from the AP's latents S or from the noiseless features; it only needs to know which received
pilot belongs to which of its own samples (the pilot order, as in the federated protocol). (The
federated protocol's training broadcasts are simulated without noise, as published; here
the single broadcast is noisy.) What a
user holds is inspectable: ``users_[k].received_pilots`` is everything it got from the AP besides
the control message ``a V``.

Imperfect channel knowledge. The channels given are estimates Ĥ_k (the AP's streams V and every
user's equaliser are computed from them); the true channels are Ĥ_k + D_k with D_k ~ CN(0, ε v)
(``csi_error`` = ε). ``robust=True`` lets every user learn its semantic map from pilots that each
crossed their own channel drawn around its estimate (:meth:`~semalign.link.Link.send` with
``channel_errors=True``: one error draw per pilot, shared by its T uses, drawn from the
``pilot-broadcast`` stream before the noise), so the map learns what the error does to the
equalised features (its attenuation and spread), as the single-link baselines' robust receivers do.
The AP's streams and the users' LMMSE equalisers stay those of the estimates. ``robust=False`` or
ε = 0: the broadcast crosses the estimates, bit for bit the design for exact channels.

Frequency-selective links (S subcarriers, e.g. the 3GPP TDL/CDL models with the T uses of a latent
on T = S subcarriers; :mod:`semalign.multiuser.downlink`): each subcarrier s has its own streams
V_s, the strongest eigenvectors of sum_k H_k,s^H H_k,s, and the precoder is diag(a V_1, ..., a V_S)
``(S N_t, S min(N_t, N_r))``; feature s S' + i goes on stream i of subcarrier s, as it goes on stream
i of use t = s on a flat link. With the same channel on every subcarrier this is exactly the flat
design of T = S uses. The users' LMMSE equalisers are then block diagonal too.

Accounting: ``bytes_downlink_`` counts the pilot broadcast (T N_t n complex64 entries) and the
control message a V (the S blocks a V_s on a frequency-selective link); ``bytes_uplink_`` is 0;
``channel_uses_`` is n T (one over-the-air broadcast; a use of S subcarriers counts as S uses).
"""

from __future__ import annotations

from typing import Sequence

import torch

from semalign._checks import check_choice
from semalign._registry import register
from semalign._seeds import stream_generator
from semalign._vocabulary import PROCESSING
from semalign.link.link import Link
from semalign.link.mimo import subcarrier_blocks
from semalign.link.packing import complex_dim, pack_complex, unpack_complex
from semalign.link.whitening import Whitener, fit_whitener
from semalign.multiuser.downlink import DownlinkEstimator, Message, uses_per_latent

BASELINE_METHODS = ("first-k", "top-k")
_DTYPE = torch.complex128


def select_features(ap_latents: torch.Tensor, n_features: int, method: str) -> torch.Tensor:
    """Indices ``(K,)`` of the complex AP coordinates a baseline keeps (sorted ascending).

    Args:
        ap_latents: ``(n, d_0)`` real AP pilot latents.
        n_features: K, at most ceil(d_0/2).
        method: ``"first-k"`` (0..K-1) or ``"top-k"`` (largest pilot variance of the raw packed latent).
    """
    check_choice("method", method, BASELINE_METHODS)
    m0 = complex_dim(ap_latents.shape[-1])
    if not 1 <= n_features <= m0:
        raise ValueError(f"n_features must be in 1..ceil(d_0/2) = {m0}, got {n_features}")
    if method == "first-k":
        return torch.arange(n_features)
    packed = pack_complex(ap_latents.to(torch.float64))
    variance = (packed - packed.mean(0)).abs().square().mean(0)
    return torch.sort(torch.topk(variance, n_features, sorted=True).indices).values


def _ridge_least_squares(features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Map W ``(p, q)`` minimising ||features W - targets||^2 + r ||W||^2 for centred ``(n, p)`` and
    ``(n, q)`` matrices (real or complex), r = 1e-6 times the mean diagonal of the Gram matrix."""
    gram = features.mH @ features
    ridge = 1e-6 * torch.diagonal(gram).real.mean().clamp_min(1e-12)
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype)
    return torch.linalg.solve(gram + ridge * eye, features.mH @ targets)


class _BaselineUser:
    """A user's private state. It is given only received (noisy) pilot symbols, its effective
    channel and its own latents; it never sees the AP's latents."""

    def __init__(self, name: str, channel: torch.Tensor, sigma2: float, processing: str) -> None:
        self.name = name
        self.channel = channel  # (N_r, N_t) per channel use
        self.sigma2 = sigma2
        self.processing = processing

    def fit(self, received: torch.Tensor, effective: torch.Tensor, latents: torch.Tensor, n_features: int, channel_uses: int) -> None:
        """``received`` ``(n, T N_r)`` noisy pilot symbols, ``effective`` ``(N_r, S)`` = a H_k V,
        ``latents`` ``(n, d_k)`` the user's own pilot latents."""
        self.received_pilots = received
        self.n_features, self.channel_uses, self.d = n_features, channel_uses, latents.shape[-1]
        s = effective.shape[-1]
        gram = effective.mH @ effective + self.sigma2 * torch.eye(s, dtype=effective.dtype)
        self.equaliser_ = torch.linalg.solve(gram, effective.mH)  # (S, N_r): LMMSE of the unit-variance streams
        features = self.features(received)
        target = self._target(latents.to(torch.float64))
        self.feature_mean_, self.target_mean_ = features.mean(0, keepdim=True), target.mean(0, keepdim=True)
        self.map_ = _ridge_least_squares(features - self.feature_mean_, target - self.target_mean_)

    def without_pilots(self) -> "_BaselineUser":
        """A copy without the received pilots (what a saved baseline keeps)."""
        copy = object.__new__(_BaselineUser)
        copy.__dict__.update({**self.__dict__, "received_pilots": None})
        return copy

    def _target(self, latents: torch.Tensor) -> torch.Tensor:
        return latents if self.processing == "widely-linear" else pack_complex(latents)

    def features(self, received: torch.Tensor) -> torch.Tensor:
        """``(n, T N_r)`` received symbols -> equalised features: ``(n, K)`` complex p̂ (strictly
        linear) or ``(n, 2K)`` real [Re p̂, Im p̂] (widely linear)."""
        n, n_rx = received.shape[0], self.channel.shape[0]
        per_use = received.reshape(n, self.channel_uses, n_rx) @ self.equaliser_.mT  # (n, T, S)
        p_hat = per_use.reshape(n, -1)[:, : self.n_features]
        return p_hat if self.processing == "strictly-linear" else torch.cat([p_hat.real, p_hat.imag], dim=-1)

    def estimate(self, received: torch.Tensor) -> torch.Tensor:
        """``(n, T N_r)`` received symbols -> ``(n, d_k)`` real latent estimates."""
        out = (self.features(received) - self.feature_mean_) @ self.map_ + self.target_mean_
        return out if self.processing == "widely-linear" else unpack_complex(out, self.d)


@register("top-k", "federated", options={"method": "top-k"}, devices=("cpu",), description="the AP's K highest-variance coordinates; users map received features")
@register("first-k", "federated", options={"method": "first-k"}, devices=("cpu",), description="the AP's first K coordinates; users map received features")
class FederatedFeatureBaseline(DownlinkEstimator):
    """First-K / Top-K for an AP broadcasting to K users (module docstring), with the interface of
    :class:`~semalign.multiuser.federated.FederatedDownlink`.

    Args:
        channels: ``(K, N_r, N_t)`` complex per-use channels H_k (one per user).
        method: ``"first-k"`` or ``"top-k"``.
        snr_db, power, snr_convention, channel_variance, channel_uses: the link (semalign's
            conventions; sigma^2 per receive antenna per channel use).
        processing: the users' semantic map, ``"strictly-linear"`` (complex, from p̂ to the packed
            latent: the class of :class:`~semalign.multiuser.federated.FederatedDownlink`'s
            equalisers) or ``"widely-linear"`` (real, from [Re p̂, Im p̂] to the real latent, as the
            published baseline's real least-squares map).
        csi_error: ε in [0, 1], the fraction of each channel's power the given channels (estimates)
            miss (module docstring).
        robust: the users learn their maps from pilots that crossed channels drawn around their
            estimates (module docstring); ``False``: from pilots through the estimates.
        seed: seed of the noise on the over-the-air pilot broadcast (the ``pilot-broadcast`` stream)
            and of the default transmit noise.
        record_messages: keep every message in ``messages_``.
        link: a :class:`~semalign.link.Link` with ``(K, N_r, N_t)`` channels instead of ``channels``
            and the link keywords, possibly frequency selective (module docstring).

    Attributes after :meth:`fit`:
        link_: the users' link.
        features_: ``(K,)`` indices of the AP's complex coordinates that are sent.
        precoder_: ``(N_t, S)`` a V, the per-channel-use precoder of the S streams (on a link of S'
            subcarriers: the block-diagonal ``(S' N_t, S' min(N_t, N_r))`` diag(a V_1, ..., a V_S')).
        users_: per user its private state (``received_pilots``, ``equaliser_``, ``map_``).
        bytes_uplink_ (0), bytes_downlink_, channel_uses_ (n T), n_pilots_.
    """

    def __init__(
        self,
        channels=None,
        *,
        method: str = "first-k",
        snr_db: float = 20.0,
        power: float = 1.0,
        snr_convention: str = "total", channel_variance: float = 1.0, channel_uses: int = 1,  # the link
        processing: str = "strictly-linear",
        csi_error: float = 0.0,
        robust: bool = False,
        seed: int = 0,
        record_messages: bool = False,
        link: Link | None = None,
    ) -> None:
        self._set_params(locals())
        self._validate()

    def _validate(self) -> None:
        self._validate_link()
        self.method = check_choice("method", self.method, BASELINE_METHODS)
        self.processing = check_choice("processing", self.processing, PROCESSING)

    @property
    def n_streams(self) -> int:
        return min(self._current_link().channel.shape[-2:])

    def _symbols(self, ap_latents: torch.Tensor) -> torch.Tensor:
        """``(n, d_0)`` AP latents -> ``(n, T N_t)`` transmitted symbols (use-major)."""
        white = self.feature_whitener_.whiten(pack_complex(ap_latents.to(torch.float64))[:, self.features_])
        link = self._current_link()
        n, t, s = white.shape[0], link.channel_uses, self.n_streams
        p = torch.nn.functional.pad(white, (0, t * s - white.shape[-1]))  # idle streams when K < T S
        return (p.reshape(n, t, s) @ self.precoder_.mT).reshape(n, t * link.n_tx)

    def fit(self, ap_latents, user_latents: Sequence) -> "FederatedFeatureBaseline":
        """One over-the-air pilot broadcast; each user fits its equaliser and map.

        Args:
            ap_latents: ``(n, d_0)`` AP pilot latents (stay at the AP).
            user_latents: one ``(n, d_k)`` per user, the same samples in the same order (each stays
                with its user).

        Returns:
            self
        """
        self._start_fit()
        link = self._link
        s, xs = self._check_pilots(ap_latents, user_latents)
        n, m0 = s.shape[0], complex_dim(s.shape[1])
        n_streams = self.n_streams
        self.n_features_ = min(link.channel_uses * n_streams, m0)
        self.features_ = select_features(s, self.n_features_, self.method)
        self.feature_whitener_: Whitener = fit_whitener(pack_complex(s.to(torch.float64))[:, self.features_], name="AP features")
        # Common streams: the strongest eigenvectors of sum_k H_k^H H_k, equal power per feature.
        h = link.channel.to(_DTYPE)
        amplitude = (link.power / self.n_features_) ** 0.5
        if link.subcarriers == 1:
            _, vecs = torch.linalg.eigh((h.mH @ h).sum(0))
            self.precoder_ = amplitude * vecs.flip(-1)[:, :n_streams]  # (N_t, S)
            control = {"precoder": self.precoder_}
        else:  # per subcarrier: diag(a V_1, ..., a V_S') (module docstring)
            blocks = subcarrier_blocks(h, link.subcarriers)  # (K, S', N_r, N_t)
            _, vecs = torch.linalg.eigh((blocks.mH @ blocks).sum(0))  # (S', N_t, N_t)
            per_subcarrier = amplitude * vecs.flip(-1)[..., : min(blocks.shape[-2:])]  # (S', N_t, S)
            self.precoder_ = torch.block_diag(*per_subcarrier)
            control = {"precoder": per_subcarrier}  # the blocks: the zeros between them are not sent
        self._start_log()
        sigma2 = self.noise_variance()
        self._log(Message(0, "ap", "all users", "precoder", control))
        symbols = self._symbols(s)
        self._log(Message(0, "ap", "all users", "pilots", {"symbols": symbols}))
        generator = stream_generator("pilot-broadcast", self.seed)
        users = []
        for k, x in enumerate(xs):
            user = _BaselineUser(f"user{k}", h[k], sigma2, self.processing)
            # Robust: each pilot crosses its own channel Ĥ_k + D drawn around the estimate.
            received = link.select(k).send(symbols, generator=generator, channel_errors=self.robust_design)
            user.fit(received, h[k] @ self.precoder_, x, self.n_features_, link.channel_uses)
            users.append(user)
        self.channel_uses_ = n * uses_per_latent(link)
        self.n_pilots_ = n
        self.d_ap_ = s.shape[1]
        self.link_, self.users_ = link, users
        return self

    def _fitted_state(self) -> dict:
        # The users' received pilots stay behind: transmission needs only their equalisers and maps.
        state = super()._fitted_state()
        state["users_"] = [user.without_pilots() for user in self.users_]
        return state

    @torch.no_grad()
    def transmit(self, ap_latents, *, generator: torch.Generator | None = None, noise: bool = True, channel=None) -> list[torch.Tensor]:
        """Send the AP's latents ``(n, d_0)`` to every user; returns one ``(n, d_k)`` estimate per user.

        Without a generator the noise comes from a fresh generator seeded from ``seed`` (repeated
        calls give the same estimates); users draw from it one after another. ``channel``: complex
        ``(K, N_r, N_t)`` true channels (one per user, the design channels' shape) the symbols go
        through; default: the design channels. The noise level stays the link's.
        """
        s = self._check_transmit_input(ap_latents)
        true = self._true_channels(channel)
        gen = generator if generator is not None else self._default_generator()
        symbols = self._symbols(s)
        return [
            user.estimate(self.link_.select(k).send(symbols, generator=gen, noise=noise, channel=None if true is None else true[k])).to(s.dtype)
            for k, user in enumerate(self.users_)
        ]


__all__ = ["BASELINE_METHODS", "PROCESSING", "FederatedFeatureBaseline", "select_features"]
