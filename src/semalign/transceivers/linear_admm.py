"""Linear semantic precoder/decoder learned by ADMM.

Problem, in column form with whitened pilots X (m x n), centred targets Y (p x n), effective
channel H (T N_r x T N_t, block diagonal over the T channel uses) and noise variance sigma^2:

    min_{F, G}  (1/n) ||Y - G H F X||_F^2 + sigma^2 ||G||_F^2     s.t.  ||F||_F^2 <= P,

which is the expected per-sample squared error of the noisy link (the MMSE objective). ADMM splits
F = Z with Z in the power ball and iterates, with a scaled dual U:

    G <- Y X^H (HF)^H [ HF (X X^H) (HF)^H + n sigma^2 I ]^{-1}                (MMSE decoder)
    F <- argmin (1/n)||Y - M F X||^2 + rho ||F - Z + U||^2,  M = G H          (Sylvester equation)
    Z <- projection of F + U on {||Z||_F^2 <= P}
    U <- U + F - Z

Everything needs only the Gram statistics S = X X^H, C = Y X^H and tr(Y Y^H), computed in one pass
over the pilots. The iterations never form G: the F step needs only G^H G and G^H C, which follow
from K = C^H C (m x m, once per fit) as P K P^H and P K with P = A^{-1} HF, A the decoder's normal
matrix; so an iteration costs O(N m^2) whatever the number of pilots n and the receiver dimension p.
The F step's Sylvester equation (M^H M) F S + n rho F = M^H C + n rho (Z - U) is solved exactly by
diagonalising M^H M (N x N, every iteration) and S (m x m, once); with an exact whitening S = (n-1) I
and it is a plain linear solve (Cholesky). Differences from the published code: regulariser n sigma^2 (not
n sigma (1+j)), centred target with its mean restored, the returned precoder is the feasible Z and
the decoder is refitted to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semalign._checks import check_choice, check_positive, check_positive_int
from semalign._registry import register
from semalign._seeds import stream_generator
from semalign._vocabulary import PROCESSING
from semalign.link import mimo
from semalign.link.csi import error_covariance
from semalign.link.packing import pack_complex, unpack_complex
from semalign.link.whitening import Whitener, whitener_from_covariance
from semalign.transceivers.base import SemanticTransceiver
from semalign.transceivers.flops import complex_dense_flops, real_dense_flops

_DTYPE = torch.complex128  # the small matrices of the solver; the pass over the pilots stays in float32


DOMAINS = ("real", "complex")


@dataclass(frozen=True)
class GramStatistics:
    """Sufficient statistics of a pilot set for the linear solvers.

    In the ``"complex"`` domain the latents are packed into complex symbols (m = ceil(d_tx/2),
    p = ceil(d_rx/2)); in the ``"real"`` domain they stay real (m = d_tx, p = d_rx).

    Attributes:
        n: number of pilots.
        domain: ``"complex"`` or ``"real"``.
        whitener: transmitter-side whitening fitted on the pilots.
        y_mean: ``(..., p)`` mean of the receiver latents (packed in the complex domain).
        sxx: ``(..., m, m)`` whitened Gram X X^H (= (n - 1) I for an exact whitening).
        cyx: ``(..., p, m)`` cross Gram Y X^H of centred targets and whitened inputs.
        tr_yy: ``(...,)`` tr(Y Y^H) of the centred targets.
        d_tx, d_rx: real transmitter and receiver dimensions.
    """

    n: int
    domain: str
    whitener: Whitener
    y_mean: torch.Tensor
    sxx: torch.Tensor
    cyx: torch.Tensor
    tr_yy: torch.Tensor
    d_tx: int
    d_rx: int

    @property
    def isotropic(self) -> bool:
        """True when S = (n - 1) I to rounding (an exact whitening): the F step is then a plain solve."""
        eye = torch.eye(self.sxx.shape[-1], dtype=self.sxx.dtype, device=self.sxx.device)
        return bool(((self.sxx - (self.n - 1) * eye).abs().amax() <= 1e-9 * (self.n - 1)).item())


# Rows of pilots per block of the pass: the centred block stays small (no large temporary copy of
# the pilots) while each block product is still a large, efficient GEMM.
_PASS_BLOCK = 8192


def gram_statistics(x: torch.Tensor, y: torch.Tensor, domain: str = "real") -> GramStatistics:
    """One pass over the pilots: ``x`` ``(..., n, d_tx)``, ``y`` ``(..., n, d_rx)`` real -> statistics."""
    check_choice("domain", domain, DOMAINS)
    n = x.shape[-2]
    # The pass over the pilots runs in the input's precision (float32 latents: float32 products,
    # the fast path); everything after it is small and runs in double precision.
    pass_dtype = torch.float64 if torch.float64 in (x.dtype, y.dtype) else torch.float32
    xs, ys = x.to(pass_dtype), y.to(pass_dtype)
    x_mean, y_mean = xs.mean(-2, keepdim=True), ys.mean(-2, keepdim=True)
    # The only pass over the pilots, in column form X X^T and Y X^T, block by block. Only x is centred:
    # the centred columns of X sum to zero, so Y_c X_c^T = Y X_c^T exactly and y needs no centred copy.
    cxx = xs.new_zeros(*xs.shape[:-2], xs.shape[-1], xs.shape[-1])
    cyx = xs.new_zeros(*xs.shape[:-2], ys.shape[-1], xs.shape[-1])
    sum_yy = torch.zeros(xs.shape[:-2], dtype=torch.float64, device=xs.device)
    for start in range(0, n, _PASS_BLOCK):
        xb = xs[..., start : start + _PASS_BLOCK, :] - x_mean
        yb = ys[..., start : start + _PASS_BLOCK, :]
        cxx += xb.mT @ xb
        cyx += yb.mT @ xb
        flat = yb.flatten(-2).unsqueeze(-2)  # (..., 1, rows * d_rx): sum of squares as one dot product
        sum_yy += (flat @ flat.mT).squeeze((-2, -1)).to(torch.float64)
    cxx, cyx = cxx.to(torch.float64), cyx.to(torch.float64)
    x_mean, y_mean = x_mean.to(torch.float64), y_mean.to(torch.float64)
    # tr(Y_c Y_c^T) = sum ||y||^2 - n ||mean||^2; it only enters objective values, never the solution.
    tr_yy = (sum_yy - n * y_mean.square().sum((-2, -1))).clamp_min(0.0)
    if not all(bool(torch.isfinite(stat).all()) for stat in (cxx, cyx, tr_yy)):
        raise ValueError(
            "the pilot statistics are not finite: x or y holds NaN or infinite entries, or values so large "
            f"that their products overflow {pass_dtype}; expected finite latents of moderate scale"
        )
    if domain == "complex":
        # Packed c = a + j b from real halves [a, b]: sum c c^H = (AA + BB) + j (BA - AB), and the
        # same for Y X^H, so the complex statistics are assembled from the real blocks.
        cxx, cyx = _packed_gram(cxx), _packed_gram(cyx)
        x_mean, y_mean = pack_complex(x_mean), pack_complex(y_mean)
    dtype = _DTYPE if domain == "complex" else torch.float64
    whitener = whitener_from_covariance(x_mean.squeeze(-2).to(dtype), cxx / (n - 1), n=n, name="transmitter pilots")
    # Whitened statistics: X_w = L^{-1} X_c, so S = L^{-1} Cxx L^{-H} and C = Cyx L^{-H}.
    l_inv_cxx = torch.linalg.solve_triangular(whitener.chol, cxx, upper=False)
    sxx = torch.linalg.solve_triangular(whitener.chol, l_inv_cxx.mH, upper=False)  # L^{-1} (L^{-1} Cxx)^H
    cyx_w = torch.linalg.solve_triangular(whitener.chol.conj(), cyx.mT, upper=False).mT  # Cyx L^{-H}
    sxx = (sxx + sxx.mH) / 2
    return GramStatistics(
        n=n, domain=domain, whitener=whitener, y_mean=y_mean.squeeze(-2).to(dtype), sxx=sxx, cyx=cyx_w,
        tr_yy=tr_yy, d_tx=x.shape[-1], d_rx=y.shape[-1],
    )


def _packed_gram(g_yx: torch.Tensor) -> torch.Tensor:
    """Complex Gram Y X^H of packed symbols from the real Gram ``g_yx`` = Y_r X_r^T ``(..., d_y, d_x)``.

    With x = [a; b] and y = [e; f] (zero-padded to even length), sum (e + j f)(a - j b)^T =
    (E A + F B) + j (F A - E B) in block notation.
    """
    g = torch.nn.functional.pad(g_yx, (0, g_yx.shape[-1] % 2, 0, g_yx.shape[-2] % 2))
    hy, hx = g.shape[-2] // 2, g.shape[-1] // 2
    ea, eb, fa, fb = g[..., :hy, :hx], g[..., :hy, hx:], g[..., hy:, :hx], g[..., hy:, hx:]
    return torch.complex(ea + fb, fa - eb)


def _decoder_system(stats: GramStatistics, hf: torch.Tensor, sigma2: torch.Tensor, omega: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The MMSE decoder's normal matrix A = HF S (HF)^H + Omega + n sigma^2 I ``(b, N_r, N_r)`` and
    HF S (HF)^H (Omega: the channel error's contribution of a robust design, else nothing)."""
    if stats.isotropic:
        gram = (stats.n - 1) * (hf @ hf.mH)  # S = (n - 1) I: one product fewer
    else:
        gram = hf @ stats.sxx @ hf.mH
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    # A relative 1e-12 loading keeps the noiseless (unaware) case solvable when HF is rank deficient.
    loading = stats.n * sigma2.view(-1, 1, 1) + 1e-12 * torch.diagonal(gram, dim1=-2, dim2=-1).real.mean(-1).view(-1, 1, 1)
    system = gram + loading * eye
    return (system if omega is None else system + omega), gram


