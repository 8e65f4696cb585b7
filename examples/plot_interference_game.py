"""
The interference game and its convergence
=========================================

Several secondary semantic pairs -- each with its own transmitter and receiver encoders -- share one
MIMO interference channel. Each pair chooses its linear precoder and decoder to minimise its own
alignment MSE, given the interference the others cause: a game. Its best response has a closed
form (semantic water-filling on the interference-whitened channel), and the pairs take turns
updating:

* ``jacobi``: everybody updates at once from the last round's interference;
* ``gauss-seidel``: one pair after the other, each seeing the latest updates;
* ``async``: random wake-ups with stale measurements.

In the *fixed-eigenmode* game the directions are frozen to the direct channel's SVD and only powers
move; conditions C1 (rho(Gamma) < 1) and C2 (a contraction factor c < 1) certify a unique
equilibrium that every schedule reaches. The *full-MIMO* game lets the directions move too; it has
no such guarantee and may cycle under strong interference, which the equilibrium reports.
"""

# %%
# Three pairs from the digits zoo
# -------------------------------
import warnings

import matplotlib.pyplot as plt
import torch

import semalign

ENCODERS = [("mlp64", "cnn128"), ("cnn48-tanh", "mlp96-gelu"), ("mlp96-gelu", "mlp64")]
pairs = [semalign.load_latents("digits", tx=tx, rx=rx) for tx, rx in ENCODERS]
for q, pair in enumerate(pairs):
    print(f"pair {q}: {pair.tx_encoder} ({pair.d_tx}) -> {pair.rx_encoder} ({pair.d_rx})")

# %%
# Fit one network, then solve it with every variant and schedule
# ---------------------------------------------------------------
# ``fit`` learns each pair's alignment from its pilots (20 per class), draws the Rayleigh channels
# of every instance (here one seed, two channel draws) and solves the game of ``method``. The
# fitted network can then be solved again with other variants and schedules by ``design``:
# N = 2 antennas, T = 2 channel uses, SNR 0 dB and cross channels as strong as the direct ones.
game = semalign.SemanticInterferenceGame(
    n_antennas=2,
    channel_uses=2,
    snr_db=0.0,
    cross_gain_db=0.0,
    pilots_per_class=20,
    seeds=(27,),
    draws=2,
    max_iter=60,
).fit(pairs)
print(game.check_conditions().summary())

INSTANCE = 1  # the second channel draw
designs = {}
with warnings.catch_warnings():
    # A game that does not converge warns; here we plot it instead.
    warnings.simplefilter("ignore", RuntimeWarning)
    for variant in ("game-fixed-eigenmode", "game-full-mimo"):
        for schedule in ("jacobi", "gauss-seidel", "async"):
            designs[variant, schedule] = game.design(variant, schedule=schedule)
for (variant, schedule), eq in designs.items():
    state = "converged" if bool(eq.converged[INSTANCE]) else "did NOT converge"
    gap = float(eq.best_response_gap[INSTANCE].max())  # what a pair could still gain alone
    mse = [round(float(e) / p.d_rx, 2) for e, p in zip(eq.mse[INSTANCE], pairs)]  # per entry
    print(
        f"{variant:21s} {schedule:12s} {state} after {int(eq.iterations[INSTANCE])} updates; "
        f"Nash gap {gap:.1e}; MSE per latent entry {mse}"
    )

# %%
# Conditions against convergence over many channel draws
# ------------------------------------------------------
# For weak cross channels both conditions hold; as the cross gain grows they fail, without the
# fixed-eigenmode game necessarily failing to converge (the conditions are sufficient, not
# necessary). Ten draws per cross gain, T = 1, SNR 0 dB, Gauss-Seidel updates.
cross_gains = [-30.0, -20.0, -10.0, 0.0]
sweep = {}
for gain in cross_gains:
    g = semalign.SemanticInterferenceGame(
        n_antennas=2,
        channel_uses=1,
        snr_db=0.0,
        cross_gain_db=gain,
        pilots_per_class=20,
        seeds=(27,),
        draws=10,
    ).fit(pairs)
    report = g.check_conditions()
    sweep[gain] = (report.c1, report.c2, g.design_.iterations, g.design_.converged)
    print(
        f"cross gain {gain:+.0f} dB: C1 or C2 holds in {int(report.holds.sum())}/10 draws, "
        f"all converged: {bool(g.design_.converged.all())}, updates {g.design_.iterations.tolist()}"
    )

# %%
# The figure
# ----------
# Left: the fixed-point residual before each update for the chosen instance (log scale), every
# variant and schedule; a curve that stays flat is a game cycling. Right: C1 and C2 of every draw
# against the cross gain; a value below the dotted line certifies the draw. Under each gain: how
# many draws converged, and the most updates any needed.
fig, (ax_res, ax_cond) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
styles = {"game-fixed-eigenmode": "-", "game-full-mimo": "--"}
colors = {"jacobi": "C0", "gauss-seidel": "C1", "async": "C2"}
for (variant, schedule), eq in designs.items():
    steps = int(eq.iterations[INSTANCE]) + 1
    residual = eq.residuals[:steps, INSTANCE].clamp_min(1e-16)
    ax_res.plot(
        residual,
        styles[variant],
        color=colors[schedule],
        label=f"{variant.removeprefix('game-')}, {schedule}",
    )
ax_res.axhline(game.tol, color="gray", linestyle=":", label="tolerance")
ax_res.set(
    yscale="log",
    xlabel="update",
    ylabel="fixed-point residual",
    title="one instance: SNR 0 dB, cross gain 0 dB, T = 2",
)
ax_res.legend(fontsize=8)

for i, (gain, (c1, c2, iterations, converged)) in enumerate(sweep.items()):
    jitter = torch.linspace(-1.2, 1.2, len(c1))
    ax_cond.scatter(
        gain + jitter - 0.8, c1, marker="o", color="C0", label="C1: ρ(Γ)" if i == 0 else None
    )
    ax_cond.scatter(
        gain + jitter + 0.8, c2, marker="x", color="C3", label="C2: c" if i == 0 else None
    )
    ax_cond.annotate(
        f"{int(converged.sum())}/{len(converged)} converged\n≤ {int(iterations.max())} updates",
        (gain, 2e-3),
        ha="center",
        fontsize=8,
    )
ax_cond.axhline(1.0, color="black", linestyle=":", label="certified below")
ax_cond.set(
    yscale="log",
    ylim=(1e-3, 2e3),
    xticks=cross_gains,
    xlabel="cross gain (dB)",
    ylabel="condition value",
    title="fixed-eigenmode, Gauss-Seidel: 10 draws each",
)
ax_cond.legend(fontsize=8, loc="upper left")
plt.show()
