"""The training loop of neural transceivers: several fits of equal shapes trained as one batch.

A :class:`TrainingTask` is one estimator's fit: its b configurations (SNRs, sparsity weights, or
a channel batch) sharing its pilots, seed and design link. :func:`train` stacks the networks of
several tasks along the configuration axis and trains them in one loop, so a sweep's fits that
share shapes (other seeds, the other awareness) cost one batched GEMM per layer instead of one
each. Every random draw stays the task's own: its weights' start, validation split and minibatch
order come from its ``init`` generator, its training noise from its ``training-noise`` generator,
its validation noise from its ``validation-noise`` seed; early stopping is decided per
configuration, and a task's epochs and history end where its last configuration stopped. A task
therefore trains to the same weights (to float rounding) alone or beside others.

Per configuration the loss is the MSE of the standardised receiver latent after the design link
(:meth:`~semalign.link.Link.design_view`): the encoder's symbols, power-normalised per sample, go
through the channel with fresh noise at every minibatch (the ``split`` layout of
:meth:`~semalign.link.Link.send`). Adam minimises the sum of the configurations' losses, followed
by the L1 proximal step of :mod:`semalign.transceivers.proximal`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from semalign._seeds import stream_generator
from semalign.link.link import Link
from semalign.transceivers.complex_layers import ComplexMLPStack, split_to_stacked, stacked_to_split
from semalign.transceivers.proximal import proximal_l1_step


@dataclass(frozen=True)
class TrainingSettings:
    """What every task of one training loop shares (besides shapes)."""

    epochs: int
    lr: float
    batch_size: int
    patience: int
    tol: float | None
    power: float
    progress: bool = False


@dataclass
class TrainingTask:
    """One estimator's fit.

    Attributes:
        inputs: standardised transmitter pilots, stacked layout ``(1 | b, 2, n, m)`` float32.
        targets: standardised receiver pilots ``(1 | b, n, d_rx)`` float32.
        link: the design link of the b configurations (``(b, n_rx, n_tx)`` channels).
        lam: ``(b,)`` L1 weights.
        encoder, decoder: the task's :class:`ComplexMLPStack` pair (b configurations each).
        order: the task's ``init`` generator (CPU), after the weights were drawn: minibatch order.
        train_index, validation_index: the pilots each part uses (device tensors).
        seed: the task's seed (training and validation noise streams).
        robust: train on channels drawn around the design channel (every pilot through its own
            channel, :meth:`~semalign.link.Link.send` with ``channel_errors``), at the link's
            ``csi_error``.
    Results (set by :func:`train`): ``history`` (``train_loss``/``validation_loss`` lists of ``(b,)``
    tensors), ``best_epoch`` ``(b,)``, ``n_epochs``.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    link: Link
    lam: torch.Tensor
    encoder: ComplexMLPStack
    decoder: ComplexMLPStack
    order: torch.Generator
    train_index: torch.Tensor
    validation_index: torch.Tensor
    seed: int
    robust: bool = False
    history: dict = field(default_factory=lambda: {"train_loss": [], "validation_loss": []})
    best_epoch: torch.Tensor | None = None
    n_epochs: int = 0

    @property
    def n_configurations(self) -> int:
        return self.link.channel.shape[0]


def encode(encoder: ComplexMLPStack, inputs: torch.Tensor, b: int, power: float) -> torch.Tensor:
    """Stacked inputs ``(1 | b, 2, n, m)`` -> ``(b, n, 2 T N_t)`` split-layout symbols of energy P each."""
    t = encoder.forward_stacked(inputs)
    if t.shape[0] != b:
        t = t.expand(b, *t.shape[1:])
    norm = t.square().sum((1, 3), keepdim=True).sqrt().clamp_min(1e-12)  # (b, 1, n, 1)
    return stacked_to_split(t * (power**0.5 / norm))


def decode(decoder: ComplexMLPStack, received: torch.Tensor, d_rx: int) -> torch.Tensor:
    """Split-layout received symbols ``(b, n, 2 T N_r)`` -> standardised estimates ``(b, n, d_rx)``."""
    return stacked_to_split(decoder.forward_stacked(split_to_stacked(received)))[..., :d_rx]


