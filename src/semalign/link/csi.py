"""Imperfect channel knowledge: the error model, channel estimation from pilots, and channels that
change while a design stays fixed.

**Error model** (one definition everywhere). What a design knows, the estimate Ĥ, and the channel
the symbols go through, H, differ by an error D independent of Ĥ:

    H = Ĥ + D,    D_ij ~ CN(0, ε v),    Ĥ_ij ~ CN(0, (1 - ε) v),

with v the channel variance and ε = ``csi_error`` in [0, 1] the fraction of the channel's power the
estimate misses (0: perfect knowledge, 1: none). This is the error of an LMMSE channel estimate; an
LS estimate takes this form after its LMMSE shrinkage (:func:`estimate_channel`).

**Estimation** (:func:`estimate_channel`): ``pilots`` orthogonal pilot symbols per transmit antenna at
a pilot SNR (unit transmitted pilot power over the noise variance), so every channel entry is
observed ``pilots`` times in noise: the LS estimate has error variance 1 / (pilots · SNR_p) per entry
and the LMMSE estimate shrinks it by v / (v + 1 / (pilots · SNR_p)). For a flat MIMO channel with
orthogonal pilots these closed forms are exactly what a pilot-based estimator computes (Sionna's
OFDM estimators do the same per resource element, with interpolation between pilots we have no
use for here).

**Changing channels** (:func:`gauss_markov_channels`): across blocks of ``coherence`` latents the
channel follows a first-order Gauss-Markov process H_{k+1} = ρ H_k + sqrt(1 - ρ²) W_k with W_k of
the channel's distribution and ρ = J0(2π f_D τ) from Jakes' model, where f_D τ is the normalised
Doppler ``doppler`` per latent times the block length ``coherence``.

**Robust designs** need the second moment of the error as the solver sees it: with Δ = I_T ⊗ D (the
T channel uses of a latent share D) and a transmit covariance M, E[Δ M Δ^H] and its adjoint
(:func:`error_covariance`), in the complex domain or in the real composite domain of widely linear
maps. On a frequency-selective link the S subcarriers are estimated separately, so
Δ = diag(D_1, ..., D_S) with independent errors (``independent=True``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from semalign._checks import check_choice, check_positive, check_positive_int
from semalign.link.noise import complex_awgn

#: Channel estimators of :func:`estimate_channel`.
ESTIMATORS = ("ls", "lmmse")


def check_csi_error(value) -> float:
    """``value`` as a float in [0, 1], or ``ValueError`` naming ``csi_error``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"csi_error must be a fraction in [0, 1], got {value!r}") from None
    if isinstance(value, (bool, str, bytes)) or not 0.0 <= number <= 1.0:
        raise ValueError(f"csi_error must be a fraction in [0, 1] (0: perfect channel knowledge), got {value!r}")
    return number


def check_robust(value) -> bool:
    """``value`` if it is ``True`` or ``False`` (design for the expectation over the CSI error, or
    not), else ``ValueError`` naming ``robust``."""
    if not isinstance(value, bool):
        raise ValueError(f"robust must be True or False (design for the expectation over the channel error), got {value!r}")
    return value


