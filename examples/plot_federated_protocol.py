"""
The federated downlink, message by message
==========================================

An access point (AP) with its own encoder serves several users, each with its own encoder and its
own MIMO channel. The AP holds one shared semantic pre-equaliser F, each user a local equaliser.
They are trained by a protocol of explicit messages in which no latent leaves its owner:

1. the AP broadcasts its precoded, whitened pilots F S over the air;
2. each user fits its MMSE equaliser to what it received;
3. each user sends back two matrices, A^H A and A^H X (A = G H: its equaliser times its channel;
   X: its own whitened pilot latents, projected onto the T N_t channel inputs, never sent as such);
4. the AP updates F from the users' messages (an exact consensus-ADMM step).

This example runs the protocol with ``record_messages=True``, lists what crossed the AP-user
boundary, and plots the training objective and the bytes per round, then each user's accuracy.
"""

# %%
# Three users and one AP on the digits images
# -------------------------------------------
# Every zoo encoder saw the same images in the same order, so the AP's latents (a 32-dimensional
# tanh MLP) and each user's latents are paired sample by sample. 50 pilots per class are shared.
from collections import defaultdict

import matplotlib.pyplot as plt
import torch

import semalign
from semalign.tasks import accuracy, train_classifier

SEED, SNR_DB = 27, 20.0
AP, USERS = "mlp32-tanh", ["mlp64", "cnn128", "cnn48-tanh"]
pairs = [semalign.load_latents("digits", tx=AP, rx=user) for user in USERS]
pilots = semalign.select_pilots(pairs[0].train, 50, seed=SEED)
ap_pilots = pairs[0].train.tx[pilots]  # stays at the AP
user_pilots = [pair.train.rx[pilots] for pair in pairs]  # each stays at its user
print(
    f"AP {AP}: {tuple(ap_pilots.shape)}; users:",
    ", ".join(f"{u} {tuple(x.shape)}" for u, x in zip(USERS, user_pilots)),
)

# %%
# Channels and the protocol
# -------------------------
# One 2 x 2 Rayleigh channel per user, T = 2 channel uses per latent: each AP latent (16 complex
# entries) becomes 4 channel symbols, a compression factor of 25 %.
channels = semalign.rayleigh_channel(
    2, 2, generator=torch.Generator().manual_seed(SEED), batch=len(USERS)
)
fed = semalign.FederatedDownlink(
    channels,
    snr_db=SNR_DB,
    channel_uses=2,
    variant="federated-admm",
    rounds=20,
    record_messages=True,
    seed=SEED,
).fit(ap_pilots, user_pilots)
print(f"{fed.n_rounds_} rounds, compression factor {fed.compression_factor(pairs[0].d_tx):.0f} %")

# %%
# What crossed the boundary
# -------------------------
# ``messages_`` holds every message: its round, sender, receiver, kind and tensors. The first round:
# the broadcast carries T N_t = 4 symbols per pilot; each user's reply is a 4 x 4 matrix and a
# 4 x n matrix (n pilots) -- the same size whatever the user's latent dimension, and no latent in
# clear.
for message in fed.messages_:
    if message.round == 0:
        shapes = ", ".join(
            f"{name} {tuple(t.shape)} {str(t.dtype).removeprefix('torch.')}"
            for name, t in message.payload.items()
        )
        route = f"{message.sender:>5} -> {message.receiver:<9}"
        print(f"round {message.round}: {route} {message.kind:<17} {shapes}: {message.bytes} bytes")
print(
    f"total: {fed.bytes_downlink_ / 1e6:.2f} MB downlink, {fed.bytes_uplink_ / 1e6:.2f} MB uplink, "
    f"{fed.channel_uses_} over-the-air channel uses for training"
)

down, up = defaultdict(int), defaultdict(int)
for message in fed.messages_:
    (down if message.sender == "ap" else up)[message.round] += message.bytes

# %%
# The published proximal variant, for comparison
# ----------------------------------------------
# ``federated-prox`` averages per-user proximal steps instead of solving the consensus step
# exactly; it exchanges the same messages.
prox = semalign.FederatedDownlink(
    channels, snr_db=SNR_DB, channel_uses=2, variant="federated-prox", rounds=20, seed=SEED
).fit(ap_pilots, user_pilots)

# %%
# Accuracy at every user
# ----------------------
# The AP sends its test latents; each user decodes its own estimate and classifies it with its own
# classifier (trained on its clean latents). First-K, which sends the AP's first whitened
# coordinates without a learned pre-equaliser, is the baseline.
first_k = semalign.FederatedFeatureBaseline(
    channels, method="first-k", snr_db=SNR_DB, channel_uses=2, seed=SEED
)
first_k.fit(ap_pilots, user_pilots)
heads = [train_classifier(pair.train.rx, pair.train.labels, seed=SEED) for pair in pairs]
scores = {
    "clean": [accuracy(head, pair.test.rx, pair.test.labels) for head, pair in zip(heads, pairs)]
}
for name, model in (("federated-admm", fed), ("federated-prox", prox), ("first-k", first_k)):
    # One estimate per user, each in that user's latent space.
    estimates = model.transmit(pairs[0].test.tx, generator=torch.Generator().manual_seed(SEED))
    scores[name] = [
        accuracy(head, y_hat, pair.test.labels)
        for head, y_hat, pair in zip(heads, estimates, pairs)
    ]
for name, values in scores.items():
    print(f"{name:15s}", " ".join(f"{v:.3f}" for v in values))

# %%
# The figure
# ----------
# Left: the training objective (sum over users of the whitened MSE, noise included) before each
# round's F step. Middle: bytes per round in each direction (the last broadcast sends the final
# precoder, after which the users refit their equalisers). Right: accuracy per user.
fig, (ax_obj, ax_bytes, ax_acc) = plt.subplots(1, 3, figsize=(14, 4), layout="constrained")
ax_obj.plot(
    range(len(fed.history_["objective"])),
    fed.history_["objective"],
    marker="o",
    label="federated-admm",
)
ax_obj.plot(
    range(len(prox.history_["objective"])),
    prox.history_["objective"],
    marker="s",
    label="federated-prox",
)
ax_obj.set(xlabel="round", ylabel="training objective", title="protocol objective")
ax_obj.legend()

rounds = sorted(down)
ax_bytes.bar(rounds, [down[r] / 1e3 for r in rounds], label="downlink (AP broadcast)")
ax_bytes.bar(
    rounds,
    [up[r] / 1e3 for r in rounds],
    bottom=[down[r] / 1e3 for r in rounds],
    label="uplink (user replies)",
)
ax_bytes.set(
    xlabel="round",
    ylabel="kB per round",
    title="message bytes (complex64)",
    ylim=(0, 1.35 * (down[0] + up[0]) / 1e3),
)
ax_bytes.legend(loc="upper center", ncols=2, fontsize=8)

width = 0.2
for i, name in enumerate(scores):
    ax_acc.bar([k + (i - 1.5) * width for k in range(len(USERS))], scores[name], width, label=name)
ax_acc.set_xticks(range(len(USERS)), USERS)
ax_acc.set(ylabel="user accuracy", ylim=(0, 1.25), title=f"{SNR_DB:g} dB, 2 x 2, T = 2")
ax_acc.legend(loc="upper center", ncols=2, fontsize=8)
plt.show()
