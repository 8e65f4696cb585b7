"""Bad input fails early with a clear ``ValueError`` (the name of the argument, the value and what is expected).

Each message must name the argument, the value received and what is expected; the tests match on
those parts. Every transceiver (linear ADMM and the three baselines) shares the link and input
validation of :class:`~semalign.transceivers.base.SemanticTransceiver`, so most checks run on all four.
"""

from __future__ import annotations

import math
import re

import pytest
import torch

from semalign.experiments.studies import mimo as mimo_study
from semalign.experiments.studies import run_study
from semalign.experiments.studies.mimo import MimoGrid
from semalign.transceivers.base import NotFittedError
from semalign.transceivers.baselines import EigenKTransceiver, FirstKTransceiver, TopKTransceiver
from semalign.transceivers.linear_admm import LinearSemanticTransceiver

TRANSCEIVERS = [LinearSemanticTransceiver, FirstKTransceiver, TopKTransceiver, EigenKTransceiver]
IDS = [cls.method for cls in TRANSCEIVERS]
N, D_TX, D_RX = 60, 16, 20  # ceil(D_TX / 2) = 8 complex symbols at most


def _channel(n_rx: int, n_tx: int, seed: int = 0, batch: int | None = None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    shape = (n_rx, n_tx) if batch is None else (batch, n_rx, n_tx)
    parts = torch.randn((2, *shape), generator=gen) / math.sqrt(2)
    return torch.complex(parts[0], parts[1])


@pytest.fixture(scope="module")
def latents():
    """Seeded pilots x ``(N, D_TX)``, y ``(N, D_RX)`` with y linearly related to x, and test latents."""
    gen = torch.Generator().manual_seed(1234)
    x = torch.randn(N + 40, D_TX, generator=gen)
    y = x @ torch.randn(D_TX, D_RX, generator=gen) / math.sqrt(D_TX) + 0.1 * torch.randn(N + 40, D_RX, generator=gen)
    return x[:N], y[:N], x[N:]


@pytest.fixture
def channel():
    return _channel(4, 4)


# ------------------------------------------------------------------------- pilots and latents
@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
def test_mismatched_sample_counts(cls, latents, channel):
    x, y, _ = latents
    with pytest.raises(ValueError, match=r"x and y must have the same number of samples.*\(60, 16\).*\(40, 20\)"):
        cls(channel).fit(x, y[:40])


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
@pytest.mark.parametrize("which", ["x", "y"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")], ids=["nan", "inf", "-inf"])
def test_non_finite_latents(cls, which, bad, latents, channel):
    x, y, _ = latents
    x, y = x.clone(), y.clone()
    (x if which == "x" else y)[3, 2] = bad
    model = cls(channel)
    with pytest.raises(ValueError, match=rf"^{which} contains 1 NaN or infinite entries .*expected finite values"):
        model.fit(x, y)
    with pytest.raises(NotFittedError):  # nothing half-fitted is left behind
        model.transmit(latents[2])


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
def test_non_finite_transmit_input(cls, latents, channel):
    x, y, x_test = latents
    model = cls(channel).fit(x, y)
    bad = x_test.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^x contains 1 NaN or infinite entries"):
        model.transmit(bad)


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
@pytest.mark.parametrize("stage", ["fit", "transmit"])
def test_complex_latents(cls, stage, latents, channel):
    x, y, x_test = latents
    model = cls(channel)
    with pytest.raises(ValueError, match=r"x must be real-valued latents, got a complex tensor of shape \((60|40), 16\)"):
        if stage == "fit":
            model.fit(x.to(torch.complex64), y)
        else:
            model.fit(x, y).transmit(x_test.to(torch.complex64))


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
def test_complex_receiver_latents(cls, latents, channel):
    x, y, _ = latents
    with pytest.raises(ValueError, match=r"^y must be real-valued latents, got a complex tensor"):
        cls(channel).fit(x, y.to(torch.complex64))


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
def test_latents_of_wrong_rank(cls, latents, channel):
    x, y, _ = latents
    with pytest.raises(ValueError, match=r"x must have shape \(n, d\) or \(b, n, d\), got shape \(16,\)"):
        cls(channel).fit(x[0], y[0])


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
def test_single_pilot(cls, latents, channel):
    x, y, _ = latents
    with pytest.raises(ValueError, match=r"hold 1 pilot\(s\); expected at least 2"):
        cls(channel).fit(x[:1], y[:1])


def _check_usable(model, x_test):
    y_hat = model.transmit(x_test)
    assert y_hat.shape == (x_test.shape[0], D_RX)
    assert torch.isfinite(y_hat).all()
    assert torch.isfinite(model.transmit(x_test, noise=False)).all()


@pytest.mark.parametrize("processing", ["widely-linear", "strictly-linear"])
def test_fewer_pilots_than_dimensions_linear(processing, latents, channel):
    """8 pilots for d_tx = 16: the transmitter covariance is singular, shrunk, with a warning."""
    x, y, x_test = latents
    dims = 16 if processing == "widely-linear" else 8  # real or packed complex solver dimensions
    model = LinearSemanticTransceiver(channel, processing=processing)
    with pytest.warns(RuntimeWarning, match=rf"transmitter pilots: 8 pilots for {dims} complex dimensions.*shrunk"):
        model.fit(x[:8], y[:8])
    assert model.whitener_.shrinkage > 0
    assert all(torch.isfinite(h).all() for h in model.history_["objective"])
    _check_usable(model, x_test)


@pytest.mark.parametrize("cls", [FirstKTransceiver, TopKTransceiver, EigenKTransceiver], ids=IDS[1:])
def test_fewer_pilots_than_dimensions_baselines(cls, latents):
    """6 pilots for d_tx = 16 over 8 x 8 antennas: the 8 feature symbols' covariance is shrunk."""
    x, y, x_test = latents
    model = cls(_channel(8, 8))
    with pytest.warns(RuntimeWarning, match=rf"{cls.method} feature symbols: 6 pilots for 8 complex dimensions.*shrunk"):
        model.fit(x[:6], y[:6])
    _check_usable(model, x_test)


# ----------------------------------------------------------------------------------- the link
@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
@pytest.mark.parametrize("power", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_power(cls, power, channel):
    with pytest.raises(ValueError, match=rf"power must be a finite positive number, got {re.escape(repr(power))}"):
        cls(channel, power=power)


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
@pytest.mark.parametrize("value", [0.0, -0.5, float("nan")])
def test_bad_channel_variance(cls, value, channel):
    with pytest.raises(ValueError, match=rf"channel_variance must be a finite positive number, got {re.escape(repr(value))}"):
        cls(channel, channel_variance=value)


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
@pytest.mark.parametrize(
    ("n_antennas", "channel_uses", "message"),
    [
        (9, 1, r"channel_uses x n_tx = 1 x 9 = 9 symbols exceeds the complex latent size ceil\(d_tx/2\) = 8 \(d_tx = 16\)"),
        (4, 3, r"channel_uses x n_tx = 3 x 4 = 12 symbols exceeds the complex latent size ceil\(d_tx/2\) = 8"),
    ],
)
def test_too_many_antennas(cls, n_antennas, channel_uses, message, latents):
    x, y, x_test = latents
    model = cls(_channel(n_antennas, n_antennas), channel_uses=channel_uses)
    with pytest.raises(ValueError, match=message):
        model.fit(x, y)
    with pytest.raises(NotFittedError):
        model.transmit(x_test)


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
def test_full_size_antennas_allowed(cls, latents):
    """T x N_t = ceil(d_tx/2) exactly is the 100 % compression factor: allowed."""
    x, y, x_test = latents
    model = cls(_channel(8, 8)).fit(x, y)
    assert model.compression_factor(D_TX) == pytest.approx(100.0)
    assert torch.isfinite(model.transmit(x_test)).all()


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
def test_bad_channel_uses(cls, channel):
    with pytest.raises(ValueError, match=r"channel_uses must be a positive integer, got 0"):
        cls(channel, channel_uses=0)


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
def test_unknown_snr_convention(cls, channel):
    with pytest.raises(ValueError, match=r"unknown snr_convention 'bogus'; expected one of 'total', 'per-antenna'"):
        cls(channel, snr_convention="bogus")


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
def test_unknown_awareness(cls, channel):
    with pytest.raises(ValueError, match=r"unknown awareness 'partial'; expected one of 'aware', 'unaware'"):
        cls(channel, awareness="partial")


def test_unknown_processing(channel):
    with pytest.raises(ValueError, match=r"unknown processing 'nonlinear'; expected one of 'widely-linear', 'strictly-linear'"):
        LinearSemanticTransceiver(channel, processing="nonlinear")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(rho=0.0), r"rho must be a finite positive number, got 0.0"),
        (dict(iterations=0), r"iterations must be a positive integer, got 0"),
        (dict(tol=-1e-3), r"tol must be a finite positive number, got -0.001"),
        (dict(init="zeros"), r"unknown init 'zeros'; expected one of 'spectral', 'random'"),
    ],
)
def test_bad_solver_settings(kwargs, message, channel):
    with pytest.raises(ValueError, match=message):
        LinearSemanticTransceiver(channel, **kwargs)


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
@pytest.mark.parametrize(
    ("shape", "shown"),
    [((4,), r"\(4,\)"), ((2, 3, 4, 4), r"\(2, 3, 4, 4\)")],
    ids=["1d", "4d"],
)
def test_channel_of_wrong_rank(cls, shape, shown):
    h = torch.ones(shape, dtype=torch.complex64)
    with pytest.raises(ValueError, match=rf"channel must have shape \(n_rx, n_tx\) or \(b, n_rx, n_tx\), got shape {shown}"):
        cls(h)


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
def test_non_finite_channel(cls, channel):
    h = channel.clone()
    h[0, 1] = complex(float("nan"), 0.0)
    with pytest.raises(ValueError, match=r"^channel contains 1 NaN or infinite entries"):
        cls(h)


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
@pytest.mark.parametrize(
    "snr_db", [[0.0, 10.0], torch.tensor([0.0, 10.0, 20.0, 30.0])], ids=["list-2", "tensor-4"]
)
def test_snr_list_not_matching_channel_batch(cls, snr_db):
    h = _channel(4, 4, batch=3)
    with pytest.raises(ValueError, match=r"snr_db must be a number or one value per channel configuration \(3\), got"):
        cls(h, snr_db=snr_db)


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
def test_nan_snr(cls, channel):
    with pytest.raises(ValueError, match=r"snr_db must be a number .* got nan"):
        cls(channel, snr_db=float("nan"))


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
def test_batched_pilots_not_matching_channel_batch(cls, latents):
    x, y, _ = latents
    model = cls(_channel(4, 4, batch=3), snr_db=[0.0, 10.0, 20.0])
    with pytest.raises(ValueError, match=r"batched x has 2 pilot sets but the channel has 3 configurations"):
        model.fit(x.expand(2, N, D_TX), y.expand(2, N, D_RX))


# ------------------------------------------------------------------------------------ transmit
@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
@pytest.mark.parametrize("call", ["transmit", "symbols", "received"])
def test_use_before_fit(cls, call, latents, channel):
    model = cls(channel)
    with pytest.raises(NotFittedError, match=rf"this {cls.__name__} is not fitted yet; call fit\(x, y\)"):
        getattr(model, call)(latents[2])


def test_not_fitted_error_is_a_runtime_error():
    assert issubclass(NotFittedError, RuntimeError)


@pytest.mark.parametrize("cls", TRANSCEIVERS, ids=IDS)
def test_transmit_with_other_dimension(cls, latents, channel):
    x, y, x_test = latents
    model = cls(channel).fit(x, y)
    with pytest.raises(ValueError, match=r"x has 10 features but the transceiver was fitted on d_tx = 16"):
        model.transmit(x_test[:, :10])
    with pytest.raises(ValueError, match=r"x has 18 features but the transceiver was fitted on d_tx = 16"):
        model.transmit(torch.cat([x_test, x_test[:, :2]], dim=1))


# ---------------------------------------------------------------------------- experiment grid
def study_runs(grid, d_tx):
    """The study's runs for latents of ``d_tx`` features (none are loaded)."""
    import types

    original = mimo_study.latents_of
    mimo_study.latents_of = lambda run: types.SimpleNamespace(d_tx=d_tx)
    try:
        return mimo_study.mimo_runs(grid)
    finally:
        mimo_study.latents_of = original


def run_mimo_study(grid, out, progress=False, figures=True):
    return run_study("mimo", grid, out, progress=progress, figures=figures)


def test_grid_unknown_method_lists_valid_methods():
    with pytest.raises(ValueError, match=r"unknown method 'bogus'; expected one of 'linear-admm', 'neural', 'first-k', 'top-k', 'eigen-k'"):
        MimoGrid(methods=("bogus",))


def test_grid_unknown_awareness_and_convention():
    with pytest.raises(ValueError, match=r"unknown awareness 'sometimes'"):
        MimoGrid(awareness=("aware", "sometimes"))
    with pytest.raises(ValueError, match=r"unknown snr_convention 'peak'"):
        MimoGrid(snr_convention="peak")
    with pytest.raises(ValueError, match=r"seeds must list at least one seed"):
        MimoGrid(seeds=())


def test_grid_compression_antennas_too_large():
    grid = MimoGrid(compression_antennas=(1, 4, 20, 13))
    with pytest.raises(ValueError, match=r"compression_antennas \[20, 13\] exceed the complex latent size ceil\(d_tx/2\) = 12"):
        grid.antennas_for(24)
    with pytest.raises(ValueError, match=r"compression_antennas \[20, 13\]"):
        study_runs(grid, 24)
    assert grid.antennas_for(40) == (1, 4, 20, 13)  # fine for a larger latent


def test_grid_default_antennas_reach_full_size():
    assert MimoGrid().antennas_for(24) == (1, 2, 4, 8, 12)
    assert MimoGrid().antennas_for(16) == (1, 2, 4, 8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(compression_antennas=(1, 0)), r"compression_antennas must be a positive integer, got 0"),
        (dict(snr_antennas=-2), r"snr_antennas must be a positive integer, got -2"),
        (dict(compression_pilots=(10, 0)), r"compression_pilots must be a positive integer, got 0"),
        (dict(snr_pilots=2.5), r"snr_pilots must be a positive integer, got 2.5"),
    ],
)
def test_grid_non_positive_counts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MimoGrid(**kwargs)


