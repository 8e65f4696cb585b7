"""
Imperfect channel knowledge and 3GPP channels
=============================================

The papers design every link for the channel the symbols then cross. A real transmitter knows an
*estimate* of it. Here the linear ADMM transceiver is designed on an estimate that misses a share
ε of the channel's power, naive (as if the estimate were exact) and robust (minimising the MSE
averaged over the channel error), and the test latents go through the true channel. Then the same
design on a frequency-selective 3GPP TDL channel, whose two channel uses per latent are two OFDM
subcarriers.
"""

# %%
# The latents, the pilots and the receiver's classifier
# -----------------------------------------------------
import matplotlib.pyplot as plt
import torch

import semalign
from semalign.link import ChannelModel, Link, estimate_of
from semalign.tasks import accuracy, mse, train_classifier

SEED, SNR_DB, N = 27, 20.0, 4
pair = semalign.load_latents("digits")
pilots = semalign.select_pilots(pair.train, 50, seed=SEED)
x_pilots, y_pilots = pair.train.tx[pilots], pair.train.rx[pilots]
head = train_classifier(pair.train.rx, pair.train.labels, seed=SEED)

# %%
# Naive and robust designs on an estimate
# ---------------------------------------
# ``estimate_of`` draws what the designer knows from the true channel: H = Ĥ + D with D of entries
# CN(0, ε v), independent of Ĥ. Both designs are fitted on Ĥ; ``robust=True`` adds the error's
# second moment to the ADMM objective in closed form (no loop over error draws). Each point
# averages three error draws.
h_true = semalign.channel_for_seed(SEED, N, N)
errors = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5]
results = {"naive": {"accuracy": [], "mse": []}, "robust": {"accuracy": [], "mse": []}}
for eps in errors:
    for design in results:
        scores = []
        for draw in range(3):
            h_hat = estimate_of(h_true, eps, generator=torch.Generator().manual_seed(100 * draw + 1))
            model = semalign.LinearSemanticTransceiver(
                channel=h_hat, snr_db=SNR_DB, csi_error=eps, robust=design == "robust", seed=SEED
            ).fit(x_pilots, y_pilots)
            y_hat = model.transmit(
                pair.test.tx, channel=h_true, generator=torch.Generator().manual_seed(SEED)
            )
            scores.append((accuracy(head, y_hat, pair.test.labels), mse(y_hat, pair.test.rx)))
        results[design]["accuracy"].append(sum(a for a, _ in scores) / len(scores))
        results[design]["mse"].append(sum(m for _, m in scores) / len(scores))
    print(
        f"ε = {eps:4.2f}: naive MSE {results['naive']['mse'][-1]:.2f}, "
        f"robust MSE {results['robust']['mse'][-1]:.2f}"
    )

# %%
# A frequency-selective 3GPP channel
# ----------------------------------
# ``ChannelModel("tdl-a").draw`` gives one 4 x 4 matrix per subcarrier (Sionna's TR 38.901 model,
# 300 ns delay spread, two subcarriers 10 MHz apart); ``Link.from_subcarriers`` makes the link
# diag(H_1, H_2) with the noise of two channel uses. Every estimator takes such a link. Five SNRs
# are fitted at once (one configuration each).
snrs = [-10.0, 0.0, 10.0, 20.0, 30.0]
by_model = {}
for name in ("rayleigh", "tdl-a"):
    channel_model = ChannelModel(name, delay_spread_ns=300.0) if name != "rayleigh" else ChannelModel()
    h = channel_model.for_seed(SEED, N, N, 2)
    if channel_model.frequency_selective:
        link = Link.from_subcarriers(h.expand(len(snrs), *h.shape), snrs)
    else:
        link = Link(h.expand(len(snrs), *h.shape), snrs, channel_uses=2)
    model = semalign.LinearSemanticTransceiver(link=link, seed=SEED).fit(x_pilots, y_pilots)
    y_hat = model.transmit(pair.test.tx, generator=torch.Generator().manual_seed(SEED))
    by_model[name] = [accuracy(head, y, pair.test.labels) for y in y_hat]
    print(name, " ".join(f"{a:.3f}" for a in by_model[name]))

# %%
# What the error costs, and what a robust design saves
# ----------------------------------------------------
fig, (ax_mse, ax_acc, ax_model) = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
for design, style in (("naive", "--x"), ("robust", "-o")):
    ax_mse.plot(errors, results[design]["mse"], style, label=design)
    ax_acc.plot(errors, results[design]["accuracy"], style, label=design)
ax_mse.set(xlabel="CSI error ε", ylabel="test MSE (true channel)", yscale="log", title="alignment error")
ax_acc.set(xlabel="CSI error ε", ylabel="receiver accuracy", ylim=(0, 1.02), title=f"{N} x {N}, {SNR_DB:g} dB")
for name, values in by_model.items():
    ax_model.plot(snrs, values, "-o", label=name)
ax_model.set(xlabel="SNR (dB)", ylabel="receiver accuracy", ylim=(0, 1.02), title="T = 2 uses, perfect CSI")
for ax in (ax_mse, ax_acc, ax_model):
    ax.legend()
plt.show()
