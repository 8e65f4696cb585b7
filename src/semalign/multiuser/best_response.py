"""Closed-form semantic best response of one secondary pair.

Given the others' interference plus noise covariance R, a pair's MSE after its Wiener decoder is

    MSE(F) = e_LS + tr(A (I + F^H K F)^{-1} A^H),   K = H^H R^{-1} H,

with A = E[y x~^H] the alignment matrix of whitened inputs x~ (m x d, complex) and e_LS the part no
transceiver can remove. The optimum pairs the i-th strongest semantic direction (right singular
vector of A, weight w_i = s_i^2) with the i-th strongest interference-whitened eigenmode of K (gain
lambda_i), with powers from semantic water-filling:

    F* = V_K[:, :k] diag(sqrt(p)) V_A[:, :k]^H,   MSE = e_LS + sum_{i<=k} w_i/(1 + lambda_i p_i) + sum_{i>k} w_i.

The three terms are the semantic mismatch, the channel and interference error, and the truncation
(compression) loss. The decoder is the Wiener filter G* = A F^H H^H (H F F^H H^H + R)^{-1}.
Everything is batched over leading axes and computed in complex128.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semalign.multiuser.prices import price_search
from semalign.multiuser.water_filling import semantic_water_filling

_DTYPE = torch.complex128


@dataclass(frozen=True)
class BestResponse:
    """A pair's best response.

    Attributes:
        precoder: ``(..., n_T, d)`` F*, with ||F*||_F^2 = P.
        decoder: ``(..., m, n_R)`` Wiener G* for F*.
        powers: ``(..., k)`` stream powers p_i (sum P).
        gains: ``(..., k)`` whitened eigenmode gains lambda_i paired with the streams.
        weights: ``(..., k)`` semantic weights w_i of the streams sent.
        mse: ``(...,)`` MSE above e_LS: sum_{i<=k} w_i/(1 + lambda_i p_i) + sum_{i>k} w_i.
        covariance: ``(..., n_T, n_T)`` Q = F* F*^H, all that other pairs see of this one.
    """

    precoder: torch.Tensor
    decoder: torch.Tensor
    powers: torch.Tensor
    gains: torch.Tensor
    weights: torch.Tensor
    mse: torch.Tensor
    covariance: torch.Tensor


def wiener_decoder(alignment: torch.Tensor, channel: torch.Tensor, precoder: torch.Tensor, interference: torch.Tensor) -> torch.Tensor:
    """G = A F^H H^H (H F F^H H^H + R)^{-1}: the MMSE decoder ``(..., m, n_R)``."""
    hf = channel @ precoder
    system = hf @ hf.mH + interference
    return torch.linalg.solve(system, hf @ alignment.mH).mH  # system is Hermitian


def pair_mse(alignment: torch.Tensor, channel: torch.Tensor, precoder: torch.Tensor, decoder: torch.Tensor, interference: torch.Tensor) -> torch.Tensor:
    """MSE above e_LS of any (F, G): ||A||^2 - 2 Re tr(G H F A^H) + tr(G (H F F^H H^H + R) G^H)."""
    hf = channel @ precoder
    cross = torch.diagonal(decoder @ hf @ alignment.mH, dim1=-2, dim2=-1).sum(-1).real
    covariance = hf @ hf.mH + interference
    quadratic = torch.diagonal(decoder @ covariance @ decoder.mH, dim1=-2, dim2=-1).sum(-1).real
    return alignment.abs().square().sum((-2, -1)) - 2 * cross + quadratic


def whitened_gram(channel: torch.Tensor, interference: torch.Tensor) -> torch.Tensor:
    """K = H^H R^{-1} H ``(..., n_T, n_T)``, the interference-whitened channel Gram matrix.

    Raises ``ValueError`` unless R is Hermitian positive definite.
    """
    if channel.shape[-2] != interference.shape[-1] or interference.shape[-1] != interference.shape[-2]:
        raise ValueError(f"interference must be (n_R, n_R) = ({channel.shape[-2]}, {channel.shape[-2]}), got {tuple(interference.shape[-2:])}")
    chol, info = torch.linalg.cholesky_ex((interference + interference.mH) / 2)
    if bool((info != 0).any()):
        raise ValueError("interference must be Hermitian positive definite (it includes the noise covariance)")
    h_white = torch.linalg.solve_triangular(chol, channel, upper=False)  # L^{-1} H, L L^H = R
    k_mat = h_white.mH @ h_white
    return (k_mat + k_mat.mH) / 2


def concentrated_mse(alignment: torch.Tensor, gram: torch.Tensor, precoder: torch.Tensor) -> torch.Tensor:
    """MSE above e_LS with the Wiener decoder: tr(A (I + F^H K F)^{-1} A^H) ``(...,)``."""
    d = precoder.shape[-1]
    system = torch.eye(d, dtype=precoder.dtype, device=precoder.device) + precoder.mH @ gram @ precoder
    return torch.diagonal(alignment @ torch.linalg.solve(system, alignment.mH), dim1=-2, dim2=-1).sum(-1).real


def _semantic_directions(alignment: torch.Tensor, n_tx: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Weights w (all of them, descending), V_A^H rows and the stream count k = min(n_T, d, m)."""
    _, s, vh_a = torch.linalg.svd(alignment, full_matrices=False)
    return s.square(), vh_a, min(n_tx, s.shape[-1])