def _complex_gaussian(shape, variance: float, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """CN(0, ``variance``) entries drawn on the generator's device in ``like``'s precision, moved to ``like``'s device."""
    dtype = torch.complex128 if like.dtype in (torch.complex128, torch.float64) else torch.complex64
    return complex_awgn(tuple(shape), variance, generator=generator, dtype=dtype, device=generator.device).to(like.device)


def true_channel(estimate: torch.Tensor, csi_error: float, channel_variance: float = 1.0, *, generator: torch.Generator) -> torch.Tensor:
    """A channel the symbols may go through when a design knows ``estimate``: Ĥ + D, D ~ CN(0, ε v).

    Args:
        estimate: complex ``(..., n_rx, n_tx)`` channel estimate Ĥ.
        csi_error: ε in [0, 1].
        channel_variance: v.
        generator: the source of D (never the global RNG).

    Returns:
        ``(..., n_rx, n_tx)`` complex, the dtype of ``estimate``.
    """
    eps = check_csi_error(csi_error)
    v = check_positive("channel_variance", channel_variance)
    if eps == 0.0:
        return estimate.clone()
    return estimate + _complex_gaussian(estimate.shape, eps * v, generator, estimate).to(estimate.dtype)


def estimate_of(channel: torch.Tensor, csi_error: float, channel_variance: float = 1.0, *, generator: torch.Generator) -> torch.Tensor:
    """An estimate Ĥ of ``channel`` with the error of the model: Ĥ = (1 - ε)(H + E), E ~ CN(0, ε v / (1 - ε)),
    the LMMSE estimate from an observation of H in noise, so that H - Ĥ is independent of Ĥ with
    variance ε v per entry (ε = 1: Ĥ = 0).

    Args:
        channel: complex ``(..., n_rx, n_tx)`` true channel H (entries of variance v).
        csi_error, channel_variance, generator: as in :func:`true_channel`.
    """
    eps = check_csi_error(csi_error)
    v = check_positive("channel_variance", channel_variance)
    if eps == 0.0:
        return channel.clone()
    if eps == 1.0:
        return torch.zeros_like(channel)
    noise = _complex_gaussian(channel.shape, eps * v / (1 - eps), generator, channel).to(channel.dtype)
    return (1 - eps) * (channel + noise)


@dataclass(frozen=True)
class ChannelEstimate:
    """What :func:`estimate_channel` returns.

    Attributes:
        estimate: ``(..., n_rx, n_tx)`` complex, the estimator's output (LS: unbiased, LMMSE: shrunk).
        design_channel: ``(..., n_rx, n_tx)`` the estimate in the form of the error model (the LMMSE
            estimate; for LS its LMMSE shrinkage): what a design should be given.
        csi_error: ε of ``design_channel`` (its error variance over v).
        error_variance: the mean squared error per entry of ``estimate`` (theory).
        method, pilots, pilot_snr_db: how it was estimated.
    """

    estimate: torch.Tensor
    design_channel: torch.Tensor
    csi_error: float
    error_variance: float
    method: str
    pilots: int
    pilot_snr_db: float


def estimate_channel(
    channel: torch.Tensor, *, pilots: int, pilot_snr_db: float, method: str = "lmmse", channel_variance: float = 1.0, generator: torch.Generator
) -> ChannelEstimate:
    """Estimate ``channel`` from ``pilots`` orthogonal pilot symbols per transmit antenna.

    The receiver sees Y = H P + W with P P^H = pilots · I (unit-power pilots, orthogonal across the
    transmit antennas, so ``pilots >= n_tx``) and noise W ~ CN(0, 1 / SNR_p), SNR_p being the
    transmitted pilot power over the noise variance (the received pilot SNR per antenna is v SNR_p): LS is Y P^H / pilots = H +
    W P^H / pilots, error variance 1 / (pilots · SNR_p) per entry; LMMSE (i.i.d. prior of variance v)
    multiplies it by v / (v + 1 / (pilots · SNR_p)).

    Args:
        channel: complex ``(..., n_rx, n_tx)`` true channel.
        pilots: pilot symbols per transmit antenna (at least n_tx).
        pilot_snr_db: SNR_p in dB (unit pilot power over the noise variance).
        method: ``"lmmse"`` (default) or ``"ls"``.
        channel_variance: v, the prior variance of each entry.
        generator: the noise source.

    Returns:
        :class:`ChannelEstimate` with the ``csi_error`` the estimate implies: ε = e / (v + e) for the
        LS error variance e.
    """
    check_choice("method", method, ESTIMATORS)
    n_tx = channel.shape[-1]
    pilots = check_positive_int("pilots", pilots)
    if pilots < n_tx:
        raise ValueError(f"pilots={pilots} orthogonal pilot symbols cannot separate {n_tx} transmit antennas; expected pilots >= {n_tx}")
    if not math.isfinite(float(pilot_snr_db)):
        raise ValueError(f"pilot_snr_db must be a finite number in dB, got {pilot_snr_db!r}")
    v = check_positive("channel_variance", channel_variance)
    ls_error = 1.0 / (pilots * 10.0 ** (float(pilot_snr_db) / 10.0))
    # W P^H / pilots has i.i.d. entries CN(0, ls_error) for orthogonal pilots: drawn directly.
    ls = channel + _complex_gaussian(channel.shape, ls_error, generator, channel).to(channel.dtype)
    shrink = v / (v + ls_error)
    lmmse = shrink * ls
    eps = ls_error / (v + ls_error)
    estimate = ls if method == "ls" else lmmse
    error = ls_error if method == "ls" else v * eps
    return ChannelEstimate(estimate, lmmse, eps, error, method, pilots, float(pilot_snr_db))


def check_doppler(value) -> float:
    """``value`` as a float normalised Doppler frequency (>= 0, finite), or ``ValueError`` naming ``doppler``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"doppler must be a finite normalised Doppler frequency >= 0 (f_D times the latent period), got {value!r}")
    return float(value)


def jakes_correlation(doppler: float, lag: float = 1.0) -> float:
    """ρ = J0(2π f_D τ) of Jakes' model for normalised Doppler ``doppler`` (per latent) over ``lag`` latents."""
    from scipy.special import j0

    return float(j0(2.0 * math.pi * check_doppler(doppler) * lag))


def gauss_markov_channels(
    initial: torch.Tensor, blocks: int, *, doppler: float, coherence: int = 1, channel_variance: float = 1.0, generator: torch.Generator
) -> torch.Tensor:
    """The channel over ``blocks`` blocks of ``coherence`` latents, starting from ``initial``.

    H_0 = ``initial``; H_{k+1} = ρ H_k + sqrt(1 - ρ²) W_k, W_k i.i.d. CN(0, v), ρ = J0(2π · doppler ·
    coherence) (Jakes' correlation over one block). Stationary: every H_k has the distribution of
    ``initial`` when that is CN(0, v), and E[H_k H_0^*] = ρ^k v per entry.

    Args:
        initial: complex ``(..., n_rx, n_tx)``.
        blocks: number of blocks K (the first is ``initial`` itself).
        doppler: normalised Doppler f_D τ per latent (>= 0).
        coherence: latents per block.
        channel_variance: v.
        generator: the innovation source.

    Returns:
        ``(K, ..., n_rx, n_tx)`` complex.
    """
    blocks = check_positive_int("blocks", blocks)
    coherence = check_positive_int("coherence", coherence)
    v = check_positive("channel_variance", channel_variance)
    rho = jakes_correlation(doppler, coherence)
    out = [initial]
    for _ in range(blocks - 1):
        innovation = _complex_gaussian(initial.shape, v, generator, initial).to(initial.dtype)
        out.append(rho * out[-1] + math.sqrt(max(0.0, 1.0 - rho * rho)) * innovation)
    return torch.stack(out)


# ------------------------------------------------------------------ second moments for robust designs
def _lift(blocks: torch.Tensor, size: int) -> torch.Tensor:
    """R ⊗ I_size for a small ``(..., k, k)`` matrix R."""
    eye = torch.eye(size, dtype=blocks.dtype, device=blocks.device).view(1, size, 1, size)
    k = blocks.shape[-1]
    return (blocks[..., :, None, :, None] * eye).reshape(*blocks.shape[:-2], k * size, k * size)


def error_covariance(
    m: torch.Tensor, error_variance: torch.Tensor | float, *, uses: int, size: int, domain: str, independent: bool = False
) -> torch.Tensor:
    """E[Δ M Δ^H] for the solver's channel error Δ and a matrix ``m`` on its input side.

    In the complex domain Δ = I_T ⊗ D with D_ij ~ CN(0, s): block (t, t') of the result is
    s · tr(M_tt') I, i.e. s B(M) ⊗ I with B(M) the T x T matrix of block traces. With
    ``independent`` the T blocks are subcarriers with their own errors, Δ = diag(D_1, ..., D_T)
    with independent D_t: the cross blocks vanish in expectation and only the diagonal of B(M)
    remains (the same in the real domain below). In the real
    composite domain (widely linear maps), Δ is the real composite of I_T ⊗ D and, with
    M = [[M11, M12], [M21, M22]] in real/imaginary blocks, the result is
    (s/2) [[B(M11) + B(M22), B(M12) - B(M21)], [B(M21) - B(M12), B(M11) + B(M22)]] ⊗ I.
    The same formula with the roles of input and output swapped gives the adjoint: tr(W E[Δ M Δ^H])
    = tr(error_covariance(W, ..., size=input size) M).

    Args:
        m: ``(..., T a, T a)`` (complex domain) or ``(..., 2 T a, 2 T a)`` (real domain).
        error_variance: s = ε v, a number or ``(...,)`` per configuration.
        uses: T (the diagonal blocks of Δ).
        size: the dimension per use of the result's side (n_rx for the covariance, n_tx for the adjoint).
        domain: ``"complex"`` or ``"real"``.
        independent: the blocks have independent errors (subcarriers) instead of one shared D.

    Returns:
        ``(..., T size, T size)`` or ``(..., 2 T size, 2 T size)``.
    """
    s = torch.as_tensor(error_variance, dtype=m.real.dtype if m.is_complex() else m.dtype, device=m.device)
    s = s.reshape(*s.shape, 1, 1) if s.ndim else s
    batch = m.shape[:-2]
    if domain == "complex":
        a = m.shape[-1] // uses
        traces = torch.diagonal(m.reshape(*batch, uses, a, uses, a), dim1=-3, dim2=-1).sum(-1)  # (..., T, T)
        if independent:
            traces = traces * torch.eye(uses, dtype=traces.dtype, device=traces.device)
        return _lift(s * traces, size)
    # Block traces of the four real/imaginary blocks at once: (..., 2, T, 2, T).
    a = m.shape[-1] // (2 * uses)
    traces = torch.diagonal(m.reshape(*batch, 2, uses, a, 2, uses, a), dim1=-4, dim2=-1).sum(-1)
    if independent:
        traces = traces * torch.eye(uses, dtype=traces.dtype, device=traces.device).view(uses, 1, uses)
    diag = traces[..., 0, :, 0, :] + traces[..., 1, :, 1, :]
    off = traces[..., 0, :, 1, :] - traces[..., 1, :, 0, :]
    small = torch.cat([torch.cat([diag, off], -1), torch.cat([-off, diag], -1)], -2)  # (..., 2T, 2T)
    return _lift((s / 2) * small, size)
