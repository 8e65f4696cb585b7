"""Noise power from a named SNR convention, and complex AWGN.

Conventions. P is the energy per latent vector, spread over T channel uses x N_t transmit
antennas; channel entries are CN(0, v), v = ``channel_variance``.

``"total"`` (default)
    sigma^2 = v * P / (T * SNR_lin). The received signal power per receive antenna per channel use is
    E|h_i^T s|^2 = v * ||s||^2 = v * P / T, so the SNR is the average received SNR per receive antenna
    per channel use, independent of N_t.
``"per-antenna"``
    sigma^2 = P / (T * N_t * SNR_lin): the noise level of the published single-link code (whose
    channels have v = 0.5). The SNR is then per transmit antenna and the received SNR grows with N_t.

``"published-federated"`` (compatibility only)
    sigma^2 = P / (T^2 * N_r * SNR_lin): the noise level of the published federated code, which takes
    a reference power of 1 / N_r and divides the noise *standard deviation* by T. The received SNR
    per antenna then grows with T and N_r, so "SNR" is not a physical quantity; it exists only to
    reproduce that code's setting exactly, and no default uses it.

An SNR of ``inf`` dB means no noise; every finite SNR (0 dB included) has noise.
"""

from __future__ import annotations

import torch

SNR_CONVENTIONS = ("total", "per-antenna", "published-federated")


def check_snr_convention(convention: str) -> str:
    """Return ``convention`` or raise ``ValueError`` listing the valid names."""
    if convention not in SNR_CONVENTIONS:
        raise ValueError(f"unknown snr_convention {convention!r}; expected one of {', '.join(map(repr, SNR_CONVENTIONS))}")
    return convention


def db_to_linear(snr_db: torch.Tensor | float) -> torch.Tensor:
    """``10 ** (snr_db / 10)`` as a float64 tensor (``inf`` dB gives ``inf``)."""
    return torch.pow(10.0, torch.as_tensor(snr_db, dtype=torch.float64) / 10.0)


def noise_variance(
    snr_db: torch.Tensor | float,
    *,
    power: float,
    n_tx: int,
    channel_uses: int = 1,
    channel_variance: float = 1.0,
    convention: str = "total",
    n_rx: int | None = None,
) -> torch.Tensor:
    """Complex noise variance sigma^2 per receive antenna per channel use (E|w|^2, w ~ CN(0, sigma^2)).

    Args:
        snr_db: scalar or ``(b,)`` SNR in dB; ``inf`` gives 0.
        power: energy P per latent vector (sum over all channel uses and antennas).
        n_tx: transmit antennas N_t.
        channel_uses: channel uses T per latent vector.
        channel_variance: variance v of each channel entry.
        convention: ``"total"``, ``"per-antenna"`` or ``"published-federated"`` (module docstring).
        n_rx: receive antennas N_r (needed by ``"published-federated"`` only).

    Returns:
        float64 tensor with the shape of ``snr_db``.
    """
    check_snr_convention(convention)
    snr_lin = db_to_linear(snr_db)
    if torch.isnan(snr_lin).any():
        raise ValueError(f"snr_db must be a number or inf, got {snr_db!r}")
    if convention == "total":
        return channel_variance * power / (channel_uses * snr_lin)
    if convention == "published-federated":
        if n_rx is None:
            raise ValueError("the 'published-federated' SNR convention needs n_rx, the receive antennas")
        return power / (channel_uses**2 * n_rx * snr_lin)
    return power / (channel_uses * n_tx * snr_lin)


def complex_awgn(
    shape: tuple[int, ...],
    variance: torch.Tensor | float,
    *,
    generator: torch.Generator | None,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Draw w ~ CN(0, variance): real and imaginary parts i.i.d. N(0, variance / 2).

    Args:
        shape: output shape ``(..., n_rx)``.
        variance: scalar, or a tensor broadcastable to ``shape`` (e.g. ``(b, 1, 1)`` per configuration).
        generator: the random source (never the global one implicitly: pass ``None`` only on purpose).
    """
    real_dtype = torch.float64 if dtype == torch.complex128 else torch.float32
    parts = torch.randn((2, *shape), generator=generator, dtype=real_dtype, device=device)
    std = torch.sqrt(torch.as_tensor(variance, dtype=real_dtype, device=device) / 2.0)
    return torch.complex(parts[0], parts[1]) * std