def align_degenerate_eigenvectors(values: torch.Tensor, vectors: torch.Tensor, reference: torch.Tensor, tolerance: float = 1e-8) -> torch.Tensor:
    """Choose, inside every (near-)degenerate eigenspace, the basis closest to ``reference``.

    With repeated eigenvalues (e.g. the T-fold repetition of a channel lifted over T channel uses)
    the eigenvectors are only defined up to a unitary rotation within each eigenspace, and a solver
    returns an arbitrary one; a best response built on them then jumps between equally good
    answers. This rotates each cluster of eigenvalues within ``tolerance`` (relative to the largest)
    by the unitary U maximising Re tr(W^H V U) (orthogonal Procrustes, block diagonal over
    clusters), which changes nothing where eigenvalues are distinct.

    Args:
        values: ``(..., n)`` eigenvalues sorted (either order); vectors: ``(..., n, n)`` matching columns.
        reference: ``(..., n, c)`` directions to stay close to (c <= n; missing columns count as 0).
    """
    n = values.shape[-1]
    scale = values.abs().amax(-1, keepdim=True).clamp_min(1e-300)
    new_cluster = torch.cat([torch.ones_like(values[..., :1], dtype=torch.bool), (values[..., 1:] - values[..., :-1]).abs() > tolerance * scale], -1)
    cluster = new_cluster.long().cumsum(-1)
    same = (cluster.unsqueeze(-1) == cluster.unsqueeze(-2)).to(vectors.dtype)  # block-diagonal mask
    padded = torch.zeros(*reference.shape[:-1], n, dtype=vectors.dtype, device=vectors.device)
    padded[..., : reference.shape[-1]] = reference.to(vectors.dtype)
    overlap = (vectors.mH @ padded) * same
    # The polar factor of a nonsingular block-diagonal matrix is block diagonal; the small identity
    # keeps blocks without reference (zero overlap) at the identity rotation.
    eye = torch.eye(n, dtype=vectors.dtype, device=vectors.device)
    left, _, right_h = torch.linalg.svd(overlap + 1e-9 * eye)
    rotation = (left @ right_h) * same
    return vectors @ rotation


def semantic_best_response(alignment, channel, interference, power, *, method: str = "active-set", reference: torch.Tensor | None = None) -> BestResponse:
    """Best response of one pair to the interference-plus-noise covariance ``interference``.

    Args:
        alignment: ``(..., m, d)`` complex alignment matrix A (receiver latent vs whitened transmitter latent).
        channel: ``(..., n_R, n_T)`` the pair's direct channel H.
        interference: ``(..., n_R, n_R)`` Hermitian positive definite R (noise plus the others' interference).
        power: P > 0, a number or ``(...,)``.
        method: water-filling solver, see :func:`~semalign.multiuser.water_filling.semantic_water_filling`.
        reference: optional ``(..., n_T, d)`` precoder (the pair's current one): where K has repeated
            eigenvalues, the best response is not unique, and the one whose eigenmodes are closest
            to the reference's is returned (see :func:`align_degenerate_eigenvectors`), so iterations
            do not jump between equivalent answers.
    """
    a = torch.as_tensor(alignment).to(_DTYPE)
    h = torch.as_tensor(channel).to(_DTYPE)
    r = torch.as_tensor(interference).to(_DTYPE)
    lam, v_k = torch.linalg.eigh(whitened_gram(h, r))
    lam, v_k = lam.flip(-1).clamp_min(0.0), v_k.flip(-1)  # strongest first
    w_all, vh_a, k = _semantic_directions(a, h.shape[-1])
    if reference is not None:
        # The reference's stream directions: F_ref V_A = V_K,ref diag(sqrt(p_ref)).
        v_k = align_degenerate_eigenvectors(lam, v_k, torch.as_tensor(reference).to(_DTYPE) @ vh_a[..., :k, :].mH)
    weights, gains = w_all[..., :k], lam[..., :k]
    powers, _ = semantic_water_filling(weights, gains, power, method=method)
    precoder = (v_k[..., :, :k] * powers.sqrt().to(_DTYPE).unsqueeze(-2)) @ vh_a[..., :k, :]
    decoder = wiener_decoder(a, h, precoder, r)
    mse = (weights / (1 + gains * powers)).sum(-1) + w_all[..., k:].sum(-1)
    return BestResponse(precoder, decoder, powers, gains, weights, mse, precoder @ precoder.mH)


