"""The estimator contract, checked on every registered method of every setting (single link,
federated downlink, interference game): fit returns self, NotFittedError before fit, transmit
reproducible with a generator and without one, the global RNG untouched, bad input named, saved
estimators transmit the same after loading, and hyper-parameters set after construction take
effect at the next fit."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import pytest
import torch

import semalign
from semalign.latents import load_latents
from semalign.link.channel import rayleigh_channel
from semalign.methods import registered

N_TRAIN, N_TEST = 300, 60


@functools.lru_cache(maxsize=None)
def _pair(seed: int, d_rx: int):
    return load_latents("synthetic", n_train=N_TRAIN, n_test=N_TEST, d_tx=12, d_rx=d_rx, seed=seed, hidden_dim=8, semantic_dim=4)


def _channels(batch: int | None = None) -> torch.Tensor:
    return rayleigh_channel(2, 2, generator=torch.Generator().manual_seed(7), batch=batch)


@dataclass(frozen=True)
class Setting:
    """How one setting's estimators are built, fitted and used in these tests."""

    make: Callable  # (entry, **overrides) -> estimator
    fit: Callable  # estimator -> estimator (what fit returned)
    transmit: Callable  # (estimator, **kwargs) -> estimates (a tensor or a list of tensors)
    bad_fits: tuple  # ((call estimator -> None, argument name in the message), ...)


def _single_link() -> Setting:
    pair = _pair(0, 10)
    x, y = pair.train.tx, pair.train.rx
    options = {"neural": dict(epochs=2)}

    def make(entry, **overrides):
        return entry.create(**{"channel": _channels(), "snr_db": 10.0, "seed": 3, **options.get(entry.name, {}), **overrides})

    nan = x.clone()
    nan[0, 0] = float("nan")
    bad = (
        (lambda est: est.fit(nan, y), "x contains 1 NaN"),
        (lambda est: est.fit(x, y[:-1]), "x and y must have the same number of samples"),
        (lambda est: est.fit(x[0], y), "x must have shape"),
    )
    return Setting(make, lambda est: est.fit(x, y), lambda est, **kw: est.transmit(pair.test.tx, **kw), bad)


def _federated() -> Setting:
    pairs = [_pair(0, 10), _pair(0, 6)]  # the same seed: the same samples, the AP's latents are tx
    ap, users = pairs[0].train.tx, [p.train.rx for p in pairs]

    def make(entry, **overrides):
        base = {"rounds": 3} if entry.estimator is semalign.FederatedDownlink else {}
        return entry.create(**{"channels": _channels(batch=2), "snr_db": 10.0, "channel_uses": 2, "seed": 3, **base, **overrides})

    nan = ap.clone()
    nan[1, 1] = float("inf")
    bad = (
        (lambda est: est.fit(nan, users), "ap_latents contains 1 NaN"),
        (lambda est: est.fit(ap, [users[0], users[1][:-1]]), "user_latents[1] has"),
        (lambda est: est.fit(ap[0], users), "ap_latents must have shape"),
        (lambda est: est.fit(ap, users[:1]), "user_latents must hold one"),
    )
    return Setting(make, lambda est: est.fit(ap, users), lambda est, **kw: est.transmit(pairs[0].test.tx, **kw), bad)


def _game() -> Setting:
    pairs = [_pair(1, 8), _pair(2, 6)]
    xs = [p.test.tx for p in pairs]

    def make(entry, **overrides):
        return entry.create(**{"n_antennas": 2, "channel_uses": 2, "snr_db": 10.0, "pilots_per_class": 10, "seeds": (4, 5), "max_iter": 40, **overrides})

    nan = xs[0].clone()
    nan[2, 3] = float("nan")
    bad = (
        (lambda est: est.fit([pairs[0], "not a pair"]), "pairs must be a non-empty sequence of LatentPair"),
        (lambda est: est.fit(pairs).transmit([nan, xs[1]]), "xs[0] contains 1 NaN"),
        (lambda est: est.fit(pairs).transmit([xs[0], xs[1][:-1]]), "every pair must send the same number"),
        (lambda est: est.fit(pairs).transmit([xs[0][0], xs[1]]), "xs[0] must have shape"),
        (lambda est: est.fit(pairs).transmit(xs[:1]), "xs must be a sequence of one"),
    )
    return Setting(make, lambda est: est.fit(pairs), lambda est, **kw: est.transmit(xs, **kw), bad)