def train(tasks: list[TrainingTask], settings: TrainingSettings) -> None:
    """Train every task's networks in place (their best validation weights are kept).

    A configuration whose validation loss has not improved for ``patience`` epochs has stopped: it
    keeps its best weights and leaves the batch, so the remaining ones train on without it (what
    it would cost alone, each configuration pays in a batch). Its losses after that are NaN in the
    history. The tasks must share the pilot count, the latent sizes, the networks' widths and the
    link's antennas, channel uses, power and SNR convention (:func:`check_compatible`).
    """
    check_compatible(tasks)
    device = tasks[0].inputs.device
    sizes = [task.n_configurations for task in tasks]
    total = sum(sizes)
    offsets = torch.tensor([0, *sizes]).cumsum(0).tolist()
    task_of = torch.repeat_interleave(torch.arange(len(tasks)), torch.tensor(sizes))  # (total,) CPU
    encoder = tasks[0].encoder if len(tasks) == 1 else ComplexMLPStack.concatenate([t.encoder for t in tasks])
    decoder = tasks[0].decoder if len(tasks) == 1 else ComplexMLPStack.concatenate([t.decoder for t in tasks])
    full_link = tasks[0].link if len(tasks) == 1 else _merged_link([t.link for t in tasks])
    full_lam = torch.cat([t.lam for t in tasks]).to(device)
    d_rx = tasks[0].targets.shape[-1]
    noise = [stream_generator("training-noise", t.seed, device=device) for t in tasks]
    n_val = tasks[0].validation_index.numel()
    batch = _ActiveBatch(encoder, decoder, full_link, full_lam, task_of, settings.lr)

    def losses(index_of_task: list[torch.Tensor], generators: list[torch.Generator]) -> torch.Tensor:
        xs = _gather([t.inputs for t in tasks], batch.task_of, index_of_task, offsets, batch.active, dim=2)
        ys = _gather([t.targets for t in tasks], batch.task_of, index_of_task, offsets, batch.active, dim=1)
        symbols = encode(batch.encoder, xs, batch.size, settings.power)
        received = batch.link.send(symbols, generator=generators, generator_of=batch.task_of.to(device), split=True, channel_errors=tasks[0].robust)
        return (decode(batch.decoder, received, d_rx) - ys).square().mean((-2, -1))

    best = torch.full((total,), float("inf"), device=device)
    best_state = [p.detach().clone() for p in batch.parameters()]  # every configuration's best weights
    best_epoch = torch.zeros(total, dtype=torch.long)
    stale = torch.zeros(total, dtype=torch.long)
    ended = [0] * len(tasks)  # the epoch at which each task's last configuration stopped
    history = {"train_loss": [], "validation_loss": []}
    bar = _progress(settings.progress, settings.epochs, f"neural b={total}")
    epoch = 0
    for epoch in range(1, settings.epochs + 1):
        orders = [t.train_index[torch.randperm(t.train_index.numel(), generator=t.order).to(device)] for t in tasks]
        n_train = orders[0].numel()
        running = torch.zeros(batch.size, device=device)
        for start in range(0, n_train, settings.batch_size):
            rows = [order[start : start + settings.batch_size] for order in orders]
            loss = losses(rows, noise)
            batch.optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()  # a sum of per-configuration losses: configurations stay independent
            batch.optimizer.step()
            proximal_l1_step(batch.optimizer, batch.weights(), batch.lam)
            running += loss.detach() * rows[0].numel()
        history["train_loss"].append(_scatter(running / n_train, batch.active, total))
        if n_val:
            with torch.no_grad():
                validation = [stream_generator("validation-noise", t.seed, device=device) for t in tasks]  # same draw every epoch
                val = losses([t.validation_index for t in tasks], validation)
            history["validation_loss"].append(_scatter(val, batch.active, total))
            active = batch.active
            # With tol, an epoch counts as an improvement only if it beats the best by that fraction.
            improved = val < (best[active] if settings.tol is None else best[active] * (1 - settings.tol))
            best[active] = torch.where(improved, val, best[active])
            improved = improved.cpu()
            stale[active] = torch.where(improved, 0, stale[active] + 1)
            best_epoch[active[improved]] = epoch
            with torch.no_grad():
                for saved, p in zip(best_state, batch.parameters()):
                    saved[active[improved].to(device)] = p.detach()[improved.to(device)]
            stopped = stale >= settings.patience
            for k in range(len(tasks)):
                if not ended[k] and bool(stopped[offsets[k] : offsets[k + 1]].all()):
                    ended[k] = epoch
            if all(ended):
                break
            if bool(stopped[active].any()):
                batch.keep(~stopped[active])
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    final = best_state if n_val else [p.detach() for p in batch.parameters()]
    if not n_val:
        best_epoch[:] = epoch
    n_encoder = len(list(encoder.parameters()))
    encoder_state = dict(zip(encoder.state_dict(), final[:n_encoder]))
    decoder_state = dict(zip(decoder.state_dict(), final[n_encoder:]))
    for k, task in enumerate(tasks):
        lo, hi = offsets[k], offsets[k + 1]
        task.n_epochs = ended[k] or epoch
        task.history = {name: [values[lo:hi] for values in series[: task.n_epochs]] for name, series in history.items()}
        task.best_epoch = best_epoch[lo:hi].clone()
        task.encoder = ComplexMLPStack.from_state(encoder.widths, {key: v[lo:hi].clone() for key, v in encoder_state.items()})
        task.decoder = ComplexMLPStack.from_state(decoder.widths, {key: v[lo:hi].clone() for key, v in decoder_state.items()})