def _priced_precoder(gram, cost_values, cost_vectors, multiplier, w_all, vh_a, k):
    """Minimiser of tr(A (I + F^H K F)^{-1} A^H) + tr(F^H M F) for M = mu I + C.

    With M^{-1/2} K M^{-1/2} = V diag(lam) V^H (descending), F = M^{-1/2} V_k diag(sqrt(pbar)) V_A,k^H
    and pbar_i = [sqrt(w_i / lam_i) - 1 / lam_i]^+ (the water level is absorbed into M). C's
    eigenvectors diagonalise M for every mu, so only one eigendecomposition is needed per mu.
    """
    scale = (multiplier.unsqueeze(-1) + cost_values).rsqrt().to(_DTYPE)
    m_inv_sqrt = (cost_vectors * scale.unsqueeze(-2)) @ cost_vectors.mH
    k_bar = m_inv_sqrt @ gram @ m_inv_sqrt
    lam, v = torch.linalg.eigh((k_bar + k_bar.mH) / 2)
    lam, v = lam.flip(-1)[..., :k].clamp_min(0.0), v.flip(-1)[..., :, :k]
    w = w_all[..., :k]
    usable = (lam > 0) & (w > 0)
    safe = torch.where(usable, lam, torch.ones_like(lam))
    pbar = torch.where(usable, (torch.sqrt(w / safe) - 1 / safe).clamp_min(0.0), torch.zeros_like(lam))
    return (m_inv_sqrt @ v * pbar.sqrt().to(_DTYPE).unsqueeze(-2)) @ vh_a[..., :k, :]


def priced_best_response(alignment, channel, interference, power, pu_gram, prices, *, steps: int = 60) -> BestResponse:
    """Best response when interference at primary receivers is priced.

    Minimises MSE(F) + sum_p eta_p tr(G_p F F^H G_p^H) subject to ||F||_F^2 <= P. The power
    multiplier mu is found by bisection (the power is non-increasing in mu); with all prices zero
    it reaches the optimum of :func:`semantic_best_response` to bisection accuracy. ``powers``,
    ``gains`` and ``weights`` of the result are diagnostics along F's singular directions; ``mse``
    is exact.

    Args:
        alignment, channel, interference, power: as in :func:`semantic_best_response`.
        pu_gram: ``(..., J, n_T, n_T)`` C_p = G_p^H G_p of the pair's channels to the primary receivers.
        prices: ``(..., J)`` eta_p >= 0.
        steps: bisection steps on log(mu).
    """
    a = torch.as_tensor(alignment).to(_DTYPE)
    h = torch.as_tensor(channel).to(_DTYPE)
    r = torch.as_tensor(interference).to(_DTYPE)
    eta = torch.as_tensor(prices, dtype=torch.float64, device=a.device)
    gram = whitened_gram(h, r)
    w_all, vh_a, k = _semantic_directions(a, h.shape[-1])
    batch = gram.shape[:-2]
    p_total = torch.as_tensor(power, dtype=torch.float64, device=a.device).expand(batch)
    cost = (eta.to(_DTYPE)[..., None, None] * pu_gram).sum(-3)
    cost_values, cost_vectors = torch.linalg.eigh((cost + cost.mH) / 2)
    cost_values = cost_values.clamp_min(0.0)

    def precoder_at(mu):
        return _priced_precoder(gram, cost_values, cost_vectors, mu, w_all, vh_a, k)

    def power_at(mu):
        return precoder_at(mu).abs().square().sum((-2, -1))

    # The unpriced water level bounds mu from above up to a few doublings; check and widen.
    lam = torch.linalg.eigvalsh(gram).flip(-1)[..., :k].clamp_min(0.0)
    _, level = semantic_water_filling(w_all[..., :k], lam, p_total)
    high = torch.where(level > 0, level.clamp_min(1e-150) ** -2, torch.ones_like(level)) * 4.0
    for _ in range(60):
        over = power_at(high) > p_total
        if not bool(over.any()):
            break
        high = torch.where(over, high * 16.0, high)
    low = high * 1e-15
    slack = power_at(low) <= p_total  # the priced optimum uses less than P: mu ~ 0
    log_low, log_high = low.log(), high.log()
    for _ in range(int(steps)):
        mid = (log_low + log_high) / 2
        over = power_at(mid.exp()) > p_total
        log_low, log_high = torch.where(over, mid, log_low), torch.where(over, log_high, mid)
    mu = torch.where(slack, low, log_high.exp())
    precoder = precoder_at(mu)
    return _response(a, h, r, gram, precoder, w_all, k)


