"""Equilibria per second of the semantic interference game: batched solve_game vs one instance at a time.

For Q interfering pairs (default 4, 8, 16, 32) this script draws B random game instances and times
``semalign.multiuser.solve_game`` on all B in one call, for:

* the fixed-eigenmode game (Gauss-Seidel and Jacobi), against a straightforward reference written
  here: a plain NumPy loop over the instances that reduces each one to its eigenmode game (SVD of
  the direct channels and of the alignment matrices, leakage gains |u_qi^H H_qr v_rj|^2) and runs
  per-pair Gauss-Seidel sweeps with a bisection semantic water-filling, to the same tolerance;
* the full-MIMO game (Gauss-Seidel and Jacobi) on a reduced set (it is much heavier), against a loop
  calling ``solve_game`` on one instance at a time (B = 1).

Throughput is equilibria per second (instances / wall time); the ratio is batched / reference. Both
sides must reach the same equilibrium: the script prints the largest absolute difference of the
per-pair payoffs and of the stream powers (fixed-eigenmode; powers read off the batched covariances
along the reference's own eigenmodes) or of the MSEs and transmit covariances (full-MIMO), and the
fraction of instances that converged on each side.

Note the batched call returns more than the reference computes (precoders, Wiener decoders, MSEs,
Nash gaps and the full-MIMO gap diagnostic); its time includes all of it.

Instances: channels CN(0, 1) on the direct links and CN(0, alpha) on the cross links, white noise
sigma^2, unit power per pair, alignment matrices with a decaying spectrum (0.6^i), m = d = 6 latent
dims so k = min(antennas, d) streams carry and the rest is truncation.

Usage: python benchmarks/bench_game.py [--pairs 4,8,16,32] [--instances 64] [--antennas 4]
       [--repeats 3] [--mimo-pairs 4,8,16,32] [--mimo-instances 16] [--threads 1] [--device cpu|cuda]
       [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings

import numpy as np
import torch

from semalign.multiuser import InterferenceNetwork, solve_game

LATENT_DIM = 6


# ---- instances ------------------------------------------------------------------------------------


def _crandn(generator: torch.Generator, *shape: int) -> torch.Tensor:
    real = torch.randn(shape, generator=generator, dtype=torch.float64)
    imag = torch.randn(shape, generator=generator, dtype=torch.float64)
    return torch.complex(real, imag) / 2**0.5


def make_network(seed: int, b: int, q: int, antennas: int, alpha: float, sigma2: float, device: str) -> InterferenceNetwork:
    """B random networks of Q pairs (the generator of tests/multiuser/conftest.py, with m = d = 6)."""
    g = torch.Generator().manual_seed(seed)
    a = _crandn(g, b, q, LATENT_DIM, LATENT_DIM) * torch.as_tensor(0.6 ** np.arange(LATENT_DIM))
    h = _crandn(g, b, q, q, antennas, antennas)
    eye = torch.eye(q, dtype=torch.bool)[None, :, :, None, None]
    h = torch.where(eye, h, h * alpha**0.5)
    r0 = sigma2 * torch.eye(antennas, dtype=torch.complex128).expand(b, q, antennas, antennas)
    return InterferenceNetwork(a.to(device), h.to(device), r0.to(device), torch.ones(b, q, device=device))


def single(network: InterferenceNetwork, i: int) -> InterferenceNetwork:
    s = slice(i, i + 1)
    return InterferenceNetwork(network.alignment[s], network.channels[s], network.noise[s], network.power[s])


# ---- the straightforward reference (fixed-eigenmode game, one instance at a time) ---------------------


def bisection_water_filling(w: np.ndarray, lam: np.ndarray, power: float) -> np.ndarray:
    """p_i = [nu sqrt(w_i / lambda_i) - 1 / lambda_i]^+ with sum_i p_i = P, nu by bisection."""
    usable = (w > 0) & (lam > 0)
    if not usable.any():
        return np.zeros_like(w)
    root = np.sqrt(w[usable] / lam[usable])
    inv = 1.0 / lam[usable]
    low, high = 0.0, (power + inv.sum()) / root.sum()  # at `high` every mode is on: sum p >= P
    for _ in range(200):
        mid = 0.5 * (low + high)
        if np.maximum(mid * root - inv, 0.0).sum() > power:
            high = mid
        else:
            low = mid
        if high - low <= 1e-15 * high:
            break
    p = np.zeros_like(w)
    p[usable] = np.maximum(0.5 * (low + high) * root - inv, 0.0)
    return p


def reference_instance(alignment, channels, noise, power, tolerance, max_iterations):
    """Solve one instance's fixed-eigenmode game with per-pair Gauss-Seidel sweeps (NumPy).

    alignment (Q, m, d), channels (Q, Q, n_R, n_T), noise (Q, n_R, n_R), power (Q,).
    Returns (powers (Q, k), payoffs (Q,), tx modes (Q, n_T, k), sweeps, converged).
    """
    q_pairs = alignment.shape[0]
    direct = channels[np.arange(q_pairs), np.arange(q_pairs)]  # H_qq
    u, s, vh = np.linalg.svd(direct)
    s_a = np.linalg.svd(alignment, compute_uv=False)
    k = min(s.shape[-1], s_a.shape[-1])
    u, v = u[..., :k], vh.conj().transpose(0, 2, 1)[..., :k]
    weights, truncation = s_a[:, :k] ** 2, (s_a[:, k:] ** 2).sum(-1)
    gains0 = s[:, :k] ** 2
    # g[q, r, i, j] = |u_qi^H H_qr v_rj|^2, zero on the direct links.
    leak = np.abs(u.conj().transpose(0, 2, 1)[:, None] @ channels @ v[None]) ** 2
    leak[np.arange(q_pairs), np.arange(q_pairs)] = 0.0
    n = np.einsum("qai,qab,qbi->qi", u.conj(), noise, u).real
    p = np.zeros((q_pairs, k))
    converged, sweeps = False, 0
    while sweeps < max_iterations:
        change = 0.0
        for q in range(q_pairs):
            lam = gains0[q] / (n[q] + np.einsum("rij,rj->i", leak[q], p))
            new = bisection_water_filling(weights[q], lam, power[q])
            change = max(change, np.linalg.norm(new - p[q]) / max(1.0, np.linalg.norm(p[q])))
            p[q] = new
        sweeps += 1
        if change < tolerance:
            converged = True
            break
    lam = gains0 / (n + np.einsum("qrij,rj->qi", leak, p))
    payoff = (weights / (1 + lam * p)).sum(-1) + truncation
    return p, payoff, v, sweeps, converged


def run_reference(data, tolerance, max_iterations):
    return [reference_instance(*(x[i] for x in data), tolerance, max_iterations) for i in range(data[0].shape[0])]


# ---- timing ----------------------------------------------------------------------------------------------


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, repeats: int, device: str):
    times, result = [], None
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        result = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def solve(network, variant, method, tolerance, max_iterations):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # non-convergence is counted and printed instead
        return solve_game(network, variant=variant, method=method, tolerance=tolerance, max_iterations=max_iterations)


def bench_eigenmode(q, args) -> list[dict]:
    net = make_network(1000 + q, args.instances, q, args.antennas, args.alpha, args.noise, args.device)
    b = net.n_instances
    data = [t.cpu().numpy() for t in (net.alignment, net.channels, net.noise, net.power)]
    ref_time, ref = timed(lambda: run_reference(data, args.tolerance, args.max_iterations), args.reference_repeats, "cpu")
    ref_p = np.stack([r[0] for r in ref])
    ref_payoff = np.stack([r[1] for r in ref])
    ref_v = np.stack([r[2] for r in ref])
    ref_conv = np.array([r[4] for r in ref])
    ref_sweeps = np.array([r[3] for r in ref])
    rows = []
    for method in ("gauss-seidel", "jacobi"):
        solve(single(net, 0), "fixed-eigenmode", method, args.tolerance, args.max_iterations)  # warm-up
        t, eq = timed(lambda: solve(net, "fixed-eigenmode", method, args.tolerance, args.max_iterations), args.repeats, args.device)
        cov = eq.covariances.cpu().numpy()
        powers = np.einsum("bqai,bqac,bqci->bqi", ref_v.conj(), cov, ref_v).real  # v_i^H Q_q v_i
        rows.append(
            dict(
                variant="fixed-eigenmode",
                method=method,
                pairs=q,
                instances=b,
                batched_s=t,
                batched_eq_per_s=b / t,
                reference="numpy loop (GS, bisection WF)",
                reference_instances=b,
                reference_s=ref_time,
                reference_eq_per_s=b / ref_time,
                ratio=(b / t) / (b / ref_time),
                batched_converged=float(eq.converged.float().mean()),
                reference_converged=float(ref_conv.mean()),
                batched_iterations_mean=float(eq.iterations.double().mean()),
                reference_iterations_mean=float(ref_sweeps.mean()),
                max_abs_payoff_diff=float(np.abs(eq.payoff.cpu().numpy() - ref_payoff).max()),
                max_abs_power_diff=float(np.abs(powers - ref_p).max()),
            )
        )
    return rows


def bench_mimo(q, args) -> list[dict]:
    net = make_network(2000 + q, args.mimo_instances, q, args.antennas, args.alpha, args.noise, args.device)
    b = net.n_instances
    rows = []
    for method in ("gauss-seidel", "jacobi"):
        solve(single(net, 0), "full-mimo", method, args.tolerance, args.max_iterations)  # warm-up
        t, eq = timed(lambda: solve(net, "full-mimo", method, args.tolerance, args.max_iterations), args.repeats, args.device)
        ref_time, ones = timed(
            lambda: [solve(single(net, i), "full-mimo", method, args.tolerance, args.max_iterations) for i in range(b)],
            args.reference_repeats,
            args.device,
        )
        mse_one = torch.cat([e.mse for e in ones])
        cov_one = torch.cat([e.covariances for e in ones])
        conv_one = torch.cat([e.converged for e in ones])
        it_one = torch.cat([e.iterations for e in ones])
        rows.append(
            dict(
                variant="full-mimo",
                method=method,
                pairs=q,
                instances=b,
                batched_s=t,
                batched_eq_per_s=b / t,
                reference="solve_game one by one (B=1)",
                reference_instances=b,
                reference_s=ref_time,
                reference_eq_per_s=b / ref_time,
                ratio=ref_time / t,
                batched_converged=float(eq.converged.float().mean()),
                reference_converged=float(conv_one.float().mean()),
                batched_iterations_mean=float(eq.iterations.double().mean()),
                reference_iterations_mean=float(it_one.double().mean()),
                max_abs_payoff_diff=float((eq.mse - mse_one).abs().max()),
                max_abs_power_diff=float((eq.covariances - cov_one).abs().max()),
            )
        )
    return rows


# ---- output ----------------------------------------------------------------------------------------------


HEADER = ("variant", "schedule", "Q", "B", "batched eq/s", "reference eq/s", "ratio", "conv b/r", "iters b/r", "max |payoff diff|", "max |power diff|")


def format_row(r: dict) -> tuple[str, ...]:
    return (
        r["variant"],
        r["method"],
        str(r["pairs"]),
        str(r["instances"]),
        f"{r['batched_eq_per_s']:.1f}",
        f"{r['reference_eq_per_s']:.1f}",
        f"{r['ratio']:.2f}x",
        f"{r['batched_converged']:.2f}/{r['reference_converged']:.2f}",
        f"{r['batched_iterations_mean']:.1f}/{r['reference_iterations_mean']:.1f}",
        f"{r['max_abs_payoff_diff']:.1e}",
        f"{r['max_abs_power_diff']:.1e}",
    )


def print_table(rows: list[dict]) -> None:
    cells = [HEADER] + [format_row(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    for n, c in enumerate(cells):
        print("  ".join(x.rjust(w) if i >= 2 else x.ljust(w) for i, (x, w) in enumerate(zip(c, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="4,8,16,32", help="fixed-eigenmode pair counts Q (comma separated)")
    parser.add_argument("--instances", type=int, default=64, help="instances B per batched call (fixed-eigenmode)")
    parser.add_argument("--antennas", type=int, default=4, help="n_T = n_R")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each batched call (median)")
    parser.add_argument("--reference-repeats", type=int, default=None, help="timed repeats of each reference loop (default: --repeats)")
    parser.add_argument("--mimo-pairs", default="4,8,16,32", help="full-MIMO pair counts Q ('' to skip)")
    parser.add_argument("--mimo-instances", type=int, default=16, help="instances B for full-MIMO (a reduced set: it is heavier)")
    parser.add_argument("--alpha", type=float, default=0.05, help="relative power of the cross channels")
    parser.add_argument("--noise", type=float, default=0.1, help="white noise power sigma^2 per receive antenna")
    parser.add_argument("--tolerance", type=float, default=1e-8)
    parser.add_argument("--max-iterations", type=int, default=500)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: the work is tiny batched linear algebra, and on a loaded "
        "2-core machine OpenMP barriers between 2 threads make it many times slower; 0 = torch's default)",
    )
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.reference_repeats is None:
        args.reference_repeats = args.repeats
    pairs = [int(x) for x in args.pairs.split(",") if x.strip()]
    mimo_pairs = [int(x) for x in args.mimo_pairs.split(",") if x.strip()]
    print(
        f"torch {torch.__version__}, numpy {np.__version__}, threads {torch.get_num_threads()}, device {args.device}, "
        f"{platform.processor() or platform.machine()}; antennas {args.antennas}, alpha {args.alpha}, noise {args.noise}, "
        f"tolerance {args.tolerance:g}, max iterations {args.max_iterations}",
        flush=True,
    )
    rows: list[dict] = []
    start = time.perf_counter()
    for q in pairs:
        rows += bench_eigenmode(q, args)
        for r in rows[-2:]:
            print("  " + "  ".join(format_row(r)), flush=True)
    for q in mimo_pairs:
        rows += bench_mimo(q, args)
        for r in rows[-2:]:
            print("  " + "  ".join(format_row(r)), flush=True)
    total = time.perf_counter() - start
    print()
    print("reference: fixed-eigenmode = plain NumPy loop over instances (per-pair Gauss-Seidel, bisection water-filling);")
    print("           full-mimo = solve_game called on one instance at a time (B=1). ratio = batched / reference eq/s.")
    print("diffs: fixed-eigenmode = per-pair payoff and stream powers vs the NumPy reference;")
    print("       full-mimo = per-pair MSE and transmit covariances vs one-by-one.")
    print()
    print_table(rows)
    agree = all(r["max_abs_payoff_diff"] < 1e-6 and r["max_abs_power_diff"] < 1e-6 for r in rows)
    print(f"\nsame equilibrium (all diffs < 1e-6): {'yes' if agree else 'NO'}; total {total:.1f} s")
    if args.out:
        meta = dict(
            torch=torch.__version__,
            numpy=np.__version__,
            threads=torch.get_num_threads(),
            instances=args.instances,
            mimo_instances=args.mimo_instances,
            device=args.device,
            python=sys.version.split()[0],
            antennas=args.antennas,
            alpha=args.alpha,
            noise=args.noise,
            tolerance=args.tolerance,
            repeats=args.repeats,
            reference_repeats=args.reference_repeats,
            total_s=total,
        )
        with open(args.out, "w") as f:
            json.dump(dict(meta=meta, rows=rows), f, indent=2)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
