"""First-K, Top-K and Eigen-K baselines with SVD precoding and a per-stream MMSE receiver.

The published single-link baselines, corrected (see the differences from the published code in
the documentation) and generalised to non-square channels and T channel uses. Each baseline picks K real features of the (centred) transmitter latent, packs them into
ceil(K/2) complex symbols, whitens them, and sends them over the min(N_t, N_r) = S eigen-streams of
the channel:

    s_t = a V_S p_t,   r_t = H s_t + w_t,   p̂_t = diag(g) U_S^H r_t,
    g_i = a sigma_i / (a^2 sigma_i^2 + sigma^2),   a = sqrt(P / ceil(K/2)),

with H = U diag(sigma) V^H the thin SVD. The effective gain of stream i is
a^2 sigma_i^2 / (a^2 sigma_i^2 + sigma^2): the linear MMSE estimate of a unit-variance symbol. The
energy per latent vector is ceil(K/2) a^2 = P. K = 2 T S real features per latent, since only S
streams can be separated per channel use.

- First-K sends the first K coordinates of the centred latent.
- Top-K sends, per sample, the K coordinates that deviate most from the training mean, sorted by
  magnitude. The receiver is told which coordinates they are: **genie side information**, carried
  outside the link at no cost (as in the published code), so Top-K is an optimistic bound.
  :meth:`TopKTransceiver.side_information_bits` says what sending the indices would cost.
- Eigen-K sends the K strongest components of the rank-K factorisation of the alignment map
  A = U_A S_A V_A^T: k = S_A^{1/2} V_A^T x (first K rows).

The receiver's semantic map (``receiver=``):

- ``"received"`` (default): a ridge least-squares map with intercept (its penalty chosen by
  generalised cross-validation, :func:`semalign._regression.ridge_regression`), fitted on what the receiver
  actually gets: the pilots are sent once over the design link (:meth:`~semalign.link.Link.design_view`:
  the channel with its noise when aware, an identity channel without noise when unaware; noise from
  the ``pilot-broadcast`` stream of ``seed``), equalised as above, and mapped to the receiver's
  pilot latents. For Top-K the map's input is the received values placed at their (genie) indices,
  zeros elsewhere. The map thus learns what noise, MMSE shrinkage and the missing coordinates do.
- ``"published"``: the design of the published baselines. First-K and Top-K fill the unsent
  coordinates with their training mean (the published code: zero) and apply the least-squares map
  A fitted on complete, clean latents; Eigen-K outputs U_A S_A^{1/2} k̂. On nearly low-rank latents
  (the digits latents' covariance has condition number about 2e6) A has large coefficients that
  cancel only on complete, clean inputs: a missing coordinate, noise or MMSE shrinkage breaks the
  cancellation, and First-K and Top-K then do worse than predicting the training mean. Kept to
  reproduce the papers' baselines.
"""

from __future__ import annotations

import math

import torch

from semalign._checks import check_choice
from semalign._regression import ridge_regression
from semalign._registry import register
from semalign._seeds import stream_generator
from semalign._vocabulary import BASELINE_RECEIVERS
from semalign.link.mimo import column_phases
from semalign.link.packing import complex_dim, pack_complex, unpack_complex
from semalign.link.whitening import fit_whitener
from semalign.transceivers.base import SemanticTransceiver

_DTYPE = torch.complex128


def least_squares_alignment(xc: torch.Tensor, yc: torch.Tensor) -> torch.Tensor:
    """Real map A ``(..., d_tx, d_rx)`` minimising ||xc A - yc||^2 for centred ``(..., n, d)`` latents
    (or centred features, such as received pilot features, in place of ``xc``).

    A 1e-6 relative ridge keeps it defined with fewer pilots than dimensions or constant features.
    """
    xc64, yc64 = xc.to(torch.float64), yc.to(torch.float64)
    gram = xc64.mT @ xc64
    ridge = 1e-6 * torch.diagonal(gram, dim1=-2, dim2=-1).mean(-1).clamp_min(1e-12)[..., None, None]
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(gram + ridge * eye, xc64.mT @ yc64)


