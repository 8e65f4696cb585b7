"""Seed-to-generator derivation: the one place that turns a run's seed into random streams.

Every random draw of semalign takes a ``torch.Generator``; the streams below say which generator a
purpose uses, so that the same (seed, scenario) gives the same channel, pilots and noise to every
method. The arithmetic of each stream is fixed (changing it changes stored results: bump the
results version then).

Streams (``seed`` is the run's seed, ``draw`` a channel draw of the interference game):

=================== ============================== =====================================================
stream              seed of the generator          used for
=================== ============================== =====================================================
``channel``         seed                           the scenario channel (:func:`channel_for_seed`)
``init``            seed                           random starts, network weights, minibatch order
``transmit-noise``  seed + 1_000_003               an estimator's default ``transmit`` noise
``training-noise``  seed + 2                       channel noise while a neural model trains
``validation-noise`` seed + 3                      the fixed noise of a neural model's validation pass
``test-noise``      10_007 seed + 1                the studies' test noise, shared by every method
``game-channels``   1_000_003 seed + 7919 draw + 17 an interference-game instance's channels
``game-test``       10_007 seed + 131 draw + 1     an instance's test order and noise
``pilot-broadcast`` seed + 3_000_017               the First-K / Top-K downlink's noisy pilot broadcast
``pilots``          seed                           random semantic pilots per class
``classifier``      seed                           the receiver classifier's minibatch order
``csi``             seed + 4_000_037               the channel estimate a design knows (CSI error)
``channel-evolution`` seed + 5_000_011             a changing channel's innovations at test time
=================== ============================== =====================================================

Several streams take the bare seed (kept from 0.1, so results stay comparable); they draw
different kinds of numbers in different places. The pilot broadcast had the bare seed too until
0.2.0, so its noise repeated that seed's channel draws; it has its own stream since.
"""

from __future__ import annotations

import operator
from typing import Callable

import torch

_STREAMS: dict[str, Callable[[int, int], int]] = {
    "channel": lambda seed, draw: seed,
    "init": lambda seed, draw: seed,
    "transmit-noise": lambda seed, draw: seed + 1_000_003,
    "training-noise": lambda seed, draw: seed + 2,
    "validation-noise": lambda seed, draw: seed + 3,
    "test-noise": lambda seed, draw: 10_007 * seed + 1,
    "game-channels": lambda seed, draw: 1_000_003 * seed + 7919 * draw + 17,
    "game-test": lambda seed, draw: 10_007 * seed + 131 * draw + 1,
    "pilot-broadcast": lambda seed, draw: seed + 3_000_017,
    "pilots": lambda seed, draw: seed,
    "classifier": lambda seed, draw: seed,
    "csi": lambda seed, draw: seed + 4_000_037,
    "channel-evolution": lambda seed, draw: seed + 5_000_011,
}

#: The stream names :func:`stream_generator` accepts.
STREAMS: tuple[str, ...] = tuple(_STREAMS)


def check_seed(name: str, value) -> int:
    """``int(value)`` for an integer seed, else ``ValueError`` naming ``name`` and the value."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer seed, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer seed, got {value!r}") from None


def stream_seed(stream: str, seed: int, draw: int = 0) -> int:
    """The integer that seeds ``stream`` for ``seed`` (and ``draw``)."""
    if stream not in _STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; expected one of {', '.join(map(repr, STREAMS))}")
    return _STREAMS[stream](check_seed("seed", seed), check_seed("draw", draw))


def stream_generator(stream: str, seed: int, *, draw: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh generator of ``stream`` for ``seed`` (and ``draw``) on ``device``.

    Draws that must agree across devices (channels, test noise) use the default CPU generator and
    move the numbers: CUDA's generator gives other numbers for the same seed.
    """
    return torch.Generator(device=device).manual_seed(stream_seed(stream, seed, draw))
