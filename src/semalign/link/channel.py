"""MIMO channel matrices: i.i.d. Rayleigh, Kronecker-correlated Rayleigh, and 3GPP TR 38.901 TDL/CDL
frequency responses on OFDM subcarriers.

Channels follow Sionna's shape convention ``(..., n_rx, n_tx)`` (receive before transmit) and are
drawn with Sionna PHY (``complex_normal`` and ``KroneckerModel``; ``TDL``, ``CDL`` and
``cir_to_ofdm_channel``) from a caller-supplied ``torch.Generator``, so the same seed gives the same
channel to every method. The channel is quasi-static: one realisation is used for training and
testing (perfect CSI for aware methods). Flat-fading channels are one matrix shared by the T channel
uses of a latent; the TDL/CDL models give one matrix per subcarrier ``(..., S, n_rx, n_tx)``, the
T uses of a latent going out on S = T subcarriers (:mod:`semalign.link.channel_models` turns
either into a link's channel).
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


#: The 3GPP TR 38.901 link-level models of :func:`ofdm_channel` (``tdl-a`` ... ``cdl-e``).
TR38901_MODELS = tuple(f"{family}-{letter}" for family in ("tdl", "cdl") for letter in "abcde")


def _sionna_tr38901():
    """Sionna's TR 38.901 TDL/CDL models and OFDM helpers, imported like :func:`_sionna_channel_tools`
    (lazily, without reseeding the global RNGs)."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        from sionna.phy.channel import cir_to_ofdm_channel, subcarrier_frequencies
        from sionna.phy.channel.tr38901 import CDL, TDL, AntennaArray
    return TDL, CDL, AntennaArray, cir_to_ofdm_channel, subcarrier_frequencies


_SEEDED_CLASSES: dict[type, type] = {}


def _draw_from(model, generator: torch.Generator):
    """``model`` (a Sionna TDL/CDL) drawing from ``generator``: Sionna objects draw from their
    ``torch_rng`` (Sionna's global generator), and semalign never uses global random state, so the
    model and the CDL model's ray sampler (``_cir_gen``, such an object too) become instances of a
    subclass (one per Sionna class) whose ``torch_rng`` is the given generator."""
    for obj in (model, getattr(model, "_cir_gen", None)):
        if obj is not None:
            base = type(obj)
            if base not in _SEEDED_CLASSES:
                _SEEDED_CLASSES[base] = type(f"Seeded{base.__name__}", (base,), {"torch_rng": property(lambda self: self._semalign_generator)})
            obj.__class__ = _SEEDED_CLASSES[base]
            obj._semalign_generator = generator
    return model


def ofdm_channel(
    model: str,
    n_rx: int,
    n_tx: int,
    subcarriers: int,
    *,
    generator: torch.Generator,
    batch: int | None = None,
    channel_variance: float = 1.0,
    delay_spread_ns: float = 100.0,
    carrier_frequency_ghz: float = 3.5,
    bandwidth_mhz: float = 20.0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.complex64,
) -> torch.Tensor:
    """Draw frequency responses of a 3GPP TR 38.901 TDL or CDL channel on ``subcarriers`` subcarriers.

    Sionna's ``TDL`` / ``CDL`` models draw the channel impulse response (static terminals: one time
    sample) and ``cir_to_ofdm_channel`` turns it into H(f) = sum_m a_m exp(-j 2 pi f tau_m) at the
    subcarrier frequencies f_s: the ``subcarriers`` subcarriers a latent uses, spread evenly over
    ``bandwidth_mhz`` around the carrier (spacing B / S; the subcarriers of one latent therefore see
    different, correlated channels: frequency selectivity grows with delay spread x bandwidth).
    TDL channels are spatially uncorrelated between antenna pairs; CDL channels come from clusters
    of rays between uniform linear arrays of vertically polarised isotropic elements at half-wavelength
    spacing (base station transmitting, downlink). The models' path powers sum to one; every
    entry has E|H_ij(f)|^2 = v either way (checked against Monte-Carlo averages in the tests).

    With static terminals the carrier frequency changes neither model's statistics (it sets the
    Doppler, zero here, and the array geometry, which is in wavelengths); it is passed to Sionna and
    recorded so that a result names the setting it was drawn for.

    Args:
        model: one of :data:`TR38901_MODELS` (``tdl-a`` ... ``tdl-e``, ``cdl-a`` ... ``cdl-e``);
            D and E have a line-of-sight path (Rician first tap/cluster).
        n_rx, n_tx: receive and transmit antennas.
        subcarriers: S, the subcarriers (one per channel use of a latent).
        generator: random source (never the global RNG).
        batch: independent channels; ``None`` returns one ``(S, n_rx, n_tx)`` tensor.
        channel_variance: v, the variance of each entry.
        delay_spread_ns: RMS delay spread the normalised model delays are scaled to (TR 38.901
            Table 7.7.3-1: 10 very short, 30 short, 100 nominal (default), 300 long, 1000 very long).
        carrier_frequency_ghz: carrier frequency (3.5 GHz by default).
        bandwidth_mhz: band over which the S subcarriers are spread (20 MHz by default).
        device, dtype: output placement and complex dtype.

    Returns:
        ``(S, n_rx, n_tx)`` or ``(batch, S, n_rx, n_tx)`` complex tensor.
    """
    if model not in TR38901_MODELS:
        raise ValueError(f"unknown TR 38.901 model {model!r}; expected one of {', '.join(TR38901_MODELS)}")
    n_rx = check_positive_int("n_rx", n_rx)
    n_tx = check_positive_int("n_tx", n_tx)
    subcarriers = check_positive_int("subcarriers", subcarriers)
    variance = check_positive("channel_variance", channel_variance)
    delay_spread = check_positive("delay_spread_ns", delay_spread_ns) * 1e-9
    carrier = check_positive("carrier_frequency_ghz", carrier_frequency_ghz) * 1e9
    bandwidth = check_positive("bandwidth_mhz", bandwidth_mhz) * 1e6
    count = 1 if batch is None else check_positive_int("batch", batch)
    TDL, CDL, AntennaArray, cir_to_ofdm_channel, subcarrier_frequencies = _sionna_tr38901()
    where = dict(precision="double", device=str(generator.device))
    family, letter = model.split("-")
    if family == "tdl":
        channel = TDL(letter.upper(), delay_spread=delay_spread, carrier_frequency=carrier, num_rx_ant=n_rx, num_tx_ant=n_tx, **where)
    else:

        def array(n: int):
            return AntennaArray(num_rows=1, num_cols=n, polarization="single", polarization_type="V", antenna_pattern="omni", carrier_frequency=carrier, **where)

        channel = CDL(letter.upper(), delay_spread, carrier, ut_array=array(n_rx), bs_array=array(n_tx), direction="downlink", **where)
    a, tau = _draw_from(channel, generator)(count, 1, 1.0)  # a: (batch, 1, n_rx, 1, n_tx, paths, 1 time step)
    frequencies = subcarrier_frequencies(subcarriers, bandwidth / subcarriers, **where)
    h = cir_to_ofdm_channel(frequencies, a, tau)  # (batch, 1, n_rx, 1, n_tx, 1, S)
    h = h[:, 0, :, 0, :, 0, :].permute(0, 3, 1, 2)  # (batch, S, n_rx, n_tx)
    h = (h * variance**0.5).to(device=device, dtype=dtype)
    return h[0] if batch is None else h
