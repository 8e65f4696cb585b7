"""What each pair of the interference game learns from its semantic pilots.

Per pair and seed: pack the real latents into complex ones (first half real, second half
imaginary), whiten the transmitter's pilots (x~ = L^{-1}(x - mu_x), unit sample covariance), centre
the receiver's (ybar = y - mu_y) and take the least-squares alignment A = Ybar X~^H / (n - 1), the
residual e^LS = tr R_yy - ||A||_F^2 (what no linear transceiver removes) and the total energy tr R_yy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semalign.latents import LatentPair, select_pilots
from semalign.link.packing import pack_complex
from semalign.link.whitening import Whitener, fit_whitener
from semalign.multiuser.network import DTYPE


@dataclass(frozen=True)
class PairPilots:
    """What one pair learns from its pilots, for one seed."""

    whitener: Whitener
    rx_mean: torch.Tensor  # (m,) complex
    alignment: torch.Tensor  # (m, d) complex128
    residual_mse: float
    total_energy: float  # tr R_yy
    n_pilots: int


def learn_pair_pilots(pair: LatentPair, seed: int, *, pilots_per_class: int, pilot_method: str, device) -> PairPilots:
    """The pilots of ``pair`` for ``seed`` (:func:`~semalign.latents.select_pilots`) and what they give."""
    idx = select_pilots(pair.train, pilots_per_class, method=pilot_method, seed=seed)
    x = pack_complex(pair.train.tx[idx].to(device, torch.float64))
    y = pack_complex(pair.train.rx[idx].to(device, torch.float64))
    n = x.shape[0]
    whitener = fit_whitener(x, name=f"pilots of pair {pair.tx_encoder}->{pair.rx_encoder}")
    x_white = whitener.whiten(x).to(DTYPE)
    y_mean = y.mean(0)
    y_centred = (y - y_mean).to(DTYPE)
    # The least-squares map Ybar X~^H (X~ X~^H)^{-1}: Ybar X~^H / (n - 1) when the whitening is exact,
    # a general solve when it was shrunk (fewer pilots than transmitter dimensions).
    cross = y_centred.mT @ x_white.conj()
    gram = x_white.mT @ x_white.conj()
    alignment = cross / (n - 1) if whitener.shrinkage == 0.0 else torch.linalg.solve(gram.mT, cross.mT).mT
    total = float(y_centred.abs().square().sum() / (n - 1))
    residual = float((y_centred.mT - alignment @ x_white.mT).abs().square().sum() / (n - 1))
    return PairPilots(whitener, y_mean, alignment, residual, total, n)