def mmse_decoder(stats: GramStatistics, hf: torch.Tensor, sigma2: torch.Tensor, omega: torch.Tensor | None = None) -> torch.Tensor:
    """G step: the MMSE decoder ``(b, p, N_r)`` for the effective map ``hf = H F`` ``(b, N_r, m)``.

    Solves G (HF S (HF)^H + Omega + n sigma^2 I) = C (HF)^H, where sigma^2 is the noise variance
    per dimension of ``hf``'s output: the complex variance, or half of it per real dimension, and
    Omega = E[Delta F S F^H Delta^H] the channel error's second moment (robust designs only).
    """
    system, _ = _decoder_system(stats, hf, sigma2, omega)
    rhs = (stats.cyx @ hf.mH).mH  # (HF) C^H
    return torch.linalg.solve(system, rhs).mH


@dataclass(frozen=True)
class DecoderProducts:
    """What the F step and the objective need from the MMSE decoder G, without forming G.

    With P = A^{-1} HF and K = C^H C: G^H C = P K and G^H G = P K P^H, both ``(b, N_r, ·)``, so an
    iteration costs O(N m^2) whatever the receiver dimension p.

    Attributes:
        g_h_c: ``(b, N_r, m)`` G^H C.
        g_h_g: ``(b, N_r, N_r)`` G^H G.
        gram: ``(b, N_r, N_r)`` HF S (HF)^H.
    """

    g_h_c: torch.Tensor
    g_h_g: torch.Tensor
    gram: torch.Tensor