def _response(a, h, r, gram, precoder, w_all, k) -> BestResponse:
    """Package a precoder with its Wiener decoder, stream powers and MSE (exact concentrated form)."""
    covariance = precoder @ precoder.mH
    # Stream powers and gains along the precoder's own singular directions.
    u, s, _ = torch.linalg.svd(precoder, full_matrices=False)
    powers = s[..., :k].square()
    gains = torch.diagonal(u.mH @ gram @ u, dim1=-2, dim2=-1).real[..., :k]
    mse = concentrated_mse(a, gram, precoder)
    return BestResponse(precoder, wiener_decoder(a, h, precoder, r), powers, gains, w_all[..., :k], mse, covariance)


def _ratio_precoder(a, gram, pu_gram, ratios, power, w_all, vh_a, k, reference=None) -> torch.Tensor:
    """The priced minimiser for M = mu (I + sum_p t_p C_p), with mu set by the power budget.

    With S = (I + sum_p t_p C_p)^{-1/2} and S K S = V diag(lam) V^H (descending), the minimiser is
    F = S V_k diag(sqrt(q)) V_A,k^H with q_i = [nu sqrt(w_i/lam_i) - 1/lam_i]^+ and nu = mu^{-1/2}.
    Its power sum_i q_i ||S v_i||^2 is piecewise linear and increasing in nu, so nu is exact: a
    water-filling with column weights ||S v_i||^2 (with the ratios t_p = eta_p / mu).
    """
    cost = (ratios.to(_DTYPE)[..., None, None] * pu_gram).sum(-3)
    c_vals, c_vecs = torch.linalg.eigh((cost + cost.mH) / 2)
    s_mat = (c_vecs * (1 + c_vals.clamp_min(0.0)).rsqrt().to(_DTYPE).unsqueeze(-2)) @ c_vecs.mH
    k_t = s_mat @ gram @ s_mat
    lam, v = torch.linalg.eigh((k_t + k_t.mH) / 2)
    lam, v = lam.flip(-1), v.flip(-1)
    if reference is not None:  # tie-break inside degenerate eigenspaces, in the coordinates of V
        s_inv = (c_vecs * (1 + c_vals.clamp_min(0.0)).sqrt().to(_DTYPE).unsqueeze(-2)) @ c_vecs.mH
        v = align_degenerate_eigenvectors(lam, v, s_inv @ reference @ vh_a[..., :k, :].mH)
    lam, v = lam[..., :k].clamp_min(0.0), v[..., :, :k]
    columns = s_mat @ v
    col_energy = columns.abs().square().sum(-2)  # ||S v_i||^2
    w = w_all[..., :k]
    usable = (lam > 0) & (w > 0)
    safe = torch.where(usable, lam, torch.ones_like(lam))
    root = torch.where(usable, torch.sqrt(w / safe), torch.zeros_like(lam))
    inv = torch.where(usable, 1 / safe, torch.zeros_like(lam))
    # Exact level: modes switch on in decreasing order of root/inv = sqrt(w lam); for the n strongest,
    # nu_n = (P + sum a_i inv_i) / sum a_i root_i; take the largest n whose weakest mode is on.
    order = torch.argsort(torch.where(usable, w * lam, torch.full_like(w, -1.0)), dim=-1, descending=True)
    r_s, i_s, a_s, u_s = (torch.gather(t, -1, order) for t in (root, inv, col_energy, usable))
    p_total = torch.as_tensor(power, dtype=torch.float64, device=lam.device).expand(lam.shape[:-1])
    levels = (p_total.unsqueeze(-1) + (a_s * i_s).cumsum(-1)) / (a_s * r_s).cumsum(-1).clamp_min(1e-300)
    valid = (levels * r_s - i_s > 0) & u_s
    count = (valid.long() * torch.arange(1, k + 1, device=lam.device)).amax(-1).clamp_min(1)
    nu = torch.gather(levels, -1, (count - 1).unsqueeze(-1))
    q = torch.where(usable, (nu * root - inv).clamp_min(0.0), torch.zeros_like(lam))
    return (columns * q.sqrt().to(_DTYPE).unsqueeze(-2)) @ vh_a[..., :k, :]