def check_robust_receiver(robust: bool, receiver: str, name: str = "receiver") -> None:
    """Raise ``ValueError`` for a robust baseline with the published receiver: that receiver is
    fitted on clean latents and never sees the channel, so there is nothing to make robust."""
    if robust and receiver == "published":
        raise ValueError(f"robust=True needs {name}='received': the published receiver is fitted on clean latents and never sees the channel")


class _EigenStreamBaseline(SemanticTransceiver):
    """Shared machinery: feature symbols, whitening, SVD precoding, the MMSE receiver and its map.

    Args (besides :class:`~semalign.transceivers.base.SemanticTransceiver`'s):
        receiver: the receiver's semantic map, ``"received"`` (learned from the pilots received over
            the design link; default) or ``"published"`` (the published design; see the module
            docstring for why it fails on nearly low-rank latents).

    Attributes (after ``fit``):
        n_features_: K, real features sent per latent. precoder_ ``(b, N_t, S)``, combiner_
        ``(b, S, N_r)``: the eigen-stream link. receiver_map_ ``(b, p, d_rx)`` with
        receiver_input_mean_ ``(b, 1, p)``: the ``"received"`` map from the receiver's input
        (p = K, or d_tx for Top-K) to the centred receiver latent; receiver_ridge_ ``(b,)`` its penalty.
    """

    def __init__(
        self,
        channel: torch.Tensor | None = None,
        snr_db=20.0,
        power: float = 1.0,
        *,
        snr_convention: str = "total", channel_variance: float = 1.0, channel_uses: int = 1,  # the link
        awareness: str = "aware",
        csi_error: float = 0.0,
        robust: bool = False,
        receiver: str = "received",
        seed: int = 0,
        device=None,
        link=None,
    ) -> None:
        self._set_params(locals())
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        self.receiver = check_choice("receiver", self.receiver, BASELINE_RECEIVERS)
        check_robust_receiver(self.robust, self.receiver)

    def _n_features(self, d_tx: int, d_rx: int) -> int:
        return min(2 * self._current_link().channel_uses * min(self.n_tx, self.n_rx), d_tx)

    def fit(self, x, y) -> "_EigenStreamBaseline":
        """Fit the alignment map, the feature whitening and the SVD-MMSE link.

        Args:
            x: ``(n, d_tx)`` (or ``(b, n, d_tx)``) transmitter pilots; y: the receiver pilots.

        Returns:
            self
        """
        x, y = self._check_fit_inputs(x, y)
        x, y = x.to(torch.float64), y.to(torch.float64)
        self.x_mean_, self.y_mean_ = x.mean(-2, keepdim=True), y.mean(-2, keepdim=True)
        xc, yc = x - self.x_mean_, y - self.y_mean_
        self.n_features_ = self._n_features(x.shape[-1], y.shape[-1])
        self._fit_features(xc, yc)
        if self.receiver == "published":
            self._fit_published_receiver(xc, yc)
        self.n_symbols_ = complex_dim(self.n_features_)
        self.whitener_ = fit_whitener(pack_complex(self._features(xc)).to(_DTYPE), name=f"{self.method} feature symbols")

        h_train, sigma2 = self._training_link()
        n_streams = min(self.n_tx, self.n_rx)
        u, sv, vh = torch.linalg.svd(h_train, full_matrices=False)  # (b, Nr, S), (b, S), (b, S, Nt)
        # Each singular pair's phase is arbitrary and differs between CPU and CUDA; it does not
        # change the link but does change which noise each stream sees. Fix it, so a seed gives
        # the same results on every device.
        phases = column_phases(vh.mH)  # (b, 1, S)
        u, vh = u * phases, (vh.mH * phases).mH
        amplitude = (self._current_link().power / self.n_symbols_) ** 0.5
        self.stream_gains_ = sv[..., :n_streams]
        self.precoder_ = amplitude * vh[..., :n_streams, :].mH  # (b, Nt, S)
        g = amplitude * sv / (amplitude**2 * sv**2 + sigma2.view(-1, 1))
        self.combiner_ = g.unsqueeze(-1) * u.mH  # (b, S, Nr): diag(g) U^H
        if self.receiver == "received":
            self._fit_received_receiver(x, yc)
        return self._finish_fit()

    def _fit_received_receiver(self, x: torch.Tensor, yc: torch.Tensor) -> None:
        """Send the pilots ``x`` ``(..., n, d_tx)`` once over the design link, equalise them and fit
        the ridge map from the receiver's input to the centred receiver pilots ``yc``."""
        design = self._design_link()
        symbols = self._symbols(x.to(torch.float64) - self.x_mean_)
        # Robust: every pilot crosses its own channel drawn around the estimate, so the map learns
        # what the estimate's error does to the features.
        robust = self.robust and self.awareness == "aware"
        received = design.send(symbols, generator=stream_generator("pilot-broadcast", self.seed, device=self.device_), channel_errors=robust)
        inputs = self._receiver_input(self._equalised_features(received))  # (b, n, p)
        self.receiver_input_mean_ = inputs.mean(-2, keepdim=True)
        self.receiver_map_, self.receiver_ridge_ = ridge_regression(inputs - self.receiver_input_mean_, yc)

    # Subclasses: _fit_features(xc, yc), _features(xc) -> (..., n, K); the published receiver:
    # _fit_published_receiver(xc, yc), _published_reconstruct(f_hat) -> yc_hat; the received one:
    # _receiver_input(f_hat) -> (..., n, p).
    def _fit_published_receiver(self, xc: torch.Tensor, yc: torch.Tensor) -> None:
        self.alignment_ = least_squares_alignment(xc, yc)

    def _receiver_input(self, f_hat: torch.Tensor) -> torch.Tensor:
        return f_hat

    def _reconstruct(self, f_hat: torch.Tensor) -> torch.Tensor:
        """Equalised features ``(b, n, K)`` -> centred receiver latents ``(b, n, d_rx)``."""
        if self.receiver == "published":
            return self._published_reconstruct(f_hat)
        return (self._receiver_input(f_hat) - self.receiver_input_mean_) @ self.receiver_map_

    def side_information_bits(self) -> float:
        """Bits per latent the receiver gets besides the channel symbols (0: none)."""
        return 0.0

    def _precode(self, x: torch.Tensor) -> torch.Tensor:
        return self._symbols(x.to(torch.float64) - self.x_mean_)

    def _symbols(self, xc: torch.Tensor) -> torch.Tensor:
        """Centred latents ``(..., n, d_tx)`` -> ``(b, n, T * n_tx)`` channel symbols."""
        p = self.whitener_.whiten(pack_complex(self._features(xc)).to(_DTYPE))  # (..., n, n_sym)
        b, n, t = self.n_configurations, xc.shape[-2], self._current_link().channel_uses
        s = self.precoder_.shape[-1]
        p = torch.nn.functional.pad(p, (0, t * s - self.n_symbols_)).expand(b, n, t * s)
        return (p.reshape(b, n, t, s) @ self.precoder_.mT.unsqueeze(1)).reshape(b, n, t * self.n_tx)

    def _equalised_features(self, r: torch.Tensor) -> torch.Tensor:
        """Received symbols ``(b, n, T * n_rx)`` -> equalised, de-whitened features ``(b, n, K)``."""
        b, n, t = r.shape[0], r.shape[1], self._current_link().channel_uses
        p_hat = (r.reshape(b, n, t, self.n_rx) @ self.combiner_.mT.unsqueeze(1)).reshape(b, n, -1)
        f_hat = unpack_complex(self.whitener_.colour(p_hat[..., : self.n_symbols_]), 2 * self.n_symbols_)
        return f_hat[..., : self.n_features_]

    def _decode(self, r: torch.Tensor) -> torch.Tensor:
        return self._reconstruct(self._equalised_features(r)) + self.y_mean_


