"""Speed of the federated downlink fit, against a straightforward implementation and the data floor.

Times, in one run on the same synthetic latents:
  1. semalign's FederatedDownlink (federated-admm, strictly linear, in process: every per-round
     quantity from sufficient statistics formed once);
  2. a straightforward implementation of the same protocol, written below: every round forms the
     broadcast F S_w, each user's received pilots and their products over all n pilots;
  3. the floor: forming once, in float32, what the parties need from their pilots: each user's
     X_k^T X_k and X_k^T S, and the AP's S^T S.
Prints the three times, the ratios, and the largest differences between the two implementations'
precoders and test estimates (float rounding is expected, nothing more).

Sizes: "paper" (the federated paper: K = 4 users of 384, 768, 1024, 384 dims, AP 192, n = 42,500
pilots, T = 4, 4 x 4, 30 rounds) and "digits" (AP 64, users 128, 64, 128, 64, n = 1,200).
Usage: python benchmarks/bench_federated.py [--sizes paper digits] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from semalign.link.channel import channel_for_seed
from semalign.link.mimo import block_diagonal_channel, project_power_ball
from semalign.link.noise import noise_variance
from semalign.link.packing import pack_complex, unpack_complex
from semalign.link.whitening import fit_whitener
from semalign.multiuser.federated import FederatedDownlink

SIZES = {
    "paper": dict(ap=192, users=(384, 768, 1024, 384), n=42_500, channel_uses=4, antennas=4, rounds=30),
    "digits": dict(ap=64, users=(128, 64, 128, 64), n=1_200, channel_uses=4, antennas=4, rounds=30),
}
SNR_DB, RHO = 20.0, 1.0


def latents(cfg: dict, n: int, seed: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Correlated float32 latents: every party sees the same 64-dim source through its own map."""
    g = torch.Generator().manual_seed(seed)
    source = torch.randn(n, 64, generator=g)
    ap = torch.tanh(source @ torch.randn(64, cfg["ap"], generator=g) / 8) + 0.1 * torch.randn(n, cfg["ap"], generator=g)
    users = [torch.tanh(source @ torch.randn(64, d, generator=g) / 8) + 0.1 * torch.randn(n, d, generator=g) + 0.5 for d in cfg["users"]]
    return ap, users


def straightforward(ap: torch.Tensor, users: list[torch.Tensor], channels: torch.Tensor, sigma2: float, start: torch.Tensor, rounds: int, t: int):
    """The protocol as written: full pilot products every round (strictly linear, complex64)."""
    s_whitener = fit_whitener(pack_complex(ap), name="AP")
    s_white = s_whitener.whiten(pack_complex(ap)).mT  # (m_0, n)
    whiteners = [fit_whitener(pack_complex(x), name="user") for x in users]
    x_white = [w.whiten(pack_complex(x)).mT for w, x in zip(whiteners, users)]
    lifted = block_diagonal_channel(channels, t).to(torch.complex64)
    n = s_white.shape[1]
    f = start.clone()
    z, u = f.clone(), torch.zeros_like(f)

    def g_step(precoder):
        symbols = precoder @ s_white  # the broadcast F S_w
        decoders = []
        for h, xw in zip(lifted, x_white):
            y = h @ symbols
            gram = y @ y.mH
            loading = n * sigma2 + 1e-12 * torch.diagonal(gram).real.mean()
            decoders.append(torch.linalg.solve(gram + loading * torch.eye(gram.shape[0], dtype=gram.dtype), y @ xw.mH).mH)
        return decoders

    for _ in range(rounds):
        decoders = g_step(f)
        m1 = sum((g @ h).mH @ (g @ h) for g, h in zip(decoders, lifted))
        rhs = sum((g @ h).mH @ xw @ s_white.mH for g, h, xw in zip(decoders, lifted, x_white))  # M2 S_w^H from the full M2
        eye = torch.eye(f.shape[0], dtype=f.dtype)
        f = torch.linalg.solve((n - 1) * m1 + n * RHO * eye, rhs + n * RHO * (z - u))
        z = project_power_ball((f + u).unsqueeze(0), 1.0)[0]
        u = u + f - z
    return z, g_step(z), s_whitener, whiteners


def estimates(precoder, decoders, s_whitener, whiteners, channels, t, test_ap, dims):
    """Noiseless test estimates of every user, for comparing the two implementations."""
    lifted = block_diagonal_channel(channels, t).to(torch.complex64)
    white = s_whitener.whiten(pack_complex(test_ap)).mT
    out = []
    for h, g, w, d in zip(lifted, decoders, whiteners, dims):
        out.append(unpack_complex(w.colour((g @ h @ precoder @ white).mT), d))
    return out


def floor(ap: torch.Tensor, users: list[torch.Tensor]) -> None:
    """What the parties' statistics cost at least: X_k^T X_k, X_k^T S, S^T S in float32."""
    ap.mT @ ap
    for x in users:
        x.mT @ x
        x.mT @ ap


def timed(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def run(size: str, repeats: int) -> None:
    cfg = SIZES[size]
    ap, users = latents(cfg, cfg["n"])
    test_ap, test_users = latents(cfg, 500, seed=1)
    t, antennas, rounds = cfg["channel_uses"], cfg["antennas"], cfg["rounds"]
    channels = torch.stack([channel_for_seed(k, antennas, antennas) for k in range(len(users))])
    link = dict(snr_db=SNR_DB, channel_uses=t, rounds=rounds, rho=RHO)

    semalign_seconds, model = timed(lambda: FederatedDownlink(channels, **link).fit(ap, users), repeats)
    sigma2 = float(noise_variance(SNR_DB, power=1.0, n_tx=antennas, channel_uses=t))
    start = model._start((cfg["ap"] + 1) // 2, torch.complex64)
    simple_seconds, (z, decoders, s_whitener, whiteners) = timed(lambda: straightforward(ap, users, channels, sigma2, start, rounds, t), repeats)
    floor_seconds, _ = timed(lambda: floor(ap, users), repeats)

    ours = model.transmit(test_ap, noise=False)
    theirs = estimates(z, decoders, s_whitener, whiteners, channels, t, test_ap, cfg["users"])
    scale = max(float(e.abs().max()) for e in theirs)
    print(
        f"{size}: K = {len(users)} users {cfg['users']}, AP {cfg['ap']}, n = {cfg['n']}, T = {t}, {antennas}x{antennas}, "
        f"{rounds} rounds, torch threads {torch.get_num_threads()}, median of {repeats}"
    )
    print(f"  semalign fit        {semalign_seconds:8.2f} s")
    print(f"  straightforward     {simple_seconds:8.2f} s   ({simple_seconds / semalign_seconds:5.1f}x semalign's time)")
    print(f"  floor (statistics)  {floor_seconds:8.2f} s   (semalign = {semalign_seconds / floor_seconds:4.2f}x the floor; target <= 1.5x)")
    print(f"  max |precoder difference| {float((model.precoder_ - z).abs().max()):.2e} (||Z|| = {float(torch.linalg.matrix_norm(z)):.3f})")
    print(f"  max |estimate difference| {max(float((a - b).abs().max()) for a, b in zip(ours, theirs)):.2e} (estimates up to {scale:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for size in args.sizes:
        run(size, args.repeats)


if __name__ == "__main__":
    main()
