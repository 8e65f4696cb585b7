"""The interference game's channels: every direct, cross and primary-user channel of one instance,
drawn from a channel model, what the designs know of them, and the receivers' view.

Layouts: direct and cross channels ``(Q, Q, N, N)`` (``[q, r]`` from transmitter r to receiver q),
primary-user channels ``(J, Q, N_p, N)`` (``[j, q]`` from transmitter q to primary receiver j); on a
frequency-selective (TDL/CDL) model one matrix per use (subcarrier): ``(Q, Q, T, N, N)`` and
``(J, Q, T, N_p, N)``. Cross channels carry the cross gain, primary-user channels the primary
gain: every channel is the model's unit-gain draw times the square root of its gain.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semalign.link.channel_models import ChannelModel
from semalign.link.csi import estimate_of
from semalign.link.mimo import subcarrier_block_diagonal
from semalign.link.noise import db_to_linear
from semalign.multiuser.network import DTYPE


@dataclass(frozen=True)
class InstanceChannels:
    """One instance's true channels and what the designs know of them (the same tensors with
    perfect CSI); ``primary`` and ``primary_known`` are ``None`` without primary users."""

    true: torch.Tensor
    known: torch.Tensor
    primary: torch.Tensor | None
    primary_known: torch.Tensor | None


def draw_instance_channels(
    model: ChannelModel, *, pairs: int, n_antennas: int, channel_uses: int, primary_users: int, primary_antennas: int,
    cross_gain_db: float, pu_gain_db: float, channel_variance: float, csi_error: float,
    generator: torch.Generator, csi_generator: torch.Generator,
) -> InstanceChannels:  # fmt: skip
    """Draw every channel of one instance from ``generator`` (direct and cross channels first, then
    the primary-user ones: for ``rayleigh`` exactly the draws of
    :func:`~semalign.link.channel.rayleigh_channel`), and, with ``csi_error`` > 0, their estimates
    from ``csi_generator`` (:func:`~semalign.link.csi.estimate_of`). Estimating the unit-gain draw
    and scaling it by the gain is estimating the scaled channel with its own variance v · gain: the
    error stays CN(0, ε v · gain)."""
    q, n, t = pairs, n_antennas, channel_uses
    per_subcarrier = (t,) if model.frequency_selective else ()  # one matrix per use, or one for all
    cross = db_to_linear(cross_gain_db).item() ** 0.5
    eye = torch.eye(q, dtype=torch.bool).view(q, q, *(1 for _ in per_subcarrier), 1, 1)

    def gains(h: torch.Tensor) -> torch.Tensor:
        return torch.where(eye, h, h * cross)

    h = model.draw(n, n, t, generator=generator, batch=q * q, channel_variance=channel_variance, dtype=DTYPE).view(q, q, *per_subcarrier, n, n)
    true, known = gains(h), None
    if csi_error > 0:
        known = gains(estimate_of(h, csi_error, channel_variance, generator=csi_generator))
    primary = primary_known = None
    if primary_users:
        scale = db_to_linear(pu_gain_db).item() ** 0.5
        shape = (primary_users, q, *per_subcarrier, primary_antennas, n)
        g = model.draw(primary_antennas, n, t, generator=generator, batch=primary_users * q, channel_variance=channel_variance, dtype=DTYPE)
        primary = g.view(shape) * scale
        if csi_error > 0:
            primary_known = estimate_of(g, csi_error, channel_variance, generator=csi_generator).view(shape) * scale
    return InstanceChannels(true, true.clone() if known is None else known, primary, None if primary is None else primary.clone() if primary_known is None else primary_known)


def receivers_view(channels: torch.Tensor) -> torch.Tensor:
    """``(B, Q, Q, N, N)`` per-use channels -> ``(B, Q, N, Q N)`` as the receivers hear them:
    receiver q's per-use channel is [H_q1 ... H_qQ]. Per-subcarrier channels ``(B, Q, Q, T, N, N)``
    -> ``(B, Q, T N, Q T N)``: receiver q's one use of the band, [diag_t(H_q1^(t)) ...
    diag_t(H_qQ^(t))]."""
    if channels.ndim == 6:
        lifted = subcarrier_block_diagonal(channels)  # (B, Q, Q, T N, T N)
        b, q, _, rows, columns = lifted.shape
        return lifted.permute(0, 1, 3, 2, 4).reshape(b, q, rows, q * columns)
    b, q, _, n_r, n_t = channels.shape
    return channels.permute(0, 1, 3, 2, 4).reshape(b, q, n_r, q * n_t)