def test_grid_snr_antennas_too_large():
    with pytest.raises(ValueError, match=r"snr_antennas 13 exceeds the complex latent size ceil\(d_tx/2\) = 12 \(d_tx = 24\)"):
        study_runs(MimoGrid(snr_antennas=13), 24)


_SMALL = dict(latents="synthetic", latents_options=dict(n_train=200, n_test=50, d_tx=24, d_rx=16, seed=0), seeds=(1,))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(snr_antennas=13), r"snr_antennas 13 exceeds"),
        (dict(flops_antennas=(2, 14)), r"flops_antennas 14 exceeds the complex latent size ceil\(d_tx/2\) = 12"),
        (dict(flops_pilots=21), r"per_class=21 exceeds the size of class"),
        (dict(compression_antennas=(1, 16)), r"compression_antennas \[16\] exceed"),
        (dict(compression_pilots=(10, 25)), r"per_class=25 exceeds the size of class \d+, which has 20 samples"),
        (dict(snr_pilots=30), r"per_class=30 exceeds the size of class"),
    ],
)
def test_run_fails_before_writing_anything(kwargs, message, tmp_path):
    """An impossible grid fails before the first task, leaving no output folder behind."""
    out = tmp_path / "study"
    settings = dict(compression_antennas=(1, 4), compression_pilots=(10,), snr_antennas=4, snr_pilots=10, flops_pilots=10)
    grid = MimoGrid(**_SMALL, **{**settings, **kwargs})
    with pytest.raises(ValueError, match=message):
        run_mimo_study(grid, out, progress=False, figures=False)
    assert not out.exists()