@register("first-k", "single-link", batched=("snr_db",), description="the first K latent coordinates on the eigen-streams")
class FirstKTransceiver(_EigenStreamBaseline):
    """First-K baseline: send the first K coordinates of the centred latent (see module docstring)."""

    method = "first-k"

    def _fit_features(self, xc, yc) -> None:
        pass  # the first K coordinates: nothing to learn

    def _features(self, xc):
        return xc[..., : self.n_features_]

    def _published_reconstruct(self, f_hat):
        x_hat = torch.nn.functional.pad(f_hat, (0, self.d_tx_ - self.n_features_))  # unsent = training mean
        return x_hat @ self.alignment_


@register("top-k", "single-link", batched=("snr_db",), description="the K largest coordinates per sample (genie indices) on the eigen-streams")
class TopKTransceiver(_EigenStreamBaseline):
    """Top-K baseline: send the K largest deviations from the mean; indices reach the receiver as genie
    side information (not sent over the link, not counted in the compression factor)."""

    method = "top-k"

    def _fit_features(self, xc, yc) -> None:
        pass  # the K largest deviations of each sample: nothing to learn

    def _features(self, xc):
        values, indices = torch.topk(xc.abs(), self.n_features_, dim=-1)
        # The receiver's genie side information: the indices of the latents sent last, read by
        # _receiver_input (transmission and reception of one batch happen in one call).
        self._genie_indices = indices
        return torch.gather(xc, -1, indices)

    def _receiver_input(self, f_hat):
        """The received values at their (genie) indices, zeros elsewhere: ``(b, n, d_tx)``."""
        x_hat = torch.zeros((*f_hat.shape[:-1], self.d_tx_), dtype=f_hat.dtype, device=f_hat.device)
        return x_hat.scatter_(-1, self._genie_indices.expand(*f_hat.shape[:-1], -1), f_hat)

    def _published_reconstruct(self, f_hat):
        return self._receiver_input(f_hat) @ self.alignment_  # unsent = training mean

    def side_information_bits(self) -> float:
        """Bits per latent that sending the genie indices would take with a fixed-length code:
        ceil(log2(d_tx! / (d_tx - K)!)), the K indices in the order they are sent (by magnitude).
        The link does not carry them: Top-K's rows are an optimistic bound by this much."""
        self._check_fitted()
        d, k = self.d_tx_, self.n_features_
        return float(math.ceil((math.lgamma(d + 1) - math.lgamma(d - k + 1)) / math.log(2) - 1e-9))


