"""Slowdown of one fit beside a busy process: semalign's thread settings against torch's defaults.

Times, in one run, one paper-size linear ADMM fit (n = 42,000 synthetic pilots, 384 -> 768, N = 8,
20 iterations, widely linear) in a fresh process, idle and beside one CPU-bound process (a Python
busy loop pinned to nothing, so it takes a core as any other job would), for:

  1. semalign's settings: what ``import semalign`` chooses (intra-op threads capped at the usable
     cores, OpenMP threads sleep while waiting: ``OMP_WAIT_POLICY=PASSIVE``);
  2. torch's defaults: every core, spinning OpenMP threads (``OMP_WAIT_POLICY`` as torch leaves it);
  3. one thread.

Each measurement is the median of ``--repeats`` fits after one warm-up fit, in a process started
for that setting (the OpenMP wait policy is read once, when torch starts its threads). Prints every
time and the slowdown ratios busy / idle; the target is semalign's slowdown at most 2.5x.

Usage: python benchmarks/bench_contention.py [--repeats 3] [--n 42000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, os, statistics, sys, time
settings = json.loads(sys.argv[1])
policy = os.environ.get("OMP_WAIT_POLICY", "(unset)")  # as torch's OpenMP runtime will read it
if settings["semalign"]:
    import semalign  # its import sets the thread policy before torch starts its threads
import torch
if settings["threads"]:
    torch.set_num_threads(settings["threads"])
from semalign import LinearSemanticTransceiver, channel_for_seed
g = torch.Generator().manual_seed(0)
n = settings["n"]
mix = torch.randn(384, 384, generator=g) / 384 ** 0.5
x = torch.randn(n, 384, generator=g) @ mix
y = torch.cat([x, x @ torch.randn(384, 384, generator=g) / 20], 1) + 0.1 * torch.randn(n, 768, generator=g)
h = channel_for_seed(0, 8, 8)
times = []
for k in range(settings["repeats"] + 1):
    start = time.perf_counter()
    LinearSemanticTransceiver(h, snr_db=20.0, iterations=20).fit(x, y)
    times.append(time.perf_counter() - start)
print(json.dumps({"seconds": statistics.median(times[1:]), "threads": torch.get_num_threads(),
                  "wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)") if settings["semalign"] else policy}))
"""

SETTINGS = {
    "semalign": {"semalign": True, "threads": None, "env": {}},
    "torch defaults": {"semalign": False, "threads": None, "env": {"OMP_WAIT_POLICY": None}},
    "one thread": {"semalign": True, "threads": 1, "env": {}},
}


#: The busy neighbour: a Python loop (one core), or a torch job with torch's default threads (as
#: another semalign process would be without semalign's settings).
BUSY = {
    "python": "while True: pass",
    "torch": "import torch\na = torch.randn(600, 600)\nwhile True: a = torch.tanh(a @ a / 600)",
}


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "SEMALIGN_THREADS", "OMP_NUM_THREADS")}


def child_time(name: str, repeats: int, n: int) -> dict:
    setting = SETTINGS[name]
    env = _clean_env()
    env.update({k: v for k, v in setting["env"].items() if v is not None})
    payload = json.dumps({"semalign": setting["semalign"], "threads": setting["threads"], "repeats": repeats, "n": n})
    out = subprocess.run([sys.executable, "-c", CHILD, payload], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=42_000)
    parser.add_argument("--busy", choices=sorted(BUSY), default="python", help="the busy neighbour (default: a Python loop)")
    args = parser.parse_args()
    print(f"busy neighbour: {args.busy} ({BUSY[args.busy]!r})")
    print(f"cores: {os.cpu_count()}; one ADMM fit n = {args.n}, 384 -> 768, N = 8, 20 iterations; median of {args.repeats}")
    results = {}
    for name in SETTINGS:
        idle = child_time(name, args.repeats, args.n)
        busy_process = subprocess.Popen([sys.executable, "-c", BUSY[args.busy]], env=_clean_env())
        try:
            time.sleep(0.5)
            busy = child_time(name, args.repeats, args.n)
        finally:
            busy_process.kill()
            busy_process.wait()
        results[name] = (idle, busy)
        print(
            f"{name:15s} threads {idle['threads']}, OMP_WAIT_POLICY {idle['wait_policy']:8s}: "
            f"idle {idle['seconds']:7.2f} s, beside a busy process {busy['seconds']:7.2f} s, "
            f"slowdown {busy['seconds'] / idle['seconds']:5.2f}x"
        )
    ours, torch_default = results["semalign"], results["torch defaults"]
    print(f"semalign beside a busy process is {torch_default[1]['seconds'] / ours[1]['seconds']:.1f}x faster than torch's defaults there")
    print(f"target: semalign's slowdown <= 2.5x: {'met' if ours[1]['seconds'] / ours[0]['seconds'] <= 2.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
