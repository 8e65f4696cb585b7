"""
Neural or linear? Accuracy against inference FLOPs
==================================================

The linear ADMM transceiver is one matrix at each end of the link. The neural transceiver puts a
small complex MLP at each end and is trained through the simulated channel; it can be pruned with
an L1 penalty of weight ``lam`` on its weights, which trades accuracy for fewer non-zero weights,
hence fewer floating-point operations (FLOPs) per latent at inference.

This example trains one neural model per sparsity weight -- all of them in one batched training
loop -- at N = 4 antennas and 20 dB, and places them against linear ADMM on the accuracy-FLOPs
plane. FLOPs are counted the same way for both (8 per complex multiply-accumulate, 20 per
activation, non-zero weights only; see :mod:`semalign.transceivers.flops`).
"""

# %%
# Latents, pilots, channel and the receiver's classifier
# ------------------------------------------------------
import matplotlib.pyplot as plt
import torch

import semalign
from semalign.tasks import accuracy, mse, train_classifier

SEED, SNR_DB, N = 27, 20.0, 4
pair = semalign.load_latents("digits")
pilots = semalign.select_pilots(pair.train, 100, seed=SEED)
x, y = pair.train.tx[pilots], pair.train.rx[pilots]
h = semalign.channel_for_seed(SEED, n_rx=N, n_tx=N)
head = train_classifier(pair.train.rx, pair.train.labels, seed=SEED)
test_noise = SEED  # the same test noise for every model


def evaluate(y_hat):
    """Accuracy of the receiver's classifier and MSE of the estimates."""
    return accuracy(head, y_hat, pair.test.labels), mse(y_hat, pair.test.rx)


# %%
# Linear ADMM: one point
# ----------------------
# ADMM with a closed-form solution at every step, computed from the pilots' Gram statistics: it
# fits in a fraction of a second. Its inference cost is the precoder (whitening folded in) plus
# the decoder.
linear = semalign.LinearSemanticTransceiver(channel=h, snr_db=SNR_DB, seed=SEED).fit(x, y)
linear_acc, linear_mse = evaluate(
    linear.transmit(pair.test.tx, generator=torch.Generator().manual_seed(test_noise))
)
linear_flops = int(linear.inference_flops()[0])
print(
    f"linear ADMM: accuracy {linear_acc:.3f}, MSE {linear_mse:.3f}, {linear_flops} FLOPs per latent"
)

# %%
# Neural models: a sweep over the sparsity weight, trained as one batch
# ---------------------------------------------------------------------
# Giving the model a batch of channels ``(b, N, N)`` and one ``lam`` per configuration trains b
# networks at once. ``epochs`` is a cap: early stopping on a held-out 10 % of the pilots ends
# training sooner, and each configuration keeps its best weights. A short cap keeps this example
# quick; the studies train to convergence (up to 1000 epochs), which gains a little more accuracy.
lams = [0.0, 1e-4, 3e-4, 1e-3, 3e-3]
neural = semalign.NeuralSemanticTransceiver(
    channel=h.expand(len(lams), N, N), snr_db=SNR_DB, lam=lams, epochs=150, seed=SEED
).fit(x, y)
# One estimate per configuration: (b, n, d_rx).
y_hat = neural.transmit(pair.test.tx, generator=torch.Generator().manual_seed(test_noise))
neural_flops = neural.inference_flops().tolist()
neural_acc, neural_mse = zip(*(evaluate(estimate) for estimate in y_hat))
for lam, flops, sparsity, acc, err, best in zip(
    lams,
    neural_flops,
    neural.sparsity_.tolist(),
    neural_acc,
    neural_mse,
    neural.best_epoch_.tolist(),
):
    print(
        f"neural lam={lam:g}: {100 * sparsity:4.1f} % zero weights, {flops:6d} FLOPs, "
        f"accuracy {acc:.3f}, MSE {err:.3f} (best epoch {best})"
    )

# %%
# The trade-off and the training curves
# -------------------------------------
# Left: every model on the accuracy-FLOPs plane (log scale). Right: the validation loss of each
# neural configuration per epoch (standardised units); a stronger penalty stops earlier.
fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
ax.plot(neural_flops, neural_acc, marker="o", label="neural, sparsity sweep")
for i, (lam, flops, acc) in enumerate(zip(lams, neural_flops, neural_acc)):
    ax.annotate(
        f"λ={lam:g}",
        (flops, acc),
        textcoords="offset points",
        xytext=(-10, 8 if i % 2 else -14),
        fontsize=8,
    )
ax.plot(
    [linear_flops], [linear_acc], marker="*", markersize=14, linestyle="none", label="linear ADMM"
)
ax.set(
    xscale="log",
    xlabel="inference FLOPs per latent",
    ylabel="receiver accuracy",
    title=f"digits, N = {N}, {SNR_DB:g} dB",
)
ax.margins(x=0.1, y=0.12)
ax.legend(loc="lower right")

validation = torch.stack(
    [torch.as_tensor(v, dtype=torch.float32) for v in neural.history_["validation_loss"]]
)
for i, lam in enumerate(lams):
    ax_loss.plot(range(1, len(validation) + 1), validation[:, i], label=f"λ={lam:g}")
ax_loss.set(xlabel="epoch", ylabel="validation loss", yscale="log", title="neural training")
ax_loss.legend()
plt.show()
