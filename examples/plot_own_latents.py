"""
Your own latents from a file
============================

semalign does not need to know your encoders: all it needs is two agents' latent vectors of the
same samples, in the same order, with the samples' class labels. Save them to an ``.npz`` (or
``.safetensors``, or ``.pt``) file and ``load_latents("file", path=...)`` turns the file into a
:class:`~semalign.LatentPair` that every estimator, sweep and study accepts.

Here the "own" encoders are two of the digits zoo (a 32-dimensional tanh MLP and a 48-dimensional
tanh CNN, rather than the default pair); we write their latents to a file as plain NumPy arrays,
read the file back, and align the two agents over a 4 x 4 MIMO channel at several SNRs.
"""

# %%
# Write the latents as plain arrays
# ---------------------------------
# The *joint* layout holds three arrays: ``tx`` ``(n, d_tx)``, ``rx`` ``(n, d_rx)`` (real numbers,
# row i of both describing the same sample) and ``labels`` ``(n,)`` (integer class ids >= 0).
# Optional string entries name the encoders and the data set. On loading, the file is split into
# train and test by a seeded, stratified 80/20 split. (The *split* layout, with ``train_tx``,
# ``train_rx``, ``train_labels``, ``test_tx``, ``test_rx``, ``test_labels``, keeps your own split;
# :func:`semalign.latents.save_latents` writes it from a pair.)
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import semalign
from semalign.tasks import accuracy, mse, train_classifier

SEED = 42
zoo = semalign.load_latents("digits", tx="mlp32-tanh", rx="cnn48-tanh")
tx = np.concatenate([zoo.train.tx.numpy(), zoo.test.tx.numpy()])  # what your encoder A produced
rx = np.concatenate([zoo.train.rx.numpy(), zoo.test.rx.numpy()])  # what your encoder B produced
labels = np.concatenate([zoo.train.labels.numpy(), zoo.test.labels.numpy()])

workdir = tempfile.TemporaryDirectory(prefix="semalign-own-latents-")  # removed at the end
folder = Path(workdir.name)
path = folder / "my_agents.npz"
np.savez(
    path,
    tx=tx,
    rx=rx,
    labels=labels,
    tx_encoder="agent-A",
    rx_encoder="agent-B",
    dataset="my-digits",
)
print(
    f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB): tx {tx.shape}, rx {rx.shape}, labels {labels.shape}"
)

# %%
# Load the file
# -------------
# The loader checks shapes, sample counts and labels, and records where the pair came from in its
# metadata. (A path ending in ``.npz`` can be passed directly as the source, too.)
pair = semalign.load_latents("file", path=path)
print(
    f"{pair.tx_encoder} -> {pair.rx_encoder} on {pair.dataset}: d_tx = {pair.d_tx}, d_rx = {pair.d_rx}"
)
print(
    f"train {len(pair.train)}, test {len(pair.test)}; layout {pair.metadata['layout']}, split {pair.metadata['split']}"
)

# %%
# Fit and evaluate
# ----------------
# Pilots: 30 per class. One linear ADMM fit handles several SNRs at once: pass a batch of channels
# ``(b, N, N)`` (here the same channel repeated) and one SNR per configuration; ``transmit`` then
# returns one estimate per configuration. The receiver's classifier, trained on agent B's clean
# training latents, scores every estimate.
snrs = [-10.0, -5.0, 0.0, 5.0, 10.0, 20.0, 30.0]
n_antennas = 4
pilots = semalign.select_pilots(pair.train, 30, seed=SEED)
h = semalign.channel_for_seed(SEED, n_rx=n_antennas, n_tx=n_antennas)
batch = h.expand(len(snrs), n_antennas, n_antennas)
head = train_classifier(pair.train.rx, pair.train.labels, seed=SEED)
clean = accuracy(head, pair.test.rx, pair.test.labels)

curves = {}
for awareness in ("aware", "unaware"):
    model = semalign.LinearSemanticTransceiver(
        channel=batch, snr_db=snrs, awareness=awareness, seed=SEED
    )
    model.fit(pair.train.tx[pilots], pair.train.rx[pilots])
    # One estimate per configuration: (b, n, d_rx).
    y_hat = model.transmit(pair.test.tx, generator=torch.Generator().manual_seed(SEED))
    curves[awareness] = [accuracy(head, y, pair.test.labels) for y in y_hat]
    print(
        f"{awareness:8s} accuracy",
        " ".join(f"{a:.2f}" for a in curves[awareness]),
        "| MSE",
        " ".join(f"{mse(y, pair.test.rx):.2f}" for y in y_hat),
    )
print(f"compression factor {model.compression_factor(pair.d_tx):.1f} %, clean accuracy {clean:.3f}")

# %%
# The figure
# ----------
# Channel-aware fitting (the channel and its noise are known when the transceiver is designed)
# against channel-unaware fitting (designed for an ideal identity channel, then sent over the real
# one), with the clean ceiling dotted.
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for awareness, acc in curves.items():
    ax.plot(snrs, acc, marker="o", label=f"linear ADMM, {awareness}")
ax.axhline(clean, color="black", linestyle=":", label="clean ceiling")
ax.set(
    xlabel="SNR (dB)",
    ylabel="receiver accuracy",
    ylim=(0, 1.02),
    title=f"{pair.tx_encoder} → {pair.rx_encoder} from {path.name}, N = {n_antennas}",
)
ax.legend(loc="lower right")
plt.show()

workdir.cleanup()  # the temporary folder and the file go
