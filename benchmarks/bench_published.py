"""semalign against the published research code's designs, side by side, on identical data.

This file holds its own small implementation of the two published designs, written from their
description (including their defects), as plain PyTorch/SciPy functions:

(a) ``published_admm``: the single-link linear semantic precoder/decoder learned by ADMM
    (G step: decoder with the regulariser n sigma (1+j) I; F step: Sylvester equation solved by
    SciPy, with the full pilot products formed every iteration; Z step: power-ball projection;
    U step: dual ascent; 20 iterations, rho = 100, F_0 with CN(0, 2) entries; the receiver target is
    not centred and no mean is added back; the last F (not its projection Z) is transmitted with the
    decoder of the previous iterate; no noise at 0 dB).
(b) ``published_federated``: the federated downlink protocol (per-user G step with the
    regulariser n sigma (1+j) added to every entry of the matrix; AP F step as the average of the
    users' proximal solutions; 30 rounds, rho = 1, F_0 with CN(0, 1) entries; the last F is
    transmitted with the equalisers fitted to the previous F; no noise at 0 dB).

Each defect can be switched off on its own (``fixes=``), so the tables say what each one changes.

Both designs and semalign's run on identical latents (the embedded digits: the default
``load_latents("digits")`` pair for the single link, the AP and the four users of the federated
study for the downlink), identical channels (``channel_for_seed`` / ``rayleigh_channel`` with the
published channel variance 0.5), identical pilots and identical test-noise draws (one unit-variance
draw per configuration, scaled by each design's own noise level; the script checks that semalign's
transmissions add exactly this draw). Accuracy is the receiver's own classifier
(``semalign.tasks.train_classifier`` on the receiver's clean training latents, one per seed and
receiver), applied to the very estimates whose MSE is reported.

SNR conventions: the single link uses the published ``per-antenna`` convention
(sigma^2 = P / (N_t SNR)), the downlink the ``published-federated`` one (sigma^2 = P / (T^2 N_r SNR)).

Usage:
    python benchmarks/bench_published.py [--out benchmarks/results/published.parquet]
        [--seeds 27 42 100] [--antennas 2 4 8] [--link-snr -10 0 10 30] [--federated-snr 0 10 20]
        [--threads 1]

Prints markdown tables and writes one tidy Parquet row per (setting, variant, seed, configuration[,
user]) with the seeds and conventions in every row.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import scipy.linalg
import torch

import semalign
from semalign import FederatedDownlink, LinearSemanticTransceiver, Link, channel_for_seed, load_latents, rayleigh_channel, select_pilots
from semalign.tasks import accuracy, mse, train_classifier

#: The published code's channel entries are CN(0, 0.5).
PUBLISHED_CHANNEL_VARIANCE = 0.5
POWER = 1.0

#: Defects of the published single-link ADMM that ``published_admm(fixes=...)`` can switch off.
LINK_FIXES = ("regulariser", "output-mean", "feasible-precoder", "noise-at-0db")
#: Defects of the published federated protocol that ``published_federated(fixes=...)`` can switch off.
FEDERATED_FIXES = ("regulariser", "noise-at-0db", "feasible-precoder", "consensus")


# ---------------------------------------------------------------------------------------------
# Small helpers, column form (features x samples) as in the published code
# ---------------------------------------------------------------------------------------------
def pack(x: torch.Tensor, dtype=torch.complex64) -> torch.Tensor:
    """``(n, d)`` real -> ``(ceil(d/2), n)`` complex: first half real part, second half imaginary."""
    x = torch.as_tensor(x)
    if x.shape[1] % 2:
        x = torch.nn.functional.pad(x, (0, 1))
    h = x.shape[1] // 2
    return torch.complex(x[:, :h].double(), x[:, h:].double()).T.to(dtype)


def unpack(z: torch.Tensor, d: int) -> torch.Tensor:
    """``(p, n)`` complex -> ``(n, d)`` real ``[Re; Im]`` (float32)."""
    return torch.cat([z.real, z.imag], dim=0)[:d].T.to(torch.float32)


def prewhiten(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Whitened ``L^{-1}(V - mu)``, the Cholesky factor L of the sample covariance, and mu."""
    mu = v.mean(1, keepdim=True)
    chol = torch.linalg.cholesky(torch.cov(v))
    return torch.linalg.solve(chol, v - mu), chol, mu


