"""Synthetic agents: class-structured latents seen through two different random nonlinear maps.

Generative model, for a sample of class ``c``:

* semantic variable ``z = mu_c + class_spread * e``, ``z`` in R^semantic_dim, with class means
  ``mu_c ~ N(0, I)`` and ``e ~ N(0, I)`` (the "meaning" both agents observe);
* each agent ``a`` (tx, rx) sees it through its own one-hidden-layer random network
  ``x_a = W2_a tanh(W1_a z + b1_a) + noise * n_a``, hidden width ``hidden_dim``, ``n_a ~ N(0, I)``,
  pre-activation standard deviation ``gain`` (how nonlinear the maps are);
* semantic proximity ``p``: ``(W1_rx, b1_rx) = p (W1_tx, b1_tx) + sqrt(1 - p^2) (independent draw)``,
  so both first layers have the same distribution for every ``p``. At ``p = 1`` the agents share
  their hidden features and (when ``d_tx >= hidden_dim``) one latent is a linear function of the
  other up to noise; at ``p = 0`` their features are unrelated nonlinear views of ``z``.
  The read-out weights ``W2_tx``, ``W2_rx`` are always independent.

Scales: ``W1`` is drawn so pre-activations have standard deviation about ``gain``; ``W2`` is rescaled (on a fixed
calibration sample) so every agent's noiseless latent coordinates have mean variance 1. ``noise`` is
therefore a per-coordinate noise standard deviation relative to the signal.

Randomness: three independent ``torch.Generator`` streams derived from ``seed`` (parameters, train
samples, test samples), so the test set does not change with ``n_train``. The global RNG is never
used. Samples are generated in fixed-size chunks (memory stays bounded at any ``n``); the paper's
size, 60,000 samples at 384 -> 768, takes about a second on two CPU cores.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from semalign._checks import check_positive_int
from semalign.latents.types import LatentPair, LatentSplit

DATASET = "synthetic"
_CHUNK = 8192  # samples per generation chunk; part of the stream layout, so keep it fixed
_CALIBRATION = 4096  # samples used to normalise each agent's output scale
_STREAMS = {"params": 0, "train": 1, "test": 2}


def _generator(seed: int, stream: str) -> torch.Generator:
    """A CPU generator for one named stream, derived from ``seed`` (streams are independent)."""
    state = np.random.SeedSequence([seed, _STREAMS[stream]]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return value


def _check_nonnegative(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _check_device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError, TypeError) as err:
        raise ValueError(f"device {device!r} is not usable here ({err}); expected e.g. 'cpu' or 'cuda'") from err
    return dev


def _agent_params(gen: torch.Generator, semantic_dim: int, hidden_dim: int, d_out: int, z_scale: float, gain: float):
    """First-layer weights/bias and read-out of one agent (read-out not yet scale-normalised)."""
    # Var(W1 z) ~= gain^2 per hidden unit; the bias shifts units off-centre by ~gain / 2.
    w1 = torch.randn(hidden_dim, semantic_dim, generator=gen) * (gain / (math.sqrt(semantic_dim) * z_scale))
    b1 = (0.5 * gain) * torch.randn(hidden_dim, generator=gen)
    w2 = torch.randn(d_out, hidden_dim, generator=gen) / math.sqrt(hidden_dim)
    return w1, b1, w2


def _semantic(gen: torch.Generator, labels: torch.Tensor, means: torch.Tensor, spread: float) -> torch.Tensor:
    return means[labels] + spread * torch.randn(len(labels), means.shape[1], generator=gen)


def synthetic_latents(
    n_train: int = 10_000,
    n_test: int = 2_000,
    d_tx: int = 384,
    d_rx: int = 768,
    n_classes: int = 10,
    semantic_dim: int = 32,
    proximity: float = 0.5,
    noise: float = 0.1,
    seed: int = 0,
    device: str | torch.device = "cpu",
    *,
    hidden_dim: int = 256,
    class_spread: float = 1.5,
    gain: float = 2.0,
) -> LatentPair:
    """Draw two agents' latents of the same synthetic class-structured data (model: module docstring).

    Args:
        n_train, n_test: samples per split (each split is class-balanced, in random order).
        d_tx, d_rx: latent dimensions of the transmitter and receiver agents.
        n_classes: number of classes (at most ``n_train`` and ``n_test``).
        semantic_dim: dimension of the shared semantic variable ``z``.
        proximity: in [0, 1]; 1 = shared hidden features (easily alignable), 0 = unrelated maps.
        noise: per-coordinate observation noise std, relative to unit signal variance (>= 0).
        seed: non-negative integer; the same arguments and seed give the same latents.
        device: where the returned tensors live (draws are made on CPU, so results do not depend
            on the device up to floating-point rounding of the matrix products).
        hidden_dim: hidden width of each agent's random map.
        class_spread: within-class standard deviation of ``z`` (class means have unit variance);
            larger means more class overlap (harder downstream task).
        gain: standard deviation of the hidden pre-activations; larger saturates ``tanh`` more,
            making the maps more nonlinear and the two agents harder to align linearly.

    Returns:
        :class:`LatentPair`: train ``tx (n_train, d_tx)``, ``rx (n_train, d_rx)`` float32, labels
        int64 in ``0..n_classes-1``; likewise test. Encoder names ``"synthetic-tx-d{d_tx}-s{seed}"``
        and ``"synthetic-rx-d{d_rx}-p{proximity}-s{seed}"``, ``dataset="synthetic"``, metadata with
        every generator setting.
    """
    n_train = check_positive_int("n_train", n_train)
    n_test = check_positive_int("n_test", n_test)
    d_tx = check_positive_int("d_tx", d_tx)
    d_rx = check_positive_int("d_rx", d_rx)
    n_classes = check_positive_int("n_classes", n_classes)
    semantic_dim = check_positive_int("semantic_dim", semantic_dim)
    hidden_dim = check_positive_int("hidden_dim", hidden_dim)
    proximity = _check_fraction("proximity", proximity)
    noise = _check_nonnegative("noise", noise)
    class_spread = _check_nonnegative("class_spread", class_spread)
    gain = _check_nonnegative("gain", gain)
    if gain == 0:
        raise ValueError("gain must be > 0 (a zero gain makes every latent constant), got 0.0")
    if isinstance(seed, bool) or int(seed) != seed or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    if n_classes > min(n_train, n_test):
        raise ValueError(
            f"n_classes={n_classes} exceeds the smallest split (n_train={n_train}, n_test={n_test}); "
            "every class needs at least one sample in each split"
        )
    dev = _check_device(device)

    # ---- parameters (one stream, drawn in a fixed order) ----
    gen = _generator(seed, "params")
    means = torch.randn(n_classes, semantic_dim, generator=gen)
    z_scale = math.sqrt(1.0 + class_spread**2)  # per-coordinate std of z, so W1 z has unit variance
    w1_tx, b1_tx, w2_tx = _agent_params(gen, semantic_dim, hidden_dim, d_tx, z_scale, gain)
    w1_ind, b1_ind, w2_rx = _agent_params(gen, semantic_dim, hidden_dim, d_rx, z_scale, gain)
    # Mixing with the same weight keeps the receiver's first layer distributed like the transmitter's.
    mix = math.sqrt(max(0.0, 1.0 - proximity**2))
    w1_rx, b1_rx = proximity * w1_tx + mix * w1_ind, proximity * b1_tx + mix * b1_ind
    # Normalise each read-out so the noiseless latent has mean per-coordinate variance 1.
    calib_labels = torch.randint(n_classes, (_CALIBRATION,), generator=gen)
    z_cal = _semantic(gen, calib_labels, means, class_spread)
    for w1, b1, w2 in ((w1_tx, b1_tx, w2_tx), (w1_rx, b1_rx, w2_rx)):
        signal = torch.tanh(z_cal @ w1.T + b1) @ w2.T
        w2 /= signal.var(dim=0).mean().sqrt()
    params = [t.to(dev) for t in (w1_tx, b1_tx, w2_tx, w1_rx, b1_rx, w2_rx)]
    w1_tx, b1_tx, w2_tx, w1_rx, b1_rx, w2_rx = params

    def draw(stream: str, n: int) -> LatentSplit:
        g = _generator(seed, stream)
        # Class-balanced labels in random order.
        labels = (torch.arange(n) % n_classes)[torch.randperm(n, generator=g)]
        tx = torch.empty(n, d_tx, dtype=torch.float32, device=dev)
        rx = torch.empty(n, d_rx, dtype=torch.float32, device=dev)
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            z = _semantic(g, labels[start:stop], means, class_spread).to(dev)
            noise_tx = torch.randn(stop - start, d_tx, generator=g).to(dev)
            noise_rx = torch.randn(stop - start, d_rx, generator=g).to(dev)
            tx[start:stop] = torch.addmm(noise_tx, torch.tanh(torch.addmm(b1_tx, z, w1_tx.T)), w2_tx.T, alpha=1.0,
                                         beta=noise)  # fmt: skip
            rx[start:stop] = torch.addmm(noise_rx, torch.tanh(torch.addmm(b1_rx, z, w1_rx.T)), w2_rx.T, alpha=1.0,
                                         beta=noise)  # fmt: skip
        return LatentSplit(tx, rx, labels.to(dev))

    train, test = draw("train", n_train), draw("test", n_test)
    settings = {
        "n_train": n_train, "n_test": n_test, "d_tx": d_tx, "d_rx": d_rx, "n_classes": n_classes,
        "semantic_dim": semantic_dim, "hidden_dim": hidden_dim, "proximity": proximity, "noise": noise,
        "class_spread": class_spread, "gain": gain, "seed": seed, "device": str(dev),
    }  # fmt: skip
    metadata = {"source": "synthetic", "generator": "z=mu_c+spread*e; x=W2 tanh(W1 z+b1)+noise*n", **settings}
    return LatentPair(
        train,
        test,
        tx_encoder=f"synthetic-tx-d{d_tx}-s{seed}",
        rx_encoder=f"synthetic-rx-d{d_rx}-p{proximity:g}-s{seed}",
        dataset=DATASET,
        metadata=metadata,
    )