def decoder_products(stats: GramStatistics, hf: torch.Tensor, sigma2: torch.Tensor, c_h_c: torch.Tensor, omega: torch.Tensor | None = None) -> DecoderProducts:
    """G step in product form for ``hf`` ``(b, N_r, m)``; ``c_h_c`` is K = C^H C ``(..., m, m)``."""
    system, gram = _decoder_system(stats, hf, sigma2, omega)
    p_mat = torch.linalg.solve(system, hf)  # A^{-1} HF (A is Hermitian, so G^H = P C^H)
    g_h_c = p_mat @ c_h_c
    return DecoderProducts(g_h_c=g_h_c, g_h_g=g_h_c @ p_mat.mH, gram=gram)


def objective_from_products(stats: GramStatistics, hf: torch.Tensor, products: DecoderProducts, sigma2: torch.Tensor, omega: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`alignment_objective` of (F, G) from :class:`DecoderProducts`, at no extra product cost.

    (1/n)(tr(Y Y^H) - 2 Re tr(G HF C^H) + tr(G^H G (HF S HF^H + Omega))) + sigma^2 tr(G^H G), with
    tr(G HF C^H) = sum(HF * conj(G^H C)).
    """
    cross = (hf * products.g_h_c.conj()).sum((-2, -1)).real
    gram = products.gram if omega is None else products.gram + omega
    quadratic = (products.g_h_g * gram.mT).sum((-2, -1)).real
    trace_ghg = torch.diagonal(products.g_h_g, dim1=-2, dim2=-1).real.sum(-1)
    return (stats.tr_yy - 2 * cross + quadratic) / stats.n + sigma2 * trace_ghg


def precoder_step(
    stats: GramStatistics, m_h_m: torch.Tensor, m_h_c: torch.Tensor, z_minus_u: torch.Tensor, rho: float, sxx_eig=None
) -> torch.Tensor:
    """F step: solve (M^H M) F S + n rho F = M^H C + n rho (Z - U) exactly, for M = G H.

    Args:
        m_h_m: ``(b, N_t, N_t)`` M^H M = H^H (G^H G) H.
        m_h_c: ``(b, N_t, m)`` M^H C = H^H (G^H C).
        z_minus_u: ``(b, N_t, m)``.
        sxx_eig: ``(eigenvalues (..., m), eigenvectors (..., m, m))`` of S, computed once per fit; or
            ``None`` when S = (n - 1) I (``stats.isotropic``), where the equation is the linear system
            ((n - 1) M^H M + n rho I) F = right-hand side, solved by Cholesky.
    """
    n_rho = stats.n * rho
    rhs = m_h_c + n_rho * z_minus_u
    if sxx_eig is None:
        eye = torch.eye(m_h_m.shape[-1], dtype=m_h_m.dtype, device=m_h_m.device)
        return torch.cholesky_solve(rhs, torch.linalg.cholesky((stats.n - 1) * m_h_m + n_rho * eye))
    lam_s, q_s = sxx_eig
    lam_m, q_m = torch.linalg.eigh(m_h_m)
    rotated = q_m.mH @ rhs @ q_s
    rotated = rotated / (lam_m.unsqueeze(-1) * lam_s.unsqueeze(-2) + n_rho)
    return q_m @ rotated @ q_s.mH


def noise_per_dimension(stats: GramStatistics, sigma2: torch.Tensor) -> torch.Tensor:
    """Complex noise variance -> variance per solver dimension (halved per real component)."""
    return sigma2 if stats.domain == "complex" else sigma2 / 2


def alignment_objective(stats: GramStatistics, hf: torch.Tensor, g: torch.Tensor, sigma2: torch.Tensor, omega: torch.Tensor | None = None) -> torch.Tensor:
    """Expected per-sample squared error (1/n)||Y - G HF X||^2 + sigma^2 ||G||^2, ``(b,)`` (plus
    (1/n) tr(G Omega G^H), the channel error's share, for a robust design).

    Uses only small products: tr(K S K^H) = tr(G^H G (HF S HF^H)) and tr(K C^H) = tr(G (HF C^H))
    for K = G HF, so the cost is O(N m (m + p)), like an iteration.
    """
    gram = hf @ stats.sxx @ hf.mH  # (b, N, N)
    if omega is not None:
        gram = gram + omega
    cross = (g * (hf @ stats.cyx.mH).mT).sum((-2, -1))  # tr(G HF C^H)
    fit = stats.tr_yy - 2 * cross.real + ((g.mH @ g) * gram.mT).sum((-2, -1)).real  # tr(G^H G gram)
    return fit / stats.n + sigma2 * g.abs().square().sum((-2, -1))


@dataclass(frozen=True)
class _ErrorMoments:
    """Second moments of the channel error Delta (I_T (x) D, or its real composite) in the solver.

    A robust design minimises the training MSE averaged over D ~ CN(0, s) per entry, s = ε v. As D is
    independent of the estimate, the average adds (1/n) E||G Delta F X||^2 = (1/n) tr(G Omega G^H) to
    the objective, with Omega = E[Delta F S F^H Delta^H] (:func:`~semalign.link.csi.error_covariance`):
    the decoder's normal matrix gains Omega, and the precoder's equation gains Psi F S, where
    Psi = adjoint of the same map applied to G^H G. Both are closed forms: a robust fit costs what a
    naive one does, plus two small products per iteration.
    """

    stats: GramStatistics
    variance: float
    uses: int  # diagonal blocks of Delta (channel uses sharing D, or subcarriers with their own)
    n_rx: int  # rows and columns per block
    n_tx: int
    independent: bool = False  # blocks with independent errors (subcarriers)

    def covariance(self, f: torch.Tensor) -> torch.Tensor:
        """Omega ``(b, rows of H_eff, rows of H_eff)`` for precoder ``f``."""
        fsf = (self.stats.n - 1) * (f @ f.mH) if self.stats.isotropic else f @ self.stats.sxx @ f.mH
        return error_covariance(fsf, self.variance, uses=self.uses, size=self.n_rx, domain=self.stats.domain, independent=self.independent)

    def adjoint(self, g_h_g: torch.Tensor) -> torch.Tensor:
        """Psi ``(b, columns of H_eff, columns of H_eff)`` for G^H G ``g_h_g``."""
        return error_covariance(g_h_g, self.variance, uses=self.uses, size=self.n_tx, domain=self.stats.domain, independent=self.independent)


@register("linear-admm", "single-link", batched=("snr_db",), description="linear precoder/decoder learned by ADMM")
class LinearSemanticTransceiver(SemanticTransceiver):
    """Linear semantic precoder F and decoder G learned by ADMM from semantic pilots.

    The transmitter whitens x and sends s = F x_w (T x N_t complex symbols, ||F||_F^2 <= P, i.e. an
    average energy P per latent); the receiver outputs ŷ = G r + mu_y.

    ``processing`` chooses the class of linear maps:

    - ``"strictly-linear"``: the published formulation. x is packed into m = ceil(d_tx/2) complex
      symbols and F, G are complex matrices acting on the packed symbols and the received symbols.
    - ``"widely-linear"`` (default): F and G are real-linear maps, i.e. they act on real and
      imaginary parts separately (s = F_1 x + j F_2 x; ŷ = G_1 Re r + G_2 Im r). Packed real latents
      are improper complex vectors, for which widely linear processing is the optimal linear
      processing; strictly linear maps are the subset that commutes with multiplication by j. The
      same ADMM runs on the real composite channel [[Re H, -Im H], [Im H, Re H]] with noise
      variance sigma^2/2 per real dimension. At the same channel uses it reaches a lower MSE than
      the strictly linear solution (which it contains), with the same cost per iteration.

    Args:
        channel, snr_db, power, snr_convention, channel_variance, channel_uses, awareness, seed,
            device: the link, see :class:`~semalign.transceivers.base.SemanticTransceiver`.
        rho: ADMM penalty (per-sample scaling, as published: 100).
        iterations: number of ADMM iterations (20 as published), or the cap when ``tol`` is set.
        tol: stop early once every configuration's relative primal and dual residuals are below it.
        init: ``"spectral"`` (default) or ``"random"`` start, see :meth:`initial_precoder`.
        processing: ``"widely-linear"`` (default) or ``"strictly-linear"`` (see above).

    Attributes (after ``fit``):
        precoder_: F, the feasible ADMM variable Z: ``(b, T N_t, m)`` complex (strictly linear) or
            ``(b, 2 T N_t, d_tx)`` real acting on [Re s; Im s] (widely linear).
        decoder_: G, the MMSE decoder refitted to ``precoder_``: ``(b, p, T N_r)`` complex or
            ``(b, d_rx, 2 T N_r)`` real acting on [Re r; Im r].
        whitener_: the transmitter-side :class:`~semalign.link.whitening.Whitener`.
        y_mean_: ``(b or 1, p)`` receiver mean restored at the output.
        history_: per-iteration ``objective`` (training MSE per latent entry of the iterate F and its
            MMSE decoder, before that iteration's F step), ``primal_residual``,
            ``dual_residual``, each a list of ``(b,)`` tensors.
        n_iter_: iterations run.
    """

    method = "linear-admm"
    _private_state = ("_batched", "_tx_map", "_tx_offset")

    def __init__(
        self,
        channel: torch.Tensor | None = None,
        snr_db: float = 20.0,
        power: float = 1.0,
        rho: float = 100.0,
        iterations: int = 20,
        *,
        tol: float | None = None,
        snr_convention: str = "total", channel_variance: float = 1.0, channel_uses: int = 1,  # the link
        awareness: str = "aware",
        csi_error: float = 0.0,
        robust: bool = False,
        init: str = "spectral",
        processing: str = "widely-linear",
        seed: int = 0,
        device: str | torch.device | None = None,
        link=None,
    ) -> None:
        self._set_params(locals())
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        self.rho = check_positive("rho", self.rho)
        self.iterations = check_positive_int("iterations", self.iterations)
        self.tol = None if self.tol is None else check_positive("tol", self.tol)
        self.init = check_choice("init", self.init, ("spectral", "random"))
        self.processing = check_choice("processing", self.processing, PROCESSING)

    def initial_precoder(self, stats: GramStatistics) -> torch.Tensor:
        """Start F_0 (the shape of ``precoder_``) with ||F_0||_F^2 = P.

        ``init="spectral"`` (default, deterministic): send the k strongest right singular directions of
        the whitened alignment map C = Y X^H along the k strongest right singular vectors of the
        training channel, k = min(T N_t, T N_r, rank), with equal power; this is the structure of the
        solution for a well-conditioned channel, so ADMM starts close to it. ``init="random"``:
        i.i.d. CN(0, 1) entries from a generator seeded with ``seed``, scaled to the power budget.
        """
        t, n_tx, n_rx = self._current_link().channel_uses, self.n_tx, self.n_rx
        width = t * n_tx * (2 if stats.domain == "real" else 1)  # rows of F
        b, m = self.n_configurations, stats.sxx.shape[-1]
        if self.init == "random":
            gen = stream_generator("init", self.seed)
            # One draw shared by the batch, so a configuration starts alike alone or batched.
            parts = torch.randn((2, 1, width, m), generator=gen, dtype=torch.float64).expand(2, b, width, m)
            f0 = (torch.complex(parts[0], parts[1]) if stats.domain == "complex" else parts[0]).to(self.device_)
        else:
            k = min(width, t * n_rx * (2 if stats.domain == "real" else 1), *stats.cyx.shape[-2:])  # streams both carry
            # Right singular vectors of C as the leading eigenvectors of C^H C (m x m, cheaper than an SVD of C).
            _, eigvec = torch.linalg.eigh(stats.cyx.mH @ stats.cyx)
            v_align = mimo.canonical_phase(eigvec.flip(-1)[..., :k]).mH  # (..., k, m), strongest first
            v_chan = self._channel_directions(stats.domain)[..., :k]  # (b, rows of F, k)
            f0 = v_chan @ v_align.expand(b, k, m)
        return f0 * (self._current_link().power ** 0.5 / torch.linalg.matrix_norm(f0).view(-1, 1, 1))

    def _channel_directions(self, domain: str) -> torch.Tensor:
        """Right singular vectors of the solver's channel, strongest first, with a canonical phase.

        Built from the SVD of the n_rx x n_tx training channel itself, because the solver's channel
        I_T (x) H (and its real composite) has repeated singular values whose vectors a generic SVD
        returns in a backend-dependent basis: e_t (x) v_i for each use t, and, in the real domain,
        [Re c; Im c] and [-Im c; Re c] (the directions c and j c) for each complex direction c.
        """
        h = self._training_link()[0]
        v = mimo.canonical_phase(torch.linalg.svd(h, full_matrices=True).Vh.mH)  # (b, n_tx, n_tx)
        t = self._current_link().channel_uses
        eye_t = torch.eye(t, dtype=v.dtype, device=v.device)
        b, n_tx = v.shape[0], v.shape[-1]
        # Column i * T + u is e_u (x) v_i: row index u * n_tx + row of v.
        blocks = torch.einsum("uw,bni->buniw", eye_t, v).reshape(b, t * n_tx, n_tx * t)
        if domain == "complex":
            return blocks
        re, im = blocks.real, blocks.imag
        pairs = torch.stack([torch.cat([re, im], dim=-2), torch.cat([-im, re], dim=-2)], dim=-1)
        return pairs.reshape(b, 2 * t * n_tx, 2 * n_tx * t)

    def fit(self, x, y) -> "LinearSemanticTransceiver":
        """Learn F and G from pilots.

        Args:
            x: ``(n, d_tx)`` transmitter latents of the pilots, or ``(b, n, d_tx)`` one set per configuration.
            y: ``(n, d_rx)`` receiver latents of the same pilots (or ``(b, n, d_rx)``).

        Returns:
            self
        """
        x, y = self._check_fit_inputs(x, y)
        return self.fit_statistics(gram_statistics(x, y, self.domain))

    @property
    def domain(self) -> str:
        """Solver domain: ``"complex"`` for strictly linear, ``"real"`` for widely linear processing."""
        return "complex" if self.processing == "strictly-linear" else "real"

    def fit_statistics(self, stats: GramStatistics) -> "LinearSemanticTransceiver":
        """Learn F and G from precomputed :class:`GramStatistics` (shared or one per configuration)."""
        if stats.domain != self.domain:
            raise ValueError(f"statistics are in the {stats.domain!r} domain but processing={self.processing!r} needs {self.domain!r}")
        self._start_fit()
        self.check_antennas(stats.d_tx)
        self.d_tx_, self.d_rx_ = stats.d_tx, stats.d_rx
        h_train, sigma2 = self._training_link()
        h_eff = self._solver_channel(h_train)
        sigma2 = noise_per_dimension(stats, sigma2)
        power, rho = self._current_link().power, self.rho
        sxx_eig = None if stats.isotropic else torch.linalg.eigh(stats.sxx)
        c_h_c = stats.cyx.mH @ stats.cyx  # K = C^H C (m x m): the iterations never touch the p receiver dims

        errors = self._error_moments(stats)  # robust designs: the CSI error's second moments, else None

        f = self.initial_precoder(stats)
        z, u = f.clone(), torch.zeros_like(f)
        history: dict[str, list[torch.Tensor]] = {"objective": [], "primal_residual": [], "dual_residual": []}
        for iteration in range(1, self.iterations + 1):
            hf = h_eff @ f
            omega = None if errors is None else errors.covariance(f)
            g_step = decoder_products(stats, hf, sigma2, c_h_c, omega)  # the MMSE G for this F, in product form
            history["objective"].append(objective_from_products(stats, hf, g_step, sigma2, omega) / stats.d_rx)
            m_h_m = h_eff.mH @ g_step.g_h_g @ h_eff
            if errors is not None:
                m_h_m = m_h_m + errors.adjoint(g_step.g_h_g)
            f = precoder_step(stats, m_h_m, h_eff.mH @ g_step.g_h_c, z - u, rho, sxx_eig)
            z_prev = z
            z = mimo.project_power_ball(f + u, power)
            u = u + f - z
            primal = torch.linalg.matrix_norm(f - z)
            dual = rho * torch.linalg.matrix_norm(z - z_prev)
            history["primal_residual"].append(primal)
            history["dual_residual"].append(dual)
            if self.tol is not None:
                scale = torch.maximum(torch.linalg.matrix_norm(f), torch.linalg.matrix_norm(z)).clamp_min(1e-12)
                dual_scale = (rho * torch.linalg.matrix_norm(u)).clamp_min(1e-12)
                if bool(((primal <= self.tol * scale) & (dual <= self.tol * dual_scale)).all()):
                    break
        # Transmit with the feasible precoder and the decoder matched to it.
        self.precoder_ = z
        omega = None if errors is None else errors.covariance(z)
        self.decoder_ = mmse_decoder(stats, h_eff @ z, sigma2, omega)
        self.whitener_ = stats.whitener
        self.y_mean_ = stats.y_mean if stats.y_mean.ndim == 2 else stats.y_mean.unsqueeze(0)
        self.history_ = history
        self.n_iter_ = iteration
        self.statistics_ = stats
        self.training_objective_ = alignment_objective(stats, h_eff @ z, self.decoder_, sigma2, omega) / stats.d_rx
        # The whitening folded into the precoder, F L^{-1}, so transmitting is one product per sample.
        self._tx_map = torch.linalg.solve_triangular(stats.whitener.chol, z, upper=False, left=False)
        self._tx_offset = (self._tx_map @ stats.whitener.mean.unsqueeze(-1)).squeeze(-1).unsqueeze(-2)
        return self._finish_fit()

    def _error_moments(self, stats: GramStatistics) -> "_ErrorMoments | None":
        """The CSI error's second moments for a robust, channel-aware design with ``csi_error > 0``
        (else ``None``: the design treats its channel as exact, bit for bit the non-robust fit)."""
        link = self._current_link()
        if not (self.robust and self.awareness == "aware" and link.csi_error > 0):
            return None
        blocks, independent = link.error_blocks()
        t = link.channel_uses  # the solver's channel is I_T (x) H: T n_rx rows, T n_tx columns
        return _ErrorMoments(stats, link.error_variance(), blocks, t * self.n_rx // blocks, t * self.n_tx // blocks, independent)

    def inference_flops(self) -> torch.Tensor:
        """FLOPs ``(b,)`` per latent for the precoder (whitening folded in) and the decoder, counting
        non-zero weights (formula in :mod:`semalign.transceivers.flops`)."""
        self._check_fitted()
        dense = complex_dense_flops if self.domain == "complex" else real_dense_flops
        return (dense(self._tx_map) + dense(self.decoder_)).cpu()

    def _solver_channel(self, h: torch.Tensor) -> torch.Tensor:
        """The channel the solver sees: I_T (x) H, as its real composite for widely linear processing."""
        h_eff = mimo.block_diagonal_channel(h, self._current_link().channel_uses)
        return mimo.real_composite(h_eff) if self.domain == "real" else h_eff

    def _precode(self, x: torch.Tensor) -> torch.Tensor:
        # s = F L^{-1} (x - mu), with F L^{-1} and F L^{-1} mu precomputed at fit time. Like the pass
        # over the pilots, the per-sample work runs in the latents' precision (float32 -> complex64).
        real = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        if self.domain == "complex":
            cplx = torch.complex64 if real == torch.float32 else torch.complex128
            return pack_complex(x.to(real)) @ self._tx_map.to(cplx).mT - self._tx_offset.to(cplx)
        s = x.to(real) @ self._tx_map.to(real).mT - self._tx_offset.to(real)  # [Re s, Im s]
        half = s.shape[-1] // 2
        return torch.complex(s[..., :half], s[..., half:])

    def _decode(self, r: torch.Tensor) -> torch.Tensor:
        real = r.real.dtype
        if self.domain == "real":
            return torch.cat([r.real, r.imag], dim=-1) @ self.decoder_.to(real).mT + self.y_mean_.to(real).unsqueeze(-2)
        y_c = r @ self.decoder_.to(r.dtype).mT + self.y_mean_.to(r.dtype).unsqueeze(-2)
        return unpack_complex(y_c, self.d_rx_)


_MOVED_TO_LINK = ("block_diagonal_channel", "canonical_phase", "column_phases", "project_power_ball", "real_composite")


def __getattr__(name: str):
    # Shared MIMO maths moved to semalign.link.mimo in 0.2.0; the old names work for one release.
    if name in _MOVED_TO_LINK:
        import warnings

        warnings.warn(f"semalign.transceivers.linear_admm.{name} moved to semalign.link.mimo.{name}", DeprecationWarning, stacklevel=2)
        return getattr(mimo, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
