"""MIMO channel matrices: i.i.d. Rayleigh and Kronecker-correlated Rayleigh.

Channels follow Sionna's shape convention ``(..., n_rx, n_tx)`` (receive before transmit) and are
drawn with Sionna PHY's ``complex_normal`` and ``KroneckerModel`` from a caller-supplied
``torch.Generator``, so the same seed gives the same channel to every method. The channel is
quasi-static: one realisation is used for training and testing (perfect CSI for aware methods).
"""

from __future__ import annotations

import torch

from semalign._checks import check_positive, check_positive_int
from semalign._seeds import stream_generator


def _sionna_channel_tools():
    """Import Sionna's channel helpers without letting the import reseed the global RNGs.

    Sionna's configuration reseeds torch's default CPU and CUDA generators when it is first imported;
    semalign promises never to touch global RNG state, so the import runs inside ``fork_rng``.
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        from sionna.phy.channel.spatial_correlation import KroneckerModel
        from sionna.phy.channel.utils import exp_corr_mat
        from sionna.phy.utils import complex_normal
    return KroneckerModel, exp_corr_mat, complex_normal


def _check_correlation(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be an exponential correlation coefficient in [0, 1), got {value!r}")
    return value


def rayleigh_channel(
    n_rx: int,
    n_tx: int,
    *,
    generator: torch.Generator,
    batch: int | None = None,
    channel_variance: float = 1.0,
    tx_correlation: float = 0.0,
    rx_correlation: float = 0.0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.complex64,
) -> torch.Tensor:
    """Draw Rayleigh flat-fading MIMO channels.

    H = sqrt(v) * R_rx^{1/2} W R_tx^{H/2} with W i.i.d. CN(0, 1) (Sionna's ``complex_normal``) and, when
    a correlation coefficient is non-zero, exponential correlation matrices R[i, j] = a^|i - j|
    applied by Sionna's ``KroneckerModel``. Every entry has variance E|H_ij|^2 = v either way.

    Args:
        n_rx, n_tx: receive and transmit antennas.
        generator: random source.
        batch: number of independent channels; ``None`` returns a single ``(n_rx, n_tx)`` matrix.
        channel_variance: v, the variance of each entry (1 by default; the published code's is 0.5).
        tx_correlation, rx_correlation: exponential correlation coefficients in [0, 1).
        device, dtype: output placement and complex dtype.

    Returns:
        ``(n_rx, n_tx)`` or ``(batch, n_rx, n_tx)`` complex tensor.
    """
    KroneckerModel, exp_corr_mat, complex_normal = _sionna_channel_tools()  # lazy: ~2 s to import

    n_rx = check_positive_int("n_rx", n_rx)
    n_tx = check_positive_int("n_tx", n_tx)
    variance = check_positive("channel_variance", channel_variance)
    a_tx = _check_correlation("tx_correlation", tx_correlation)
    a_rx = _check_correlation("rx_correlation", rx_correlation)
    precision = "double" if dtype == torch.complex128 else "single"
    shape = [1 if batch is None else check_positive_int("batch", batch), n_rx, n_tx]
    # Draw on the generator's device so a CPU generator gives the same channel on every device.
    h = complex_normal(shape, var=variance, precision=precision, device=generator.device, generator=generator)
    if a_tx > 0 or a_rx > 0:
        kron = KroneckerModel(
            r_tx=exp_corr_mat(a_tx, n_tx, precision=precision, device=str(generator.device)) if a_tx > 0 else None,
            r_rx=exp_corr_mat(a_rx, n_rx, precision=precision, device=str(generator.device)) if a_rx > 0 else None,
            precision=precision,
            device=str(generator.device),
        )
        h = kron(h)
    h = h.to(device=device, dtype=dtype)
    return h[0] if batch is None else h


def channel_for_seed(
    seed: int,
    n_rx: int,
    n_tx: int,
    *,
    channel_variance: float = 1.0,
    tx_correlation: float = 0.0,
    rx_correlation: float = 0.0,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The scenario channel for ``seed``: the first draw of a CPU generator seeded with ``seed``.

    Every method of a run calls this with the same arguments, so they all see the same channel.
    Returns a complex64 ``(n_rx, n_tx)`` tensor on ``device``.
    """
    generator = stream_generator("channel", seed)
    return rayleigh_channel(
        n_rx,
        n_tx,
        generator=generator,
        channel_variance=channel_variance,
        tx_correlation=tx_correlation,
        rx_correlation=rx_correlation,
        device=device,
    )
