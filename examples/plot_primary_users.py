"""
Protecting a primary user
=========================

The secondary semantic pairs of the interference game share their band with a *primary* receiver
that must not be disturbed beyond a limit. ``pu_limit_db`` sets that limit relative to the primary
receiver's own noise energy over a latent's channel uses (0 dB: as much interference as noise),
and ``pu_protection`` says how the pairs keep to it:

* ``"individual"``: every pair has its own interference budget (a share of the limit), met inside
  its best response by pricing interference;
* ``"global"``: one budget for the sum over pairs, with one interference price found by bisection
  over whole game solves;
* ``"null"``: every pair sends nothing towards the primary receiver at all (null shaping,
  ``G F = 0``), whatever the limit.

This example sweeps the limit, and plots the pairs' accuracy and the interference the primary
receiver actually gets.
"""

# %%
# Two secondary pairs and one primary receiver
# --------------------------------------------
# N = 2 antennas per pair, T = 2 channel uses per latent, 20 dB, cross channels 10 dB weaker than
# the direct ones; the primary receiver's channels are as strong as the direct ones. One channel
# draw of one seed; 30 pilots per class. Each receiver judges its estimates with its own
# classifier, trained on its clean latents.
import math

import matplotlib.pyplot as plt
import torch

import semalign
from semalign.tasks import accuracy, train_classifier

SEED = 27
pairs = [
    semalign.load_latents("digits", tx="mlp64", rx="cnn128"),
    semalign.load_latents("digits", tx="cnn48-tanh", rx="mlp96-gelu"),
]
heads = [train_classifier(pair.train.rx, pair.train.labels, seed=SEED) for pair in pairs]
common = dict(
    n_antennas=2,
    channel_uses=2,
    snr_db=20.0,
    cross_gain_db=-10.0,
    primary_users=1,
    pilots_per_class=30,
    seeds=(SEED,),
    draws=1,
)


def evaluate(game):
    """Mean accuracy over pairs and instances, and the largest total interference the primary
    receiver gets over the instances (energy per latent)."""
    # Every pair sends its test set in its own random order (independent latents, as the game
    # assumes); the same generators then draw the receivers' noise.
    generators, orders = game.instance_orders(len(pairs[0].test))
    xs = [torch.stack([pair.test.tx[order[q]] for order in orders]) for q, pair in enumerate(pairs)]
    estimates = game.transmit(xs, generator=generators)
    # Per pair: (n, d_rx) for one instance, (instances, n, d_rx) for several; make it the latter.
    estimates = [e.reshape(len(orders), *e.shape[-2:]) for e in estimates]
    scores = [
        accuracy(heads[q], estimates[q][b], pair.test.labels[order[q]])
        for q, pair in enumerate(pairs)
        for b, order in enumerate(orders)
    ]
    # pu_interference: (instances, primary users, pairs); the primary receiver gets the sum.
    received = game.design_.pu_interference.sum(-1).amax()
    return sum(scores) / len(scores), float(received)


# %%
# No protection: the reference
# ----------------------------
# Without protection the pairs play the plain game; the primary receiver gets whatever they send.
free_accuracy, free_interference = evaluate(semalign.SemanticInterferenceGame(**common).fit(pairs))
# The limit at 0 dB is the primary receiver's noise energy per latent (no fit needed to know it).
zero_db = semalign.SemanticInterferenceGame(**common, pu_limit_db=0.0).pu_limit()
print(
    f"unprotected: accuracy {free_accuracy:.3f}, interference {free_interference / zero_db:.0f} x noise"
)

# %%
# Sweep the limit
# ---------------
# For every protection and limit: fit the game, transmit the test sets and measure.
# ``pu_limit()`` is the limit in energy per latent. The fixed-eigenmode game (the default
# ``method``) keeps each pair's directions on its direct channel's eigenmodes, so a budget can only
# be met by turning power down; the full-MIMO game can also steer its directions away from the
# primary receiver. We run a global budget with the fixed-eigenmode game and individual budgets
# with the full-MIMO game. (Individual budgets work with the fixed-eigenmode game too, power-down
# only like the global one, but their price search makes each fit take seconds.)
limits_db = [-20.0, -10.0, 0.0, 10.0]
variants = {
    "global, fixed-eigenmode": {"pu_protection": "global"},
    "individual, full-MIMO": {"pu_protection": "individual", "method": "game-full-mimo"},
}
curves = {}
for name, options in variants.items():
    curves[name] = {"accuracy": [], "interference": []}
    for limit_db in limits_db:
        game = semalign.SemanticInterferenceGame(**common, **options, pu_limit_db=limit_db)
        game.fit(pairs)
        acc, received = evaluate(game)
        curves[name]["accuracy"].append(acc)
        curves[name]["interference"].append(received)
        share = received / game.pu_limit()
        print(
            f"{name:28s} limit {limit_db:+4.0f} dB: accuracy {acc:.3f}, received {share:.3f} x the limit"
        )
null = semalign.SemanticInterferenceGame(**common, pu_protection="null").fit(pairs)
null_accuracy, null_interference = evaluate(null)
print(f"null shaping: accuracy {null_accuracy:.3f}, interference {null_interference:.1e} (zero)")


# %%
# The figure
# ----------
# Left: mean accuracy of the two pairs against the limit; null shaping and no protection do not
# depend on it. Right: the interference the primary receiver gets, relative to its noise, against
# the limit (the dotted diagonal); a budget is kept when its curve stays on or under the diagonal.
fig, (ax_acc, ax_int) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
for name, c in curves.items():
    ax_acc.plot(limits_db, c["accuracy"], marker="o", label=name)
    ax_int.plot(
        limits_db, [10 * math.log10(r / zero_db) for r in c["interference"]], marker="o", label=name
    )
ax_acc.axhline(null_accuracy, color="C3", linestyle="--", label="null shaping")
ax_acc.axhline(free_accuracy, color="gray", linestyle=":", label="no protection")
ax_acc.set(
    xlabel="primary user's limit (dB above its noise)",
    ylabel="mean accuracy of the pairs",
    title="what protection costs",
)
ax_acc.legend()
ax_int.plot(limits_db, limits_db, color="black", linestyle=":", label="limit")
ax_int.axhline(
    10 * math.log10(free_interference / zero_db),
    color="gray",
    linestyle="--",
    label="no protection",
)
ax_int.set(
    xlabel="primary user's limit (dB above its noise)",
    ylabel="received interference (dB above noise)",
    title="interference at the primary receiver",
)
ax_int.legend()
plt.show()
