"""Linear semantic precoder/decoder learned by ADMM (spec mimo.md §2, with DESIGN.md's corrections).

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
over the pilots, so an iteration costs O(N m (m + p)) whatever the number of pilots n. The F step's
Sylvester equation (M^H M) F S + n rho F = M^H C + n rho (Z - U) is solved exactly by diagonalising
M^H M (N x N, every iteration) and S (m x m, once): with exact whitening S = (n-1) I and it is a
plain linear solve. Differences from the published code (spec §7): regulariser n sigma^2 (not
n sigma (1+j)), centred target with its mean restored, the returned precoder is the feasible Z and
the decoder is refitted to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semalign._checks import check_choice, check_positive, check_positive_int
from semalign.link.packing import pack_complex, unpack_complex
from semalign.link.whitening import Whitener, whitener_from_covariance
from semalign.transceivers.base import SemanticTransceiver

_DTYPE = torch.complex128  # the small matrices of the solver; the pass over the pilots stays in float32


DOMAINS = ("real", "complex")
PROCESSING = ("widely-linear", "strictly-linear")


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


def gram_statistics(x: torch.Tensor, y: torch.Tensor, domain: str = "real") -> GramStatistics:
    """One pass over the pilots: ``x`` ``(..., n, d_tx)``, ``y`` ``(..., n, d_rx)`` real -> statistics."""
    check_choice("domain", domain, DOMAINS)
    n = x.shape[-2]
    # The pass over the pilots runs in the input's precision (float32 latents: float32 products,
    # the fast path); everything after it is small and runs in double precision.
    pass_dtype = torch.float64 if torch.float64 in (x.dtype, y.dtype) else torch.float32
    xs, ys = x.to(pass_dtype), y.to(pass_dtype)
    x_mean, y_mean = xs.mean(-2, keepdim=True), ys.mean(-2, keepdim=True)
    xc, yc = xs - x_mean, ys - y_mean
    # The only pass over the pilots: real Gram products (fast real GEMM), in column form X X^T, Y X^T.
    cxx = (xc.mT @ xc).to(torch.float64)
    cyx = (yc.mT @ xc).to(torch.float64)
    tr_yy = yc.square().sum((-2, -1)).to(torch.float64)
    x_mean, y_mean = x_mean.to(torch.float64), y_mean.to(torch.float64)
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


def real_composite(h: torch.Tensor) -> torch.Tensor:
    """``(..., r, t)`` complex H -> ``(..., 2r, 2t)`` real [[Re H, -Im H], [Im H, Re H]].

    It maps [Re s; Im s] to [Re(H s); Im(H s)]: a real matrix acting on it is a widely linear map.
    """
    top = torch.cat([h.real, -h.imag], dim=-1)
    bottom = torch.cat([h.imag, h.real], dim=-1)
    return torch.cat([top, bottom], dim=-2)


def block_diagonal_channel(h: torch.Tensor, channel_uses: int) -> torch.Tensor:
    """``(b, n_rx, n_tx)`` -> ``(b, T n_rx, T n_tx)``: I_T (x) H, the channel seen by T symbol blocks."""
    if channel_uses == 1:
        return h
    b, nr, nt = h.shape
    out = h.new_zeros(b, channel_uses * nr, channel_uses * nt)
    for t in range(channel_uses):
        out[:, t * nr : (t + 1) * nr, t * nt : (t + 1) * nt] = h
    return out


def mmse_decoder(stats: GramStatistics, hf: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """G step: the MMSE decoder ``(b, p, N_r)`` for the effective map ``hf = H F`` ``(b, N_r, m)``.

    Solves G (HF S (HF)^H + n sigma^2 I) = C (HF)^H, where sigma^2 is the noise variance per
    dimension of ``hf``'s output: the complex variance, or half of it per real dimension.
    """
    gram = hf @ stats.sxx @ hf.mH
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    # A relative 1e-12 loading keeps the noiseless (unaware) case solvable when HF is rank deficient.
    loading = stats.n * sigma2.view(-1, 1, 1) + 1e-12 * torch.diagonal(gram, dim1=-2, dim2=-1).real.mean(-1).view(-1, 1, 1)
    rhs = (stats.cyx @ hf.mH).mH  # (HF) C^H
    return torch.linalg.solve(gram + loading * eye, rhs).mH


def precoder_step(stats: GramStatistics, m_mat: torch.Tensor, z_minus_u: torch.Tensor, rho: float, sxx_eig) -> torch.Tensor:
    """F step: solve (M^H M) F S + n rho F = M^H C + n rho (Z - U) exactly.

    Args:
        m_mat: ``(b, p, N_t)`` M = G H.
        z_minus_u: ``(b, N_t, m)``.
        sxx_eig: ``(eigenvalues (..., m), eigenvectors (..., m, m))`` of S, computed once per fit.
    """
    lam_s, q_s = sxx_eig
    lam_m, q_m = torch.linalg.eigh(m_mat.mH @ m_mat)
    n_rho = stats.n * rho
    rhs = m_mat.mH @ stats.cyx + n_rho * z_minus_u
    rotated = q_m.mH @ rhs @ q_s
    rotated = rotated / (lam_m.unsqueeze(-1) * lam_s.unsqueeze(-2) + n_rho)
    return q_m @ rotated @ q_s.mH


def project_power_ball(c: torch.Tensor, power: float) -> torch.Tensor:
    """Z step: Euclidean projection of each ``(b, N_t, m)`` matrix on {||Z||_F^2 <= P}."""
    norm = torch.linalg.matrix_norm(c).view(-1, 1, 1)
    return c * torch.clamp(power**0.5 / norm.clamp_min(1e-300), max=1.0)


def noise_per_dimension(stats: GramStatistics, sigma2: torch.Tensor) -> torch.Tensor:
    """Complex noise variance -> variance per solver dimension (halved per real component)."""
    return sigma2 if stats.domain == "complex" else sigma2 / 2


def alignment_objective(stats: GramStatistics, hf: torch.Tensor, g: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """Expected per-sample squared error (1/n)||Y - G HF X||^2 + sigma^2 ||G||^2, ``(b,)``.

    Uses only small products: tr(K S K^H) = tr(G^H G (HF S HF^H)) and tr(K C^H) = tr(G (HF C^H))
    for K = G HF, so the cost is O(N m (m + p)), like an iteration.
    """
    gram = hf @ stats.sxx @ hf.mH  # (b, N, N)
    cross = (g * (hf @ stats.cyx.mH).mT).sum((-2, -1))  # tr(G HF C^H)
    fit = stats.tr_yy - 2 * cross.real + ((g.mH @ g) * gram.mT).sum((-2, -1)).real  # tr(G^H G gram)
    return fit / stats.n + sigma2 * g.abs().square().sum((-2, -1))


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
        history_: per-iteration ``objective`` (training MSE per latent entry), ``primal_residual``,
            ``dual_residual``, each a list of ``(b,)`` tensors.
        n_iter_: iterations run.
    """

    method = "linear-admm"

    def __init__(
        self,
        channel: torch.Tensor,
        snr_db: float = 20.0,
        power: float = 1.0,
        rho: float = 100.0,
        iterations: int = 20,
        *,
        tol: float | None = None,
        snr_convention: str = "total",
        channel_variance: float = 1.0,
        channel_uses: int = 1,
        awareness: str = "aware",
        init: str = "spectral",
        processing: str = "widely-linear",
        seed: int = 0,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(
            channel,
            snr_db,
            power,
            snr_convention=snr_convention,
            channel_variance=channel_variance,
            channel_uses=channel_uses,
            awareness=awareness,
            seed=seed,
            device=device,
        )
        self.rho = check_positive("rho", rho)
        self.iterations = check_positive_int("iterations", iterations)
        self.tol = None if tol is None else check_positive("tol", tol)
        self.init = check_choice("init", init, ("spectral", "random"))
        self.processing = check_choice("processing", processing, PROCESSING)

    def initial_precoder(self, stats: GramStatistics, h_eff: torch.Tensor) -> torch.Tensor:
        """Start F_0 (the shape of ``precoder_``) with ||F_0||_F^2 = P.

        ``init="spectral"`` (default, deterministic): send the k strongest right singular directions of
        the whitened alignment map C = Y X^H along the k strongest right singular vectors of the
        training channel, k = min(T N_t, T N_r, rank), with equal power; this is the structure of the
        solution for a well-conditioned channel, so ADMM starts close to it. ``init="random"``:
        i.i.d. CN(0, 1) entries from a generator seeded with ``seed``, scaled to the power budget.
        """
        b, tn_tx, m = self.n_configurations, h_eff.shape[-1], stats.sxx.shape[-1]
        if self.init == "random":
            gen = torch.Generator(device="cpu").manual_seed(int(self.seed))
            parts = torch.randn((2, b, tn_tx, m), generator=gen, dtype=torch.float64)
            f0 = (torch.complex(parts[0], parts[1]) if stats.domain == "complex" else parts[0]).to(self.device_)
        else:
            k = min(h_eff.shape[-2], tn_tx, *stats.cyx.shape[-2:])  # streams the channel and the map both carry
            v_align = torch.linalg.svd(stats.cyx, full_matrices=False).Vh[..., :k, :]  # (..., k, m)
            v_chan = torch.linalg.svd(h_eff, full_matrices=True).Vh.mH[..., :k]  # (b, T N_t, k)
            f0 = v_chan @ v_align.expand(b, k, m)
        return f0 * (float(self.power) ** 0.5 / torch.linalg.matrix_norm(f0).view(-1, 1, 1))

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
        self.check_antennas(stats.d_tx)
        self.d_tx_, self.d_rx_ = stats.d_tx, stats.d_rx
        h_train, sigma2 = self._training_link()
        h_eff = self._solver_channel(h_train)
        sigma2 = noise_per_dimension(stats, sigma2)
        power, rho = float(self.power), self.rho
        sxx_eig = torch.linalg.eigh(stats.sxx)

        f = self.initial_precoder(stats, h_eff)
        z, u = f.clone(), torch.zeros_like(f)
        history: dict[str, list[torch.Tensor]] = {"objective": [], "primal_residual": [], "dual_residual": []}
        for iteration in range(1, self.iterations + 1):
            g = mmse_decoder(stats, h_eff @ f, sigma2)
            m_mat = g @ h_eff
            f = precoder_step(stats, m_mat, z - u, rho, sxx_eig)
            z_prev = z
            z = project_power_ball(f + u, power)
            u = u + f - z
            primal = torch.linalg.matrix_norm(f - z)
            dual = rho * torch.linalg.matrix_norm(z - z_prev)
            history["objective"].append(alignment_objective(stats, h_eff @ f, g, sigma2) / stats.d_rx)
            history["primal_residual"].append(primal)
            history["dual_residual"].append(dual)
            if self.tol is not None:
                scale = torch.maximum(torch.linalg.matrix_norm(f), torch.linalg.matrix_norm(z)).clamp_min(1e-12)
                dual_scale = (rho * torch.linalg.matrix_norm(u)).clamp_min(1e-12)
                if bool(((primal <= self.tol * scale) & (dual <= self.tol * dual_scale)).all()):
                    break
        # Transmit with the feasible precoder and the decoder matched to it.
        self.precoder_ = z
        self.decoder_ = mmse_decoder(stats, h_eff @ z, sigma2)
        self.whitener_ = stats.whitener
        self.y_mean_ = stats.y_mean if stats.y_mean.ndim == 2 else stats.y_mean.unsqueeze(0)
        self.history_ = history
        self.n_iter_ = iteration
        self.statistics_ = stats
        self.training_objective_ = alignment_objective(stats, h_eff @ z, self.decoder_, sigma2) / stats.d_rx
        return self

    def _solver_channel(self, h: torch.Tensor) -> torch.Tensor:
        """The channel the solver sees: I_T (x) H, as its real composite for widely linear processing."""
        h_eff = block_diagonal_channel(h, int(self.channel_uses))
        return real_composite(h_eff) if self.domain == "real" else h_eff

    def _precode(self, x: torch.Tensor) -> torch.Tensor:
        if self.domain == "complex":
            xw = self.whitener_.whiten(pack_complex(x).to(_DTYPE))  # (n, m) or (b, n, m)
            return xw @ self.precoder_.mT
        s = self.whitener_.whiten(x.to(torch.float64)) @ self.precoder_.mT  # [Re s, Im s]
        half = s.shape[-1] // 2
        return torch.complex(s[..., :half], s[..., half:])

    def _decode(self, r: torch.Tensor) -> torch.Tensor:
        if self.domain == "real":
            return torch.cat([r.real, r.imag], dim=-1) @ self.decoder_.mT + self.y_mean_.unsqueeze(-2)
        y_c = r @ self.decoder_.mT + self.y_mean_.unsqueeze(-2)
        return unpack_complex(y_c, self.d_rx_)
