"""Neural semantic precoder/decoder learned through the simulated channel.

Per latent x (real, d_tx) and configuration:

1. standardise x with the pilots' per-feature mean and scale; pack into m = ceil(d_tx/2) complex
   symbols;
2. encoder: complex MLP m -> h_e -> ... -> T N_t with modulus-GELU activations;
3. power: s = sqrt(P) t / ||t||, so every latent's T N_t symbols carry exactly the energy P (the
   same budget as the linear precoder, which meets it on average);
4. channel: r = H s + w for each of the T uses, w ~ CN(0, sigma^2) drawn fresh for every batch at
   the SNR convention's noise level (aware), or no channel and no noise (unaware: identity H);
5. decoder: complex MLP T N_r -> h_d -> ... -> p = ceil(d_rx/2); unpack to d_rx reals; undo the
   target's standardisation (per-feature mean, one scale for all features, so the training loss is
   the receiver-space MSE up to a constant factor).

Training minimises the MSE (plus ``lam`` times the L1 norm of the complex weights, by the proximal
step of :mod:`semalign.transceivers.proximal`) with Adam on minibatches of the pilots. A validation
part of the pilots (never data outside the pilot budget, which the published code used) drives early stopping and
picks the weights that are returned; sparsity and FLOPs are measured on exactly those weights.

Differences from the published model: the input is standardised instead of scaled to unit
norm, weights start complex (not purely real), the sparsity step is a real proximal step in Adam's
metric with the momentum of pruned weights reset (not hard thresholding once per epoch), and the
power budget is the ``power`` argument (not a hard-coded 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from semalign._checks import check_positive, check_positive_int
from semalign._registry import register
from semalign._seeds import stream_generator
from semalign.link.link import Link
from semalign.link.packing import complex_dim
from semalign.transceivers.base import SemanticTransceiver
from semalign.transceivers.complex_layers import ComplexMLPStack, complex_to_split, split_to_complex, split_to_stacked
from semalign.transceivers.flops import ACTIVATION_FLOPS, complex_dense_flops, power_normalisation_flops
from semalign.transceivers.neural_training import TrainingSettings, TrainingTask, decode, encode, train
from semalign.transceivers.proximal import sparsity


@register(
    "neural", "single-link", batched=("snr_db", "lam"), trained_together=("seed", "awareness"),
    description="complex neural precoder/decoder trained through the channel",
)  # fmt: skip
class NeuralSemanticTransceiver(SemanticTransceiver):
    """Complex neural precoder and decoder trained end to end through the channel.

    Args:
        channel, snr_db, power, snr_convention, channel_variance, channel_uses, awareness, seed,
            device: the link, see :class:`~semalign.transceivers.base.SemanticTransceiver`. A batch
            of b channels (and SNRs, and ``lam`` values) trains b networks at once.
        hidden: complex widths ``(h_e, h_d)`` of the encoder and decoder hidden layers; default
            ``(d_tx, d_rx)`` as published.
        hidden_layers: extra hidden layers on each side (0 as published: two dense layers a side).
        epochs: the most passes over the training pilots. The default (1000) is a cap, not a
            budget: early stopping ends training when the validation loss stops improving (on the
            digits latents after 100 to 550 epochs). The published budget, 50 epochs of one
            512-pilot batch at lr 1e-3, stops far from convergence.
        lr: Adam learning rate.
        batch_size: pilots per Adam step.
        lam: L1 weight on the complex weights' moduli (0: dense), a number or one per configuration.
        validation_fraction: part of the pilots held out for early stopping and weight selection
            (0: no validation, the last weights are returned).
        patience: epochs without a validation improvement before a configuration stops (it keeps
            its best weights); training ends when every configuration has. ``None`` (default): 20
            epochs, or the epochs of 100 Adam steps if that is more (small pilot sets take one
            step per epoch, and their validation loss is noisy).
        progress: show a progress bar over epochs.

    Attributes (after ``fit``):
        encoder_, decoder_: the :class:`~semalign.transceivers.complex_layers.ComplexMLPStack` pair.
        history_: per epoch ``train_loss`` and ``validation_loss`` ``(b,)`` in standardised units.
        best_epoch_: ``(b,)`` epoch whose weights were kept; n_epochs_: epochs run.
        sparsity_: ``(b,)`` fraction of zero weights of the returned networks.
    """

    method = "neural"

    def __init__(
        self,
        channel: torch.Tensor | None = None,
        snr_db: float | Sequence[float] | torch.Tensor = 20.0,
        power: float = 1.0,
        *,
        hidden: tuple[int, int] | None = None,
        hidden_layers: int = 0,
        epochs: int = 1000,
        lr: float = 1e-2,
        batch_size: int = 256,
        lam: float | Sequence[float] | torch.Tensor = 0.0,
        validation_fraction: float = 0.1,
        patience: int | None = None,
        tol: float | None = None,
        progress: bool = False,
        snr_convention: str = "total", channel_variance: float = 1.0, channel_uses: int = 1,  # the link
        awareness: str = "aware",
        csi_error: float = 0.0,
        robust: bool = False,
        seed: int = 0,
        device: str | torch.device | None = None,
        link: Link | None = None,
    ) -> None:
        self._set_params(locals())
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        if self.hidden is not None:
            if not isinstance(self.hidden, (tuple, list)) or len(self.hidden) != 2:
                raise ValueError(f"hidden must be a pair (encoder width, decoder width), got {self.hidden!r}")
            self.hidden = (check_positive_int("hidden[0]", self.hidden[0]), check_positive_int("hidden[1]", self.hidden[1]))
        if not isinstance(self.hidden_layers, int) or isinstance(self.hidden_layers, bool) or self.hidden_layers < 0:
            raise ValueError(f"hidden_layers must be an integer >= 0, got {self.hidden_layers!r}")
        self.hidden_layers = int(self.hidden_layers)
        self.epochs = check_positive_int("epochs", self.epochs)
        self.lr = check_positive("lr", self.lr)
        self.batch_size = check_positive_int("batch_size", self.batch_size)
        if self.patience is not None:
            self.patience = check_positive_int("patience", self.patience)
        if self.tol is not None:
            self.tol = check_positive("tol", self.tol)
        if not isinstance(self.validation_fraction, (int, float)) or isinstance(self.validation_fraction, bool) or not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")
        self.validation_fraction = float(self.validation_fraction)
        b, device = self._link.channel.shape[0], self._link.device  # the link of these settings, not a fitted one
        try:
            lam_t = torch.as_tensor(self.lam, dtype=torch.float32).flatten()
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"lam must be a number >= 0 or one per channel configuration ({b}), got {self.lam!r}") from None
        if lam_t.numel() == 1:
            lam_t = lam_t.expand(b)
        if lam_t.numel() != b or not bool(torch.isfinite(lam_t).all()) or bool((lam_t < 0).any()):
            raise ValueError(f"lam must be a number >= 0 or one per channel configuration ({b}), got {self.lam!r}")
        self._lam = lam_t.to(device)

    # ----------------------------------------------------------------- fit
    def fit(self, x, y) -> NeuralSemanticTransceiver:
        """Train the encoder and decoder on pilots.

        Args:
            x: ``(n, d_tx)`` transmitter latents of the pilots (or ``(b, n, d_tx)``, one set per configuration).
            y: ``(n, d_rx)`` receiver latents of the same pilots (or ``(b, n, d_rx)``).

        Returns:
            self
        """
        fit_together([self], [(x, y)])
        return self

    @classmethod
    def fit_together(cls, models: Sequence[NeuralSemanticTransceiver], pilots: Sequence[tuple]) -> None:
        """Fit several models of equal shapes in one training loop (:func:`fit_together`)."""
        fit_together(models, pilots)

    def _training_task(self, x, y) -> TrainingTask:
        """Check the pilots, standardise them, draw the networks' start and split the pilots: the
        fit up to its training loop."""
        x, y = self._check_fit_inputs(x, y)
        x = (x if x.ndim == 3 else x.unsqueeze(0)).to(torch.float32)
        y = (y if y.ndim == 3 else y.unsqueeze(0)).to(torch.float32)
        n, b = x.shape[-2], self.n_configurations
        self._fit_standardisation(x, y)
        cpu_gen = stream_generator("init", self.seed)
        order = torch.randperm(n, generator=cpu_gen).to(self.device_)
        n_val = int(round(self.validation_fraction * n)) if n >= 10 else 0
        widths_in = complex_dim(self.d_tx_)
        h_e, h_d = self.hidden or (self.d_tx_, self.d_rx_)
        t = self._current_link().channel_uses
        encoder = ComplexMLPStack(b, (widths_in, *[h_e] * (1 + self.hidden_layers), t * self.n_tx), generator=cpu_gen, device=self.device_)
        decoder = ComplexMLPStack(b, (t * self.n_rx, *[h_d] * (1 + self.hidden_layers), complex_dim(self.d_rx_)), generator=cpu_gen, device=self.device_)
        return TrainingTask(
            inputs=split_to_stacked(self._pack(self._standardise_x(x))), targets=(y - self.y_mean_) / self.y_scale_,
            link=self._design_link(), lam=self._lam, encoder=encoder, decoder=decoder, order=cpu_gen,
            train_index=order[n_val:], validation_index=order[:n_val], seed=self.seed,
            robust=self.robust and self.awareness == "aware",
        )  # fmt: skip

    def _training_settings(self, n_train: int) -> TrainingSettings:
        """The loop's settings for ``n_train`` training pilots (the default patience depends on it)."""
        patience = self.patience
        if patience is None:
            steps_per_epoch = -(-n_train // self.batch_size)
            patience = max(20, -(-100 // steps_per_epoch))
        return TrainingSettings(self.epochs, self.lr, self.batch_size, patience, self.tol, self._current_link().power, self.progress)

    def _adopt(self, task: TrainingTask) -> None:
        """Take the trained networks and their record from ``task``; the fit is done."""
        self.encoder_, self.decoder_ = task.encoder, task.decoder
        self.history_ = task.history
        self.n_epochs_ = task.n_epochs
        self.best_epoch_ = task.best_epoch
        self.sparsity_ = sparsity(self._weights()).cpu()
        self._finish_fit()

    def _fitted_state(self) -> dict:
        state = super()._fitted_state()
        for name in ("encoder_", "decoder_"):
            state[name] = {"widths": state[name].widths, "weights": state[name].state_dict()}
        return state

    def _restore_state(self, state: dict) -> None:
        state = dict(state)
        for name in ("encoder_", "decoder_"):
            state[name] = ComplexMLPStack.from_state(state[name]["widths"], state[name]["weights"])
        super()._restore_state(state)

    def _fit_standardisation(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x_mean_ = x.mean(-2, keepdim=True)
        std = x.std(-2, keepdim=True)
        # Constant features (dead units) keep scale 1 instead of blowing up.
        self.x_scale_ = torch.where(std > 1e-6 * std.amax(-1, keepdim=True).clamp_min(1e-30), std, torch.ones_like(std))
        self.y_mean_ = y.mean(-2, keepdim=True)
        self.y_scale_ = (y - self.y_mean_).square().mean((-2, -1), keepdim=True).sqrt().clamp_min(1e-12)

    def _standardise_x(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.x_mean_) / self.x_scale_

    def _weights(self) -> list[torch.Tensor]:
        """The complex weights ``(b, out, in)`` of every layer (detached)."""
        return [layer.weight for net in (self.encoder_, self.decoder_) for layer in net.layers]

    def _pack(self, xs: torch.Tensor) -> torch.Tensor:
        """Real ``(..., d)`` -> split layout of its packed complex symbols (pad to even length)."""
        return torch.nn.functional.pad(xs, (0, xs.shape[-1] % 2))

    def _encode(self, xs: torch.Tensor) -> torch.Tensor:
        """``(1|b, n, d_tx)`` standardised latents -> ``(b, n, 2 T N_t)`` split-layout symbols, energy P each."""
        packed = self._pack(xs)
        stacked = split_to_stacked(packed if packed.ndim == 3 else packed.unsqueeze(0))
        return encode(self.encoder_, stacked, self.n_configurations, self._current_link().power)

    def _decode_split(self, r: torch.Tensor) -> torch.Tensor:
        """``(b, n, 2 T N_r)`` split-layout received symbols -> ``(b, n, d_rx)`` standardised estimate."""
        return decode(self.decoder_, r, self.d_rx_)

    def _losses(self, xs, ys, link: Link, generator) -> torch.Tensor:
        """Per-configuration MSE ``(b,)`` (standardised units) of a pilot batch sent through ``link``
        (the design link) in the split layout, with fresh noise from ``generator``."""
        r = link.send(self._encode(xs), generator=generator, split=True)
        return (self._decode_split(r) - ys).square().mean((-2, -1))

    # ------------------------------------------------------------ transmit
    @torch.no_grad()
    def _precode(self, x: torch.Tensor) -> torch.Tensor:
        return split_to_complex(self._encode(self._standardise_x(x.to(torch.float32))))

    @torch.no_grad()
    def _decode(self, r: torch.Tensor) -> torch.Tensor:
        y_std = self._decode_split(complex_to_split(r.to(torch.complex64)))
        return y_std * self.y_scale_ + self.y_mean_

    # ---------------------------------------------------------- complexity
    def inference_flops(self) -> torch.Tensor:
        """FLOPs ``(b,)`` per latent for the transmitter and receiver, counting non-zero weights only
        (formula in :mod:`semalign.transceivers.flops`)."""
        self._check_fitted()
        total = torch.zeros(self.n_configurations, dtype=torch.int64, device=self.device_)
        for net in (self.encoder_, self.decoder_):
            for layer in net.layers:
                total += complex_dense_flops(layer.weight)
            total += ACTIVATION_FLOPS * net.hidden_units
        total += power_normalisation_flops(self._current_link().channel_uses * self.n_tx)
        total += 2 * self.d_tx_ + 2 * self.d_rx_  # input and output standardisation
        return total.cpu()


def fit_together(models: Sequence[NeuralSemanticTransceiver], pilots: Sequence[tuple]) -> None:
    """Fit several neural transceivers of equal shapes in one batched training loop.

    Each model trains exactly as its own :meth:`~NeuralSemanticTransceiver.fit` would (its seed's
    start, minibatch order and noise; its own early stopping), to float rounding; together they
    cost one batched GEMM per layer and step instead of one each. A sweep over seeds or awareness
    uses this (:mod:`semalign.transceivers.neural_training`).

    Args:
        models: unfitted or fitted :class:`NeuralSemanticTransceiver` instances with equal training
            settings (epochs, lr, batch size, patience, tol), pilot counts, latent sizes, widths,
            antennas, channel uses, power and SNR convention.
        pilots: one ``(x, y)`` pair of pilots per model (see :meth:`NeuralSemanticTransceiver.fit`).

    Raises:
        ValueError: the models cannot share a loop (the message names what differs), or a model's
            pilots are invalid.
    """
    if len(models) != len(pilots) or not models:
        raise ValueError(f"fit_together needs one (x, y) pilot pair per model; got {len(models)} models and {len(pilots)} pilot pairs")
    tasks = [model._training_task(x, y) for model, (x, y) in zip(models, pilots)]
    settings = {model._training_settings(task.train_index.numel()) for model, task in zip(models, tasks)}
    if len(settings) > 1:
        raise ValueError(f"these models cannot be trained together: their training settings differ ({sorted(map(str, settings))})")
    train(tasks, settings.pop())
    for model, task in zip(models, tasks):
        model._adopt(task)
