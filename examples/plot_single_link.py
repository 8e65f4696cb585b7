"""
Single-link alignment: accuracy against compression
===================================================

Two agents look at the same handwritten digits through different encoders: the transmitter's
latents are 64-dimensional, the receiver's 128-dimensional, and the two spaces do not match. A
semantic link learns a precoder at the transmitter and a decoder at the receiver so that, after a
noisy N x N MIMO channel, the receiver gets an estimate of *its own* latent of the same image, and
its own classifier still recognises the digit.

Here we fit the linear ADMM transceiver and the three feature-selection baselines (First-K, Top-K,
Eigen-K) for N = 1 ... 8 antennas at 20 dB, and plot the receiver's accuracy and the latent MSE
against the compression factor (how many channel symbols are sent per complex latent entry).
"""

# %%
# Load the latents
# ----------------
# ``load_latents("digits")`` returns a :class:`~semalign.LatentPair`: aligned train and test
# splits, each with the transmitter's latents ``tx``, the receiver's ``rx`` and the digit
# ``labels``. The encoders are trained once and cached (a few seconds the first time).
import matplotlib.pyplot as plt
import torch

import semalign
from semalign.tasks import accuracy, mse, train_classifier

SEED = 27
SNR_DB = 20.0
pair = semalign.load_latents("digits")
print(
    f"transmitter {pair.tx_encoder}: d_tx = {pair.d_tx}; receiver {pair.rx_encoder}: d_rx = {pair.d_rx}"
)
print(f"{len(pair.train)} training and {len(pair.test)} test images")

# %%
# Semantic pilots and the receiver's classifier
# ---------------------------------------------
# The link is learned from a few *semantic pilots*: images both agents have encoded, here 20 per
# digit class, chosen at random with a seed. The receiver judges every estimate with its own
# classifier, trained once on its clean training latents; on its clean test latents it reaches
# the ceiling no link can beat.
pilots = semalign.select_pilots(pair.train, 20, seed=SEED)
x_pilots, y_pilots = pair.train.tx[pilots], pair.train.rx[pilots]
head = train_classifier(pair.train.rx, pair.train.labels, seed=SEED)
clean = accuracy(head, pair.test.rx, pair.test.labels)
print(f"{len(pilots)} pilots; clean accuracy of the receiver's classifier: {clean:.3f}")

# %%
# Fit every method for N = 1 ... 8 antennas
# -----------------------------------------
# Every method gets the same channel for a given N (``channel_for_seed``: a complex Gaussian
# N x N matrix drawn from the seed) and the same test noise (a generator with a fixed seed).
# Each transceiver follows one contract: hyper-parameters in the constructor, ``fit(x, y)`` on
# the pilots, ``transmit(x)`` sends latents through the channel with noise and returns the
# receiver-space estimates.
methods = {
    "linear ADMM": lambda h: semalign.LinearSemanticTransceiver(
        channel=h, snr_db=SNR_DB, seed=SEED
    ),
    "First-K": lambda h: semalign.FirstKTransceiver(channel=h, snr_db=SNR_DB, seed=SEED),
    "Top-K": lambda h: semalign.TopKTransceiver(channel=h, snr_db=SNR_DB, seed=SEED),
    "Eigen-K": lambda h: semalign.EigenKTransceiver(channel=h, snr_db=SNR_DB, seed=SEED),
}
antennas = list(range(1, 9))
results = {name: {"zeta": [], "accuracy": [], "mse": []} for name in methods}
for n in antennas:
    h = semalign.channel_for_seed(SEED, n_rx=n, n_tx=n)
    for name, make in methods.items():
        model = make(h).fit(x_pilots, y_pilots)
        y_hat = model.transmit(pair.test.tx, generator=torch.Generator().manual_seed(SEED))
        results[name]["zeta"].append(model.compression_factor(pair.d_tx))
        results[name]["accuracy"].append(accuracy(head, y_hat, pair.test.labels))
        results[name]["mse"].append(mse(y_hat, pair.test.rx))

for name, r in results.items():
    print(f"{name:12s}", " ".join(f"{a:.2f}" for a in r["accuracy"]))

# %%
# Accuracy and MSE against the compression factor
# -----------------------------------------------
# The compression factor is zeta = 100 * N / ceil(d_tx / 2) %: with 64 real transmitter
# dimensions (32 complex entries), N = 8 antennas send a quarter of them per latent. The dotted
# line is the classifier on clean latents.
fig, (ax_acc, ax_mse) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
for name, r in results.items():
    ax_acc.plot(r["zeta"], r["accuracy"], marker="o", label=name)
    ax_mse.plot(r["zeta"], r["mse"], marker="o", label=name)
ax_acc.axhline(clean, color="black", linestyle=":", label="clean ceiling")
ax_acc.set(
    xlabel="compression factor ζ (%)",
    ylabel="receiver accuracy",
    title=f"digits, {SNR_DB:g} dB, N = 1 … 8",
)
ax_mse.set(
    xlabel="compression factor ζ (%)",
    ylabel="test MSE per latent entry",
    yscale="log",
    title="alignment error",
)
ax_acc.legend()
plt.show()