def budgeted_best_response(
    alignment, channel, interference, power, pu_channels, limits, *, steps: int = 40, reference=None, pu_error=None
) -> tuple[BestResponse, torch.Tensor]:
    """Best response under the pair's individual interference budgets tr(G_p Q G_p^H) <= I_p.

    The dual is searched over the price ratios t_p = eta_p / mu (bisection per ratio, coordinate
    sweeps for several primary users); for each ratio vector the power multiplier is exact
    (:func:`_ratio_precoder`). Where a limit cannot be met with the budget fully used (mu = 0, an
    infinite ratio), the absolute prices are searched instead with the power multiplier free
    (:func:`priced_best_response`). The problem is not convex in F, but the duality gap was zero in
    every check (spec T3b and the tests). A residual violation from coordinate sweeps (several
    primary users) is removed by scaling F down, which keeps it feasible.

    Args:
        pu_channels: ``(..., J, N_p, n_T)`` G_p.
        limits: ``(..., J)`` I_p > 0.
        reference: optional current precoder ``(..., n_T, d)``, the tie-break inside degenerate
            eigenspaces (see :func:`semantic_best_response`).
        pu_error: optional ``(..., J)`` e_p >= 0, the expected load per unit of transmit energy the
            channel estimate misses (s_p N_p for an error of variance s_p per entry of G_p): the
            budgets then hold in expectation over the error, tr((G_p^H G_p + e_p I) Q) <= I_p
            (the extra term only makes power more expensive; robust designs).

    Returns:
        ``(response, ratios (..., J))`` with ratios t_p = eta_p / mu (``inf`` where mu = 0). For
        these priced responses, ``powers``, ``gains`` and ``weights`` of the response are diagnostics
        (squared singular values of F, u^H K u along them, and the leading semantic weights); ``mse``
        is exact (the concentrated MSE of F).
    """
    a = torch.as_tensor(alignment).to(_DTYPE)
    h = torch.as_tensor(channel).to(_DTYPE)
    r = torch.as_tensor(interference).to(_DTYPE)
    g = torch.as_tensor(pu_channels).to(_DTYPE)
    pu_gram = g.mH @ g
    if pu_error is not None:  # E[G^H G] = Ĝ^H Ĝ + s N_p I
        eye = torch.eye(g.shape[-1], dtype=_DTYPE, device=g.device)
        pu_gram = pu_gram + torch.as_tensor(pu_error, dtype=torch.float64, device=g.device).to(_DTYPE)[..., None, None] * eye
    limits = torch.as_tensor(limits, dtype=torch.float64, device=a.device)
    gram = whitened_gram(h, r)
    w_all, vh_a, k = _semantic_directions(a, h.shape[-1])
    ref = None if reference is None else torch.as_tensor(reference).to(_DTYPE)

    def evaluate(ratios):
        precoder = _ratio_precoder(a, gram, pu_gram, ratios, power, w_all, vh_a, k, ref)
        return precoder, _pu_load(pu_gram, precoder @ precoder.mH)

    ratios, precoder, load = price_search(evaluate, limits, steps=steps)
    unreachable = (load > limits * (1 + 1e-9)).any(-1)
    if bool(unreachable.any()):
        # The limit binds so hard that the budget P is not used (mu = 0, no finite ratio): search
        # the absolute prices with the power multiplier free (nested bisection; only where needed).
        def evaluate_prices(eta):
            response = priced_best_response(a, h, r, power, pu_gram, eta, steps=steps)
            return response.precoder, _pu_load(pu_gram, response.covariance)

        _, exact, exact_load = price_search(evaluate_prices, limits, steps=steps)
        precoder = torch.where(unreachable[..., None, None], exact, precoder)
        load = torch.where(unreachable.unsqueeze(-1), exact_load, load)
        ratios = torch.where(unreachable.unsqueeze(-1), torch.full_like(ratios, float("inf")), ratios)  # mu = 0
    # A residual from coordinate sweeps (several primary users): scale down to feasibility.
    scale = (limits / load.clamp_min(1e-300)).clamp(max=1.0).amin(-1)
    precoder = precoder * scale.sqrt().to(_DTYPE)[..., None, None]
    return _response(a, h, r, gram, precoder, w_all, k), ratios


def _pu_load(pu_gram: torch.Tensor, covariance: torch.Tensor) -> torch.Tensor:
    """``(..., J)`` tr(G_p Q G_p^H) = tr(C_p Q)."""
    return torch.diagonal(pu_gram @ covariance.unsqueeze(-3), dim1=-2, dim2=-1).sum(-1).real