SETTINGS = {"single-link": _single_link, "federated": _federated, "game": _game}
ENTRIES = registered()


@pytest.fixture(params=ENTRIES, ids=[f"{e.setting}:{e.name}" for e in ENTRIES])
def case(request):
    entry = request.param
    return entry, SETTINGS[entry.setting]()


def _same(a, b) -> bool:
    if isinstance(a, list):
        return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))
    return torch.equal(a, b)


def _close(a, b) -> bool:
    if isinstance(a, list):
        return all(torch.allclose(x, y) for x, y in zip(a, b))
    return torch.allclose(a, b)


def test_every_setting_has_registered_methods():
    assert {e.setting for e in ENTRIES} == {"single-link", "federated", "game"}
    assert len({(e.setting, e.name) for e in ENTRIES}) == len(ENTRIES) == 15


def test_fit_returns_self_and_transmit_is_reproducible(case):
    entry, setting = case
    estimator = setting.make(entry)
    assert setting.fit(estimator) is estimator
    first = setting.transmit(estimator, generator=torch.Generator().manual_seed(11))
    again = setting.transmit(estimator, generator=torch.Generator().manual_seed(11))
    assert _same(first, again)
    other = setting.transmit(estimator, generator=torch.Generator().manual_seed(12))
    assert not _same(first, other)  # the generator is really used
    assert _same(setting.transmit(estimator), setting.transmit(estimator))  # without one: the seed's stream


def test_not_fitted_before_fit(case):
    entry, setting = case
    estimator = setting.make(entry)
    with pytest.raises(semalign.NotFittedError, match="is not fitted yet; call fit"):
        setting.transmit(estimator)
    with pytest.raises(semalign.NotFittedError):
        estimator.save("never-written")


def test_global_rng_is_untouched(case):
    entry, setting = case
    estimator = setting.make(entry)
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    setting.fit(estimator)
    setting.transmit(estimator)
    setting.transmit(estimator, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)


def test_bad_input_names_the_argument(case):
    entry, setting = case
    for call, message in setting.bad_fits:
        with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
            call(setting.make(entry))


def test_save_and_load_transmit_the_same(case, tmp_path):
    entry, setting = case
    estimator = setting.fit(setting.make(entry))
    folder = estimator.save(tmp_path / "saved")
    assert (folder / "estimator.json").is_file() and (folder / "tensors.safetensors").is_file()
    loaded = semalign.load(folder)
    assert type(loaded) is type(estimator) and loaded.get_params().keys() == estimator.get_params().keys()
    generator = lambda: torch.Generator().manual_seed(21)  # noqa: E731
    assert _same(setting.transmit(loaded, generator=generator()), setting.transmit(estimator, generator=generator()))
    assert _same(setting.transmit(loaded), setting.transmit(estimator))
    with pytest.raises(ValueError, match="not a saved semalign estimator"):
        semalign.load(tmp_path)


def test_parameters_set_after_construction_take_effect_at_fit(case):
    entry, setting = case
    changed = setting.make(entry)
    changed.snr_db = 30.0  # set after construction: used by the next fit
    reference = setting.make(entry, snr_db=30.0)
    a = setting.transmit(setting.fit(changed), generator=torch.Generator().manual_seed(2))
    b = setting.transmit(setting.fit(reference), generator=torch.Generator().manual_seed(2))
    assert _close(a, b)
    assert changed.get_params()["snr_db"] == 30.0
    with pytest.raises(ValueError, match="unknown parameter"):
        changed.set_params(snr=3)
    assert changed.set_params(snr_db=0.0) is changed and changed.snr_db == 0.0