@register("eigen-k", "single-link", batched=("snr_db",), description="the K strongest alignment components on the eigen-streams")
class EigenKTransceiver(_EigenStreamBaseline):
    """Eigen-K baseline: send the K strongest components of the alignment map's SVD."""

    method = "eigen-k"

    def _n_features(self, d_tx: int, d_rx: int) -> int:
        return min(super()._n_features(d_tx, d_rx), d_rx)

    def _fit_published_receiver(self, xc, yc) -> None:
        pass  # the output map comes with the feature map

    def _fit_features(self, xc, yc) -> None:
        alignment = least_squares_alignment(xc, yc)  # (..., d_tx, d_rx): yc ≈ xc A
        u, s, vh = torch.linalg.svd(alignment.mT, full_matrices=False)  # A^T = U S V^T
        signs = column_phases(vh.mT)  # (..., 1, r): fix each pair's arbitrary sign, as for the channel
        u, vh = u * signs, (vh.mT * signs).mT
        k, root = self.n_features_, s[..., : self.n_features_].sqrt()
        self.feature_map_ = (root.unsqueeze(-1) * vh[..., :k, :]).mT  # (..., d_tx, K): S^{1/2} V^T, row form
        self.output_map_ = (u[..., :, :k] * root.unsqueeze(-2)).mT  # (..., K, d_rx): U S^{1/2}, row form

    def _features(self, xc):
        return xc @ self.feature_map_

    def _published_reconstruct(self, f_hat):
        return f_hat @ self.output_map_


def __getattr__(name: str):
    if name == "BASELINES":  # a dict of the baseline classes until 0.1; the method registry since 0.2.0
        import warnings

        warnings.warn("semalign.transceivers.baselines.BASELINES is deprecated: use semalign.methods.get_method('single-link', name)", DeprecationWarning, stacklevel=2)
        return {cls.method: cls for cls in (FirstKTransceiver, TopKTransceiver, EigenKTransceiver)}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