def lift(h: torch.Tensor, uses: int) -> torch.Tensor:
    """I_T (x) H: the same channel on each of T channel uses (use-major symbols)."""
    return torch.block_diag(*([h] * uses))


def project(c: torch.Tensor, power: float) -> torch.Tensor:
    """Projection on the Frobenius ball ||Z||_F^2 <= power."""
    energy = float((c.abs() ** 2).sum())
    return c if energy <= power else c * math.sqrt(power / energy)


def sylvester(a: torch.Tensor, b: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """X with A X + X B = Q (SciPy's Bartels-Stewart), back in the inputs' dtype."""
    out = scipy.linalg.solve_sylvester(a.numpy().astype(np.complex128), b.numpy().astype(np.complex128), q.numpy().astype(np.complex128))
    return torch.from_numpy(out).to(a.dtype)


def unit_noise(generator: torch.Generator, n: int, width: int) -> torch.Tensor:
    """``(n, width)`` complex64 CN(0, 1): real and imaginary parts N(0, 1/2), from one float32 draw."""
    parts = torch.randn((2, n, width), generator=generator, dtype=torch.float32)
    return torch.complex(parts[0], parts[1]) * math.sqrt(0.5)


def published_sigma(snr_db: float, reference_power: float, *, zero_db_is_noiseless: bool = True) -> float:
    """The published noise std: sqrt(reference power / SNR_lin), and none at 0 dB (``if snr:``)."""
    if zero_db_is_noiseless and snr_db == 0:
        return 0.0
    return math.sqrt(reference_power / 10 ** (snr_db / 10))


def _check_fixes(fixes, allowed) -> frozenset:
    unknown = set(fixes) - set(allowed)
    if unknown:
        raise ValueError(f"unknown fixes {sorted(unknown)}; expected some of {allowed}")
    return frozenset(fixes)


# ---------------------------------------------------------------------------------------------
# (a) the published single-link linear ADMM
# ---------------------------------------------------------------------------------------------
@dataclass
class PublishedLink:
    """A fitted published single-link design (column form)."""

    precoder: torch.Tensor  # (N_t, m): the matrix transmitted with
    decoder: torch.Tensor  # (p, N_r)
    channel: torch.Tensor  # (N_r, N_t)
    chol: torch.Tensor  # (m, m) transmitter whitening
    mu_x: torch.Tensor  # (m, 1)
    mu_y: torch.Tensor | None  # (p, 1) when the output mean is restored, else None
    sigma: float  # test noise std (0: noiseless)
    d_rx: int
    history: list = field(default_factory=list)  # training MSE per iteration (record_history)


def published_admm(
    x: torch.Tensor,
    y: torch.Tensor,
    h: torch.Tensor,
    snr_db: float,
    *,
    power: float = POWER,
    rho: float = 100.0,
    iterations: int = 20,
    seed: int = 0,
    fixes=(),
    record_history: bool = False,
    dtype=torch.complex64,
) -> PublishedLink:
    """The published single-link ADMM on pilots ``x`` ``(n, d_tx)``, ``y`` ``(n, d_rx)``.

    Iteration (order G, F, Z, U), with X the whitened packed pilots (m x n), Y the packed targets
    (p x n), n the number of pilots and sigma = sqrt((1/N_t)/SNR_lin):

        G = Y A^H (A A^H + n sigma (1+j) I)^{-1},  A = H F X
        F: (M^H M) F + F [rho n (X X^H)^{-1}] = [rho n (Z - U) + M^H Y X^H] (X X^H)^{-1},  M = G H
        Z = projection of F + U on ||Z||_F^2 <= P;   U = U + F - Z

    ``fixes`` switches defects off: ``"regulariser"`` (n sigma^2 I), ``"output-mean"`` (centre Y,
    add its mean back), ``"feasible-precoder"`` (transmit Z with a decoder refitted to it, instead
    of F with the decoder of the previous iterate), ``"noise-at-0db"`` (0 dB has noise).
    ``record_history`` evaluates the noisy chain on the training pilots after every iteration, as
    the published code logs (it costs as much again; it does not change the result).
    """
    fixes = _check_fixes(fixes, LINK_FIXES)
    h = h.to(dtype)
    n_rx, n_tx = h.shape
    xc = pack(x, dtype)
    xw, chol, mu_x = prewhiten(xc)
    yc = pack(y, dtype)
    mu_y = None
    if "output-mean" in fixes:
        mu_y = yc.mean(1, keepdim=True)
        yc = yc - mu_y
    n, m = xw.shape[1], xw.shape[0]
    sigma = published_sigma(snr_db, 1.0 / n_tx, zero_db_is_noiseless="noise-at-0db" not in fixes)
    eye = torch.eye(n_rx, dtype=dtype)
    loading = n * sigma**2 * eye if "regulariser" in fixes else n * sigma * (1 + 1j) * eye

    def g_step(f):
        a = h @ f @ xw
        return yc @ a.mH @ torch.linalg.inv(a @ a.mH + loading)

    gen = torch.Generator().manual_seed(seed)
    f = torch.complex(torch.randn((n_tx, m), generator=gen, dtype=torch.float64), torch.randn((n_tx, m), generator=gen, dtype=torch.float64)).to(dtype)
    z = torch.zeros_like(f)
    u = torch.zeros_like(f)
    rho_n = rho * n
    history = []
    history_gen = torch.Generator().manual_seed(seed + 1)
    for _ in range(iterations):
        g = g_step(f)
        mm = g @ h
        b_inv = torch.linalg.inv(xw @ xw.mH)  # the full pilot product, every iteration
        f = sylvester(mm.mH @ mm, rho_n * b_inv, (rho_n * (z - u) + mm.mH @ yc @ xw.mH) @ b_inv)
        z = project(f + u, power)
        u = u + f - z
        if record_history:
            r = h @ f @ xw
            r = r + sigma * unit_noise(history_gen, n, n_rx).T.to(dtype)
            history.append(float(((yc - g @ r).abs() ** 2).sum()) * 2 / (n * y.shape[1]))
    if "feasible-precoder" in fixes:
        f = z
        g = g_step(f)
    return PublishedLink(f, g, h, chol, mu_x, mu_y, sigma, y.shape[1], history)


def published_link_symbols(model: PublishedLink, x: torch.Tensor) -> torch.Tensor:
    """Channel symbols ``(N_t, n)`` for latents ``x`` ``(n, d_tx)``."""
    xw = torch.linalg.solve(model.chol, pack(x, model.chol.dtype) - model.mu_x)
    return model.precoder @ xw


def published_link_transmit(model: PublishedLink, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    """ŷ = dec(G (H F L^{-1}(c(x) - mu) + sigma w)) (+ mean when restored); ``noise``: unit CN(0, 1)
    draws ``(n, N_r)`` (``None``: noiseless)."""
    r = model.channel @ published_link_symbols(model, x)
    if noise is not None and model.sigma > 0:
        r = r + model.sigma * noise.T.to(r.dtype)
    out = model.decoder @ r
    if model.mu_y is not None:
        out = out + model.mu_y
    return unpack(out, model.d_rx)


# ---------------------------------------------------------------------------------------------
# (b) the published federated downlink protocol
# ---------------------------------------------------------------------------------------------
@dataclass
class PublishedDownlink:
    """A fitted published federated downlink (column form)."""

    precoder: torch.Tensor  # (T N_t, m_0): the matrix transmitted with
    decoders: list  # G_k (m_k, T N_r)
    channels: list  # I_T (x) H_k
    ap_whitening: tuple  # (L_0, mu_0)
    user_whitening: list  # (L_k, mu_k)
    sigma: float
    dims: list  # d_k


def published_federated(
    s: torch.Tensor,
    xs: list,
    channels: torch.Tensor,
    snr_db: float,
    *,
    channel_uses: int,
    power: float = POWER,
    rho: float = 1.0,
    rounds: int = 30,
    seed: int = 0,
    fixes=(),
    dtype=torch.complex64,
) -> PublishedDownlink:
    """The published federated protocol (shared pre-equaliser) on AP pilots ``s`` ``(n, d_0)`` and
    one ``(n, d_k)`` per user, channels ``(K, N_r, N_t)``.

    Round: broadcast Y_k = H_k F S_w (noiseless); user G step
    G_k = X_k,w Y_k^H (Y_k Y_k^H + n sigma (1+j) 1 1^T)^{-1} (the scalar is added to every entry);
    uplink M1_k = A_k^H A_k, M2_k = A_k^H X_k,w with A_k = G_k H_k; AP: F_k solves
    M1_k F + F (rho n B) = (rho n (Z - U) + M2_k S_w^H) B, B = (S_w S_w^H)^{-1}, F = mean_k F_k;
    Z = projection of F + U; U = U + F - Z. sigma = sqrt((1/N_r)/SNR_lin) / T.

    ``fixes``: ``"regulariser"`` (n sigma^2 I), ``"noise-at-0db"``, ``"feasible-precoder"``
    (transmit Z, users refit their equalisers to it, instead of F with equalisers of the previous
    F), ``"consensus"`` (the exact ADMM F step of the sum objective from the same messages:
    (sum_k M1_k) F + F (rho n B) = (rho n (Z - U) + sum_k M2_k S_w^H) B).
    """
    fixes = _check_fixes(fixes, FEDERATED_FIXES)
    k_users, n_rx, n_tx = channels.shape
    hs = [lift(channels[k].to(dtype), channel_uses) for k in range(k_users)]
    sw, l0, mu0 = prewhiten(pack(s, dtype))
    users = [prewhiten(pack(x, dtype)) for x in xs]
    n, m0 = sw.shape[1], sw.shape[0]
    sigma = published_sigma(snr_db, 1.0 / n_rx, zero_db_is_noiseless="noise-at-0db" not in fixes) / channel_uses
    width = channel_uses * n_rx
    if "regulariser" in fixes:
        loading = n * sigma**2 * torch.eye(width, dtype=dtype)
    else:
        loading = n * sigma * (1 + 1j) * torch.ones((width, width), dtype=dtype)  # broadcast onto every entry

    def g_steps(f):
        out = []
        for h, (xw, _, _) in zip(hs, users):
            y = h @ f @ sw
            out.append(xw @ y.mH @ torch.linalg.inv(y @ y.mH + loading))
        return out

    gen = torch.Generator().manual_seed(seed)
    f = (torch.complex(torch.randn((channel_uses * n_tx, m0), generator=gen), torch.randn((channel_uses * n_tx, m0), generator=gen)) * math.sqrt(0.5)).to(dtype)
    z = torch.zeros_like(f)
    u = torch.zeros_like(f)
    rho_n = rho * n
    decoders = None
    for _ in range(rounds):
        decoders = g_steps(f)
        messages = []
        for g, h, (xw, _, _) in zip(decoders, hs, users):
            a = g @ h
            messages.append((a.mH @ a, a.mH @ xw))
        b = torch.linalg.inv(sw @ sw.mH)  # recomputed for every step, as published
        if "consensus" in fixes:
            m1 = sum(msg[0] for msg in messages)
            m2_sh = sum(msg[1] @ sw.mH for msg in messages)
            f = sylvester(m1, rho_n * b, (rho_n * (z - u) + m2_sh) @ b)
        else:
            f = torch.stack([sylvester(m1, rho_n * b, (rho_n * (z - u) + m2 @ sw.mH) @ b) for m1, m2 in messages]).mean(0)
        z = project(f + u, power)
        u = u + f - z
    if "feasible-precoder" in fixes:
        f = z
        decoders = g_steps(f)
    return PublishedDownlink(f, decoders, hs, (l0, mu0), [(l, mu) for _, l, mu in users], sigma, [x.shape[1] for x in xs])


def published_federated_transmit(model: PublishedDownlink, s: torch.Tensor, noises: list | None) -> list:
    """x̂_k = dec(L_k G_k (H_k F s_w + sigma w_k) + mu_k) for every user; ``noises``: one unit
    CN(0, 1) draw ``(n, T N_r)`` per user (``None``: noiseless)."""
    l0, mu0 = model.ap_whitening
    sw = torch.linalg.solve(l0, pack(s, l0.dtype) - mu0)
    out = []
    for k, (g, h, (lk, muk), d) in enumerate(zip(model.decoders, model.channels, model.user_whitening, model.dims)):
        r = h @ model.precoder @ sw
        if noises is not None and model.sigma > 0:
            r = r + model.sigma * noises[k].T.to(r.dtype)
        out.append(unpack(lk @ (g @ r) + muk, d))
    return out


# ---------------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------------
LINK_VARIANTS = {
    # name: (implementation, fixes or semalign options)
    "published": ("published", ()),
    "published + MMSE regulariser": ("published", ("regulariser",)),
    "published + output mean": ("published", ("output-mean",)),
    "published + feasible precoder": ("published", ("feasible-precoder",)),
    "published + noise at 0 dB": ("published", ("noise-at-0db",)),
    "published, all fixed": ("published", LINK_FIXES),
    "semalign strictly linear": ("semalign", dict(processing="strictly-linear")),
    "semalign strictly linear, random start": ("semalign", dict(processing="strictly-linear", init="random")),
    "semalign widely linear": ("semalign", dict(processing="widely-linear")),
}
FEDERATED_VARIANTS = {
    "published": ("published", ()),
    "published + MMSE regulariser": ("published", ("regulariser",)),
    "published + noise at 0 dB": ("published", ("noise-at-0db",)),
    "published + feasible precoder": ("published", ("feasible-precoder",)),
    "published + consensus F step": ("published", ("consensus",)),
    "published, all fixed": ("published", FEDERATED_FIXES),
    "semalign federated-prox": ("semalign", dict(variant="federated-prox")),
    "semalign federated-admm, random start": ("semalign", dict(variant="federated-admm", random_start=True)),
    "semalign federated-admm": ("semalign", dict(variant="federated-admm")),
    "semalign federated-admm, widely linear": ("semalign", dict(variant="federated-admm", processing="widely-linear")),
}


def noise_seed(seed: int) -> int:
    """Seed of the test-noise draw of a channel seed (one draw shared by every variant)."""
    return 10_007 * seed + 1


def run_link(seeds, antennas, snrs, pilots_per_class: int, rows: list) -> None:
    pair = load_latents("digits")
    train, test = pair.train, pair.test
    n_test = test.tx.shape[0]
    for seed in seeds:
        head = train_classifier(train.rx, train.labels, seed=seed)
        clean = accuracy(head, test.rx, test.labels)
        idx = select_pilots(train, pilots_per_class, seed=seed)
        x, y = train.tx[idx], train.rx[idx]
        for n_ant in antennas:
            h = channel_for_seed(seed, n_ant, n_ant, channel_variance=PUBLISHED_CHANNEL_VARIANCE)
            w = unit_noise(torch.Generator().manual_seed(noise_seed(seed)), n_test, n_ant)
            for snr in snrs:
                base = dict(
                    setting="single-link", dataset=pair.dataset, tx_encoder=pair.tx_encoder, rx_encoder=pair.rx_encoder,
                    seed=seed, noise_seed=noise_seed(seed), n_tx=n_ant, n_rx=n_ant, channel_uses=1, snr_db=float(snr),
                    snr_convention="per-antenna", channel_variance=PUBLISHED_CHANNEL_VARIANCE, power=POWER, rho=100.0,
                    iterations=20, n_pilots=int(idx.numel()), pilots_per_class=pilots_per_class, user="", clean_accuracy=clean,
                )  # fmt: skip
                for name, (impl, options) in LINK_VARIANTS.items():
                    start = time.perf_counter()
                    if impl == "published":
                        model = published_admm(x, y, h, snr, seed=seed, fixes=options)
                        fit_s = time.perf_counter() - start
                        y_hat = published_link_transmit(model, test.tx, w)
                        energy = float((published_link_symbols(model, test.tx).abs() ** 2).sum(0).mean())
                        sigma2 = model.sigma**2
                        processing = "strictly-linear"
                    else:
                        model = LinearSemanticTransceiver(
                            h, snr_db=snr, power=POWER, rho=100.0, iterations=20, snr_convention="per-antenna",
                            channel_variance=PUBLISHED_CHANNEL_VARIANCE, seed=seed, **options,
                        ).fit(x, y)  # fmt: skip
                        fit_s = time.perf_counter() - start
                        y_hat = model.transmit(test.tx, generator=torch.Generator().manual_seed(noise_seed(seed)))
                        sigma2 = float(model.noise_variance()[0])
                        # semalign's transmission adds exactly sigma * w: the same draw as the published design's.
                        added = model.received(test.tx, generator=torch.Generator().manual_seed(noise_seed(seed)))[0] - model.received(test.tx, noise=False)[0]
                        gap = float((added - math.sqrt(sigma2) * w.to(added.dtype)).abs().max())
                        assert gap <= 1e-5 * max(1.0, math.sqrt(sigma2)), f"semalign's test noise differs from the shared draw by {gap}"
                        energy = float((model.symbols(test.tx).abs() ** 2).sum(-1).mean())
                        processing = options["processing"]
                    rows.append({
                        **base, "implementation": impl, "variant": name, "processing": processing,
                        "fixes": ",".join(options) if impl == "published" else "", "noise_variance": float(sigma2),
                        "mse": mse(y_hat, test.rx), "accuracy": accuracy(head, y_hat, test.labels),
                        "tx_energy": energy, "fit_seconds": fit_s,
                    })  # fmt: skip


def federated_users():
    """The AP encoder and the users of semalign's federated study on the digits zoo."""
    from semalign.experiments.runs.federated import DIGITS_AP, DIGITS_USERS

    return DIGITS_AP, tuple(DIGITS_USERS)


def run_federated(seeds, snrs, n_ant: int, uses: int, rows: list) -> None:
    ap, users = federated_users()
    pairs = {u: load_latents("digits", tx=ap, rx=u) for u in users}
    first = pairs[users[0]]
    s_train, s_test = first.train.tx, first.test.tx
    for p in pairs.values():  # every user sees the same images as the AP
        assert torch.equal(p.train.tx, s_train) and torch.equal(p.train.labels, first.train.labels)
    xs = [pairs[u].train.rx for u in users]
    tests = [pairs[u].test.rx for u in users]
    n_test, k_users = s_test.shape[0], len(users)
    for seed in seeds:
        heads = [train_classifier(x, first.train.labels, seed=seed) for x in xs]
        cleans = [accuracy(hd, t, first.test.labels) for hd, t in zip(heads, tests)]
        # One Rayleigh draw per user, from the seed (the federated study's channels, at variance 0.5).
        channels = rayleigh_channel(n_ant, n_ant, generator=torch.Generator().manual_seed(seed), batch=k_users, channel_variance=PUBLISHED_CHANNEL_VARIANCE)
        gen = torch.Generator().manual_seed(noise_seed(seed))
        noises = [unit_noise(gen, n_test, uses * n_ant) for _ in range(k_users)]  # user after user
        f0_gen = torch.Generator().manual_seed(seed)
        m0 = (s_train.shape[1] + 1) // 2
        random_start = torch.complex(torch.randn((uses * n_ant, m0), generator=f0_gen), torch.randn((uses * n_ant, m0), generator=f0_gen)) * math.sqrt(0.5)
        for snr in snrs:
            link = dict(snr_db=float(snr), power=POWER, snr_convention="published-federated", channel_variance=PUBLISHED_CHANNEL_VARIANCE, channel_uses=uses)
            # The shared draw is what semalign's links add, user after user.
            check_gen = torch.Generator().manual_seed(noise_seed(seed))
            for k in range(k_users):
                lk = Link(channels[k], **link)
                added = lk.send(torch.zeros((n_test, uses * n_ant), dtype=torch.complex64), generator=check_gen)
                gap = float((added - math.sqrt(float(lk.noise_variance())) * noises[k]).abs().max())
                assert gap <= 1e-5, f"semalign's test noise differs from the shared draw by {gap}"
            base = dict(
                setting="federated", dataset=first.dataset, tx_encoder=ap, seed=seed, noise_seed=noise_seed(seed),
                n_tx=n_ant, n_rx=n_ant, channel_uses=uses, snr_db=float(snr), snr_convention="published-federated",
                channel_variance=PUBLISHED_CHANNEL_VARIANCE, power=POWER, rho=1.0, iterations=30,
                n_pilots=int(s_train.shape[0]), pilots_per_class=None,
            )  # fmt: skip
            for name, (impl, options) in FEDERATED_VARIANTS.items():
                start = time.perf_counter()
                if impl == "published":
                    model = published_federated(s_train, xs, channels, snr, channel_uses=uses, seed=seed, fixes=options)
                    fit_s = time.perf_counter() - start
                    estimates = published_federated_transmit(model, s_test, noises)
                    sigma2 = model.sigma**2
                    energy = float((model.precoder.abs() ** 2).sum())
                    processing, fixes = "strictly-linear", ",".join(options)
                else:
                    opts = dict(options)
                    start_matrix = random_start if opts.pop("random_start", False) else None
                    model = FederatedDownlink(channels, **link, rho=1.0, rounds=30, seed=seed, initial_precoder=start_matrix, **opts)
                    model.fit(s_train, xs)
                    fit_s = time.perf_counter() - start
                    estimates = model.transmit(s_test, generator=torch.Generator().manual_seed(noise_seed(seed)))
                    sigma2 = model.noise_variance()
                    energy = float((model.precoder_.abs() ** 2).sum())
                    processing, fixes = opts.get("processing", "strictly-linear"), ""
                for k, (u, y_hat) in enumerate(zip(users, estimates)):
                    rows.append({
                        **base, "implementation": impl, "variant": name, "processing": processing, "fixes": fixes,
                        "user": u, "rx_encoder": u, "clean_accuracy": cleans[k], "noise_variance": float(sigma2),
                        "mse": mse(y_hat, tests[k]), "accuracy": accuracy(heads[k], y_hat, first.test.labels),
                        "tx_energy": energy, "fit_seconds": fit_s,
                    })  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------
def _cell(mse_value: float, acc: float) -> str:
    return f"{mse_value:.3f} / {100 * acc:.1f}"


def markdown(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def tables(df: pl.DataFrame) -> str:
    out = []
    link = df.filter(pl.col("setting") == "single-link")
    if link.height:
        main = ["published", "semalign strictly linear", "semalign widely linear"]
        agg = link.group_by("n_tx", "snr_db", "variant").agg(pl.col("mse").mean(), pl.col("accuracy").mean(), pl.col("clean_accuracy").mean())
        seeds = sorted(link["seed"].unique())
        out.append(f"### Single link (digits {link['tx_encoder'][0]} -> {link['rx_encoder'][0]}, per-antenna SNR, channel variance 0.5, seeds {seeds}): test MSE / accuracy %")
        rows = []
        for (n, snr), g in sorted(agg.group_by("n_tx", "snr_db"), key=lambda t: t[0]):
            by = {r["variant"]: r for r in g.iter_rows(named=True)}
            rows.append([n, f"{snr:g}", *(_cell(by[v]["mse"], by[v]["accuracy"]) for v in main), f"{100 * by[main[0]]['clean_accuracy']:.1f}"])
        out.append(markdown(["N", "SNR dB", *main, "clean acc %"], rows))
        out.append("")
        variants = list(LINK_VARIANTS)
        agg = link.group_by("snr_db", "variant").agg(pl.col("mse").mean(), pl.col("accuracy").mean(), pl.col("tx_energy").mean())
        out.append("### Single link, each defect alone (mean over N and seeds): test MSE / accuracy % / energy per latent")
        rows = []
        for v in variants:
            g = {r["snr_db"]: r for r in agg.filter(pl.col("variant") == v).iter_rows(named=True)}
            rows.append([v, *(f"{_cell(g[s]['mse'], g[s]['accuracy'])} / {g[s]['tx_energy']:.2f}" for s in sorted(g))])
        out.append(markdown(["variant", *(f"{s:g} dB" for s in sorted(agg["snr_db"].unique()))], rows))
        out.append("")
    fed = df.filter(pl.col("setting") == "federated")
    if fed.height:
        seeds = sorted(fed["seed"].unique())
        users = fed["user"].unique(maintain_order=True).to_list()
        n, t = fed["n_tx"][0], fed["channel_uses"][0]
        agg = fed.group_by("snr_db", "variant").agg(pl.col("mse").mean(), pl.col("accuracy").mean(), pl.col("clean_accuracy").mean(), pl.col("tx_energy").mean())
        out.append(
            f"### Federated downlink (digits AP {fed['tx_encoder'][0]}, users {', '.join(users)}; {n}x{n}, T = {t}; published-federated SNR, "
            f"channel variance 0.5, seeds {seeds}): test MSE / accuracy % (mean over users and seeds) / ||F||^2 transmitted"
        )
        rows = []
        for v in FEDERATED_VARIANTS:
            g = {r["snr_db"]: r for r in agg.filter(pl.col("variant") == v).iter_rows(named=True)}
            rows.append([v, *(f"{_cell(g[s]['mse'], g[s]['accuracy'])} / {g[s]['tx_energy']:.2f}" for s in sorted(g))])
        clean = {r["snr_db"]: r["clean_accuracy"] for r in agg.iter_rows(named=True)}
        rows.append(["clean (no link)", *(f"0 / {100 * clean[s]:.1f}" for s in sorted(clean))])
        out.append(markdown(["variant", *(f"{s:g} dB" for s in sorted(agg["snr_db"].unique()))], rows))
        out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/published.parquet"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[27, 42, 100])
    parser.add_argument("--antennas", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--link-snr", type=float, nargs="+", default=[-10.0, 0.0, 10.0, 30.0])
    parser.add_argument("--federated-snr", type=float, nargs="+", default=[0.0, 10.0, 20.0])
    parser.add_argument("--pilots-per-class", type=int, default=100, help="single-link semantic pilots per class (the link runs' default)")
    parser.add_argument("--federated-antennas", type=int, default=2)
    parser.add_argument("--federated-channel-uses", type=int, default=2)
    parser.add_argument("--skip-link", action="store_true")
    parser.add_argument("--skip-federated", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the digits problems are small, and two threads only wait on each other)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"semalign {semalign.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows: list = []
    start = time.perf_counter()
    if not args.skip_link:
        run_link(args.seeds, args.antennas, args.link_snr, args.pilots_per_class, rows)
        print(f"single link: {time.perf_counter() - start:.1f} s", flush=True)
    mid = time.perf_counter()
    if not args.skip_federated:
        run_federated(args.seeds, args.federated_snr, args.federated_antennas, args.federated_channel_uses, rows)
        print(f"federated: {time.perf_counter() - mid:.1f} s", flush=True)
    df = pl.DataFrame(rows, infer_schema_length=None).with_columns(pl.lit(semalign.__version__).alias("semalign_version"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(args.out)
    print()
    print(tables(df))
    print(f"{df.height} rows -> {args.out}; total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