class _ActiveBatch:
    """The configurations still training: their networks, link, L1 weights and Adam state.

    :meth:`keep` drops the stopped ones (their parameters, optimiser moments and channel), so the
    loop's GEMMs shrink as configurations stop.
    """

    def __init__(self, encoder: ComplexMLPStack, decoder: ComplexMLPStack, link: Link, lam: torch.Tensor, task_of: torch.Tensor, lr: float) -> None:
        self.encoder, self.decoder, self.link, self.lam, self.task_of = encoder, decoder, link, lam, task_of
        self.active = torch.arange(len(task_of))  # global indices (CPU)
        for p in self.parameters():
            p.requires_grad_(True)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=lr)

    @property
    def size(self) -> int:
        return self.active.numel()

    def parameters(self) -> list[torch.nn.Parameter]:
        return [*self.encoder.parameters(), *self.decoder.parameters()]

    def weights(self) -> list[torch.nn.Parameter]:
        return self.encoder.weight_parameters() + self.decoder.weight_parameters()

    def keep(self, mask: torch.Tensor) -> None:
        """Keep the active configurations where ``mask`` ``(size,)`` is true."""
        index = mask.nonzero().flatten()
        device_index = index.to(self.lam.device)
        old = self.parameters()
        state = {id(p): self.optimizer.state[p] for p in old}
        for net in (self.encoder, self.decoder):
            for layer in net.layers:
                for name in ("weight_parts", "bias_parts"):
                    setattr(layer, name, torch.nn.Parameter(getattr(layer, name).detach()[device_index].clone()))
        self.optimizer = torch.optim.Adam(self.parameters(), lr=self.optimizer.param_groups[0]["lr"])
        for before, after in zip(old, self.parameters()):
            moments = state[id(before)]
            self.optimizer.state[after] = {
                "step": moments["step"].clone(),
                "exp_avg": moments["exp_avg"][device_index].clone(),
                "exp_avg_sq": moments["exp_avg_sq"][device_index].clone(),
            }
        self.link = self.link.select(device_index)
        self.lam = self.lam[device_index]
        self.active, self.task_of = self.active[index], self.task_of[index]


def _scatter(values: torch.Tensor, active: torch.Tensor, total: int) -> torch.Tensor:
    """Per-configuration ``values`` of the active configurations as a ``(total,)`` CPU tensor, NaN
    for the stopped ones."""
    out = torch.full((total,), float("nan"))
    out[active] = values.detach().cpu()
    return out


def check_compatible(tasks: list[TrainingTask]) -> None:
    """Raise ``ValueError`` naming what differs if ``tasks`` cannot share one training loop."""
    first = tasks[0]

    def signature(task: TrainingTask) -> dict:
        link = task.link
        return {
            "pilots": task.inputs.shape[-2], "d_tx (complex)": task.inputs.shape[-1], "d_rx": task.targets.shape[-1],
            "encoder widths": task.encoder.widths, "decoder widths": task.decoder.widths,
            "antennas (n_rx, n_tx)": tuple(link.channel.shape[-2:]), "channel_uses": link.channel_uses,
            "power": link.power, "snr_convention": link.snr_convention, "channel_variance": link.channel_variance,
            "validation pilots": task.validation_index.numel(), "device": task.inputs.device,
            "robust": task.robust, "csi_error": link.csi_error,
        }  # fmt: skip

    reference = signature(first)
    for task in tasks[1:]:
        other = signature(task)
        differ = [f"{key} ({reference[key]} vs {other[key]})" for key in reference if reference[key] != other[key]]
        if differ:
            raise ValueError(f"these fits cannot be trained together; they differ in {', '.join(differ)}")


def _merged_link(links: list[Link]) -> Link:
    """One link holding the configurations of ``links`` (equal antennas, uses, power, convention)."""
    first = links[0]
    return Link(
        torch.cat([link.channel for link in links]), torch.cat([link.snr_db.expand(link.channel.shape[0]) for link in links]),
        first.power, snr_convention=first.snr_convention, channel_variance=first.channel_variance,
        channel_uses=first.channel_uses, csi_error=first.csi_error, device=first.device,
    )  # fmt: skip


def _gather(tensors: list[torch.Tensor], task_of: torch.Tensor, index_of_task: list[torch.Tensor], offsets: list[int], active: torch.Tensor, dim: int) -> torch.Tensor:
    """The rows ``index_of_task[k]`` (along ``dim``) of each task's pilots, for every active
    configuration in order: ``(size, ...)``. A task's pilots are shared ``(1, ...)`` or one set per
    configuration ``(b, ...)``; a single task's shared pilots stay shared."""
    if len(tensors) == 1 and tensors[0].shape[0] == 1:
        return tensors[0].index_select(dim, index_of_task[0])
    parts = []
    for k in task_of.unique_consecutive().tolist():
        members = active[task_of == k] - offsets[k]  # the task's active configurations, local indices
        rows = tensors[k].index_select(dim, index_of_task[k])
        if rows.shape[0] == 1:
            rows = rows.expand(members.numel(), *rows.shape[1:])
        elif members.numel() != rows.shape[0]:
            rows = rows.index_select(0, members.to(rows.device))
        parts.append(rows)
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def _progress(enabled: bool, total: int, label: str):
    """A small Rich progress bar over epochs, or ``None``."""
    if not enabled:
        return None
    from rich.progress import Progress

    progress = Progress(transient=True)
    progress.start()
    task = progress.add_task(label, total=total)

    class _Bar:
        def update(self, k: int) -> None:
            progress.advance(task, k)

        def close(self) -> None:
            progress.stop()

    return _Bar()
