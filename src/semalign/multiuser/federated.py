"""Federated latent-space alignment for a multi-user downlink (spec federated.md §1-§3).

An access point (AP) with its own encoder broadcasts to K users, each with its own encoder, latent
space and MIMO channel H_k (T channel uses lifted as I_T (x) H_k). The AP holds one shared semantic
pre-equaliser F (T N_t x m_0, complex, ||F||_F^2 <= P); user k holds a local equaliser G_k. They are
trained by ADMM on sum_k ||X_k,w - G_k H_k F S_w||^2 (+ noise) with the split F = Z, Z in the power
ball, as a sequence of explicit messages in which no latent leaves its owner:

1. downlink: the AP broadcasts its precoded whitened pilots F S_w; user k receives Y_k = H_k F S_w
   (n T channel uses);
2. user G step (MMSE, regulariser n sigma^2 I): G_k = X_k,w Y_k^H (Y_k Y_k^H + n sigma^2 I)^{-1};
3. uplink: with A_k = G_k H_k, user k sends M1_k = A_k^H A_k and M2_k = A_k^H X_k,w (never X_k, G_k);
4. AP F step, one of
   * ``"federated-admm"`` (exact consensus, spec §2.4): ((n-1) sum_k M1_k + n rho I) F =
     sum_k M2_k S_w^H + n rho (Z - U), the ADMM F update of the sum objective from the same messages;
   * ``"federated-prox"`` (the published variant): F_k = the same solve with user k's messages only,
     then F = mean_k F_k (a proximal average);
   * ``"multi-link"``: one precoder, split and dual per user (K single links, each with budget P);
5. power-ball projection Z = Pi_P(F + U) and dual update U += F - Z.

Corrections of the published code (spec §7): the MMSE regulariser is n sigma^2 I (published:
n sigma (1+j) added to every entry); transmission uses the feasible Z (published: F) with decoders
refitted to it; users de-whiten their estimates. With one user and the same start, rho and SNR
convention, ``federated-admm`` is exactly the single-link strictly linear ADMM
(:class:`~semalign.transceivers.LinearSemanticTransceiver`).

Every message is counted (bytes as complex64 entries, channel uses of the over-the-air broadcast) and,
with ``record_messages=True``, kept in ``messages_`` so what crosses the AP-user boundary can be
inspected.
"""

from __future__ import annotations

from typing import Sequence

import torch

from semalign._checks import check_choice, check_positive, check_positive_int
from semalign._dask import local_cluster
from semalign._registry import register
from semalign._vocabulary import EXECUTORS, PROCESSING
from semalign.link.link import Link
from semalign.link.mimo import project_power_ball
from semalign.link.packing import complex_dim, pack_complex, unpack_complex
from semalign.link.whitening import Whitener, fit_whitener
from semalign.multiuser.downlink import DownlinkEstimator, Message

VARIANTS = ("federated-admm", "federated-prox", "multi-link")


def _coordinates(latents: torch.Tensor, widely: bool) -> torch.Tensor:
    """The coordinates the linear maps act on: the real latent itself (widely linear) or its packed
    complex form (strictly linear; first half real part, second half imaginary part)."""
    return latents if widely else pack_complex(latents)


class _User:
    """A user's private state: whitened pilots, whitener, channel and equaliser.

    It lives where the user lives (in this process, or on a Dask worker), inside a
    :class:`_UserGroup` that runs its protocol steps.
    """

    def __init__(self, name: str, latents: torch.Tensor, channel: torch.Tensor, sigma2: float, widely: bool = False) -> None:
        self.name = name
        self.d = latents.shape[-1]
        self.widely = widely
        coords = _coordinates(latents, widely)
        self.whitener: Whitener = fit_whitener(coords, name=f"{name} pilots")
        self.x_white = self.whitener.whiten(coords).mT.to(channel.dtype)  # (m_k, n), column form
        self.channel = channel  # (T N_r, T N_t)
        self.sigma2 = sigma2
        self.decoder: torch.Tensor | None = None

    def snapshot(self, keep_private: bool = True) -> "_User":
        """The user after training, to simulate transmission. Across a process boundary
        (``keep_private=False``) the private pilots stay behind: only the equaliser, whitener,
        channel and noise level are returned."""
        if keep_private:
            return self
        copy = object.__new__(_User)
        copy.__dict__.update({**self.__dict__, "x_white": None})
        return copy

    def estimate(self, received: torch.Tensor) -> torch.Tensor:
        """``(n, T N_r)`` received symbols (``(n, 2 T N_r)`` [Re; Im] when widely linear) -> ``(n, d_k)``
        real latents (de-whitened)."""
        coloured = self.whitener.colour(received @ self.decoder.mT)
        return coloured if self.widely else unpack_complex(coloured, self.d)


class _UserGroup:
    """Users simulated together on one machine: their protocol steps run as one batch.

    Each user keeps its own whitener and equaliser (a :class:`_User`); the G steps and uplink
    products of all users run as batched solves over latents zero-padded to the largest m_k (the
    padded rows of an equaliser stay zero, so every message equals the user's own). In process all
    users form one group; on Dask each user is a group of one on its own worker.
    """

    def __init__(self, names: list[str], latents: list[torch.Tensor], link: Link, channels: torch.Tensor, sigma2: float, widely: bool = False, threads: int | None = None) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.users = [_User(name, x, h, sigma2, widely) for name, x, h in zip(names, latents, channels)]
        self.entries_per_row = 1 if widely else 2  # real latent entries per row of x_white
        self.link = link  # the group's users' link: the pilots go over the air through it
        self.channels, self.sigma2, self.widely = channels, sigma2, widely
        sizes = [u.x_white.shape[0] for u in self.users]
        n = self.users[0].x_white.shape[1]
        self.x_white = torch.zeros(len(self.users), max(sizes), n, dtype=channels.dtype)
        for k, user in enumerate(self.users):
            self.x_white[k, : sizes[k]] = user.x_white
        self.sizes = sizes

    def receive(self, symbols: torch.Tensor) -> list[float]:
        """Every user receives its pilots (``(T N_t, n)`` broadcast to all, or ``(K, T N_t, n)`` one
        per user), refits its MMSE equaliser (regulariser n sigma^2 I) and reports its training
        objective per real latent entry (a diagnostic for the log). The training broadcasts are
        noiseless, as published (the noise enters through the MMSE regulariser)."""
        received = self.link.send(symbols.mT, noise=False, split=self.widely).mT  # (K, T N_r, n)
        n = received.shape[-1]
        gram = received @ received.mH
        eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        loading = n * self.sigma2 + 1e-12 * torch.diagonal(gram, dim1=-2, dim2=-1).real.mean(-1)  # as the single-link G step
        decoders = torch.linalg.solve(gram + loading[:, None, None] * eye, received @ self.x_white.mH).mH  # X Y^H (Y Y^H + n s2 I)^-1
        error = (self.x_white - decoders @ received).abs().square().sum((-2, -1)) / n
        values = error + self.sigma2 * decoders.abs().square().sum((-2, -1))
        for k, user in enumerate(self.users):
            user.decoder = decoders[k, : self.sizes[k]].resolve_conj().contiguous()  # its own memory: a saved copy transmits alike
        return [float(values[k] / (self.entries_per_row * self.sizes[k])) for k in range(len(self.users))]

    def uplink(self) -> list[dict[str, torch.Tensor]]:
        """Each user's message: M1 = A^H A and M2 = A^H X_w with A = G H (never X or G)."""
        out = []
        for user in self.users:
            a = user.decoder @ user.channel
            out.append({"m1": a.mH @ a, "m2": a.mH @ user.x_white})
        return out

    def snapshot(self, keep_private: bool = True) -> list["_User"]:
        return [user.snapshot(keep_private) for user in self.users]


class _AccessPoint:
    """The AP's private state (whitened pilots, F, Z, U) and its protocol steps."""

    def __init__(self, latents: torch.Tensor, start: torch.Tensor, *, variant: str, rho: float, power: float, n_users: int, widely: bool = False, threads: int | None = None) -> None:
        if threads:
            torch.set_num_threads(threads)
        coords = _coordinates(latents, widely)
        self.whitener = fit_whitener(coords, name="AP pilots")
        self.s_white = self.whitener.whiten(coords).mT.to(start.dtype)  # (m_0, n)
        # S_w S_w^H = (n - 1) I unless the whitening was shrunk (fewer pilots than AP dimensions).
        self.isotropic = self.whitener.shrinkage == 0.0
        if not self.isotropic:
            sxx = self.s_white @ self.s_white.mH
            values, self.sxx_vectors = torch.linalg.eigh((sxx + sxx.mH) / 2)
            self.sxx_values = values.to(start.dtype)
        self.variant, self.rho, self.power, self.n_users = variant, rho, power, n_users
        shape = (n_users, *start.shape) if variant == "multi-link" else start.shape
        self.f = start.expand(shape).clone()
        self.z, self.u = self.f.clone(), torch.zeros_like(self.f)

    def broadcast(self, final: bool = False) -> list[tuple[str | int, torch.Tensor]]:
        """The pilot symbols to send: F S_w to all (one broadcast), or F_k S_w to user k (multi-link).
        ``final`` sends the feasible Z, to which the users fit the equalisers they keep."""
        f = self.z if final else self.f
        if self.variant == "multi-link":
            return [(k, f[k] @ self.s_white) for k in range(self.n_users)]
        return [("all", f @ self.s_white)]

    def update(self, uplinks: list[dict[str, torch.Tensor]]) -> dict[str, float]:
        """F step from the users' messages, power-ball projection, dual step (spec §2.3 steps 4-7)."""
        n = self.s_white.shape[1]
        n_rho = n * self.rho
        anchor = self.z - self.u
        sw_h = self.s_white.mH
        if self.variant == "federated-admm":  # exact consensus ADMM: the summed normal equations
            rhs = sum(msg["m2"] for msg in uplinks) @ sw_h + n_rho * anchor
            f = self._solve(sum(msg["m1"] for msg in uplinks), rhs, n_rho)
        else:
            local = torch.stack(
                [self._solve(msg["m1"], msg["m2"] @ sw_h + n_rho * (anchor[k] if self.variant == "multi-link" else anchor), n_rho)
                 for k, msg in enumerate(uplinks)]
            )  # fmt: skip
            f = local if self.variant == "multi-link" else local.mean(0)
        z_prev = self.z
        flat = (f + self.u).reshape(-1, *f.shape[-2:])
        self.f, self.z = f, project_power_ball(flat, self.power).reshape(f.shape)
        self.u = self.u + self.f - self.z
        return {
            "primal_residual": float(torch.linalg.vector_norm(self.f - self.z)),
            "dual_residual": float(self.rho * torch.linalg.vector_norm(self.z - z_prev)),
            "power": float(self.f.abs().square().sum() / (self.n_users if self.variant == "multi-link" else 1)),
        }

    def _solve(self, m1: torch.Tensor, rhs: torch.Tensor, n_rho: float) -> torch.Tensor:
        """F with M1 F (S_w S_w^H) + n rho F = rhs. With exactly white pilots S_w S_w^H = (n - 1) I and
        this is one linear solve; with fewer pilots than AP dimensions the whitening is shrunk, so
        the Sylvester equation is solved exactly by diagonalising both sides."""
        if self.isotropic:
            eye = torch.eye(m1.shape[-1], dtype=m1.dtype)
            return torch.linalg.solve((self.s_white.shape[1] - 1) * m1 + n_rho * eye, rhs)
        lam_m, q_m = torch.linalg.eigh((m1 + m1.mH) / 2)
        rotated = q_m.mH @ rhs @ self.sxx_vectors
        rotated = rotated / (lam_m.unsqueeze(-1) * self.sxx_values.unsqueeze(-2) + n_rho)
        return q_m @ rotated @ self.sxx_vectors.mH

    def snapshot(self) -> dict:
        return {"precoder": self.z, "whitener": self.whitener, "n_pilots": self.s_white.shape[1]}


class _InProcess:
    """Runs the roles as plain objects in this process."""

    def create(self, role, *args, **kwargs):
        return role(*args, **kwargs)

    def call(self, objects, method, *args):
        return [getattr(obj, method)(*args) for obj in objects]

    def call_each(self, objects, method, arguments):
        return [getattr(obj, method)(arg) for obj, arg in zip(objects, arguments)]

    def close(self):
        pass


class _DaskActors:
    """Runs each role as a Dask actor on its own worker; only method arguments and results (the
    protocol's messages) travel between them."""

    def __init__(self, scheduler: str | None, workers: int) -> None:
        from dask.distributed import Client

        self.cluster = None if scheduler else local_cluster(workers)
        self.client = Client(scheduler or self.cluster)
        self.addresses = sorted(self.client.scheduler_info()["workers"])
        self.placed = 0

    def create(self, role, *args, **kwargs):
        worker = self.addresses[self.placed % len(self.addresses)]
        self.placed += 1
        return self.client.submit(role, *args, threads=1, actor=True, pure=False, workers=[worker], **kwargs).result()

    def call(self, objects, method, *args):
        futures = [getattr(obj, method)(*args) for obj in objects]  # all in flight at once
        return [future.result() for future in futures]

    def call_each(self, objects, method, arguments):
        futures = [getattr(obj, method)(arg) for obj, arg in zip(objects, arguments)]
        return [future.result() for future in futures]

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


@register("multi-link", "federated", options={"variant": "multi-link"}, devices=("cpu",), description="one precoder per user: K links")
@register("federated-prox", "federated", options={"variant": "federated-prox"}, devices=("cpu",), description="shared pre-equaliser by the published proximal average")
@register("federated-admm", "federated", options={"variant": "federated-admm"}, devices=("cpu",), description="shared pre-equaliser by exact consensus ADMM")
class FederatedDownlink(DownlinkEstimator):
    """A shared semantic pre-equaliser at the AP and local equalisers at K users, trained federatedly.

    Args:
        channels: ``(K, N_r, N_t)`` complex per-use channels H_k (one per user).
        snr_db, power, snr_convention, channel_variance, channel_uses: the link (DESIGN.md
            conventions; sigma^2 per receive antenna per channel use, the same for every user).
        variant: ``"federated-admm"``, ``"federated-prox"`` or ``"multi-link"`` (module docstring).
        rho: ADMM penalty (per-sample scaling, n rho in the F step).
        rounds: protocol rounds (the cap when ``tol`` is set).
        tol: stop early once the relative primal and dual residuals of a round are below it
            (``None``: run every round).
        initial_precoder: ``(T N_t, m_0)`` start F_0 (default: the AP's own spectral start: the
            strongest right singular vectors of sum_k H_k^H H_k on the first whitened AP dimensions,
            equal power); scaled to ||F_0||^2 = P.
        record_messages: keep every message in ``messages_``.
        executor: ``"local"`` (every role in this process) or ``"dask"`` (the AP and each user as
            Dask actors on separate workers: a ``LocalCluster`` of ``workers`` processes by default,
            or the cluster at ``scheduler``, e.g. ``"tcp://host:8786"``).
        processing: ``"strictly-linear"`` (default, the published complex maps on packed latents) or
            ``"widely-linear"`` (real maps on the real latents and the real composite channel
            [[Re H, -Im H], [Im H, Re H]], noise sigma^2/2 per real component, as the single-link
            solver's default; messages are then float32, 4 bytes per entry).
        seed: seeds the default transmit-noise generator.
        link: a :class:`~semalign.link.Link` with ``(K, N_r, N_t)`` channels instead of ``channels``
            and the link keywords.

    Attributes after :meth:`fit`:
        link_: the users' :class:`~semalign.link.Link`.
        precoder_: ``(T N_t, m_0)`` the feasible Z (``(K, T N_t, m_0)`` for multi-link).
        users_: each user's state after training (whitener, equaliser ``decoder``, channel).
        history_: per round ``objective`` (sum over users of the whitened training MSE per real
            entry, noise included, before the round's F step),
            ``primal_residual``, ``dual_residual`` (rho ||Z - Z_prev||, as the single-link solver),
            ``power`` (||F||^2 of the iterate; the transmitted Z always satisfies the budget).
        n_rounds_: rounds run.
        bytes_uplink_, bytes_downlink_: totals over the protocol; channel_uses_: over-the-air uses
            spent on pilot broadcasts (n T per round).
    """

    def __init__(
        self,
        channels=None,
        *,
        snr_db: float = 20.0,
        power: float = 1.0,
        snr_convention: str = "total", channel_variance: float = 1.0, channel_uses: int = 1,  # the link
        variant: str = "federated-admm",
        rho: float = 1.0,
        rounds: int = 30,
        tol: float | None = None,
        initial_precoder: torch.Tensor | None = None,
        record_messages: bool = False,
        executor: str = "local",
        scheduler: str | None = None,
        workers: int | None = None,
        processing: str = "strictly-linear",
        seed: int = 0,
        link: Link | None = None,
    ) -> None:
        self._set_params(locals())
        self._validate()

    def _validate(self) -> None:
        self._validate_link()
        self.variant = check_choice("variant", self.variant, VARIANTS)
        self.rho = check_positive("rho", self.rho)
        self.rounds = check_positive_int("rounds", self.rounds)
        self.tol = None if self.tol is None else check_positive("tol", self.tol)
        self.executor = check_choice("executor", self.executor, EXECUTORS)
        self.workers = None if self.workers is None else check_positive_int("workers", self.workers)
        self.processing = check_choice("processing", self.processing, PROCESSING)
        if self.scheduler is not None and not isinstance(self.scheduler, str):
            raise ValueError(f"scheduler must be a Dask scheduler address such as 'tcp://host:8786', got {self.scheduler!r}")
        if self.initial_precoder is not None:
            try:
                start = torch.as_tensor(self.initial_precoder)
            except (TypeError, ValueError, RuntimeError):
                raise ValueError(f"initial_precoder must be a (rows, m_0) tensor, got {type(self.initial_precoder).__name__}") from None
            if start.ndim != 2 or not torch.isfinite(torch.view_as_real(start) if start.is_complex() else start).all():
                raise ValueError(f"initial_precoder must be a finite (rows, m_0) matrix, got shape {tuple(start.shape)}")

    @property
    def widely(self) -> bool:
        return self.processing == "widely-linear"

    def _solver_channels(self, dtype) -> torch.Tensor:
        """``(K, T N_r, T N_t)`` I_T (x) H_k in the complex ``dtype``, or their real composites (in the
        matching real dtype) for widely linear maps."""
        real = torch.float64 if dtype in (torch.complex128, torch.float64) else torch.float32
        link = self._current_link()
        return link.lifted(real=True, dtype=real) if self.widely else link.lifted(dtype=dtype)

    def _start(self, m0: int, dtype) -> torch.Tensor:
        link = self._current_link()
        width = link.channel_uses * link.n_tx * (2 if self.widely else 1)
        if self.initial_precoder is not None:
            f0 = torch.as_tensor(self.initial_precoder).to(dtype)
            if f0.shape != (width, m0):
                raise ValueError(f"initial_precoder must be (rows, m_0) = ({width}, {m0}), got {tuple(f0.shape)}")
        else:
            lifted = self._solver_channels(dtype if dtype.is_complex else (torch.complex128 if dtype == torch.float64 else torch.complex64))
            _, vecs = torch.linalg.eigh((lifted.mH @ lifted).sum(0))
            k = min(width, m0)
            f0 = vecs.flip(-1)[:, :k] @ torch.eye(k, m0, dtype=dtype)
        return f0 * (link.power**0.5 / torch.linalg.matrix_norm(f0).clamp_min(1e-300))

    def fit(self, ap_latents, user_latents: Sequence) -> "FederatedDownlink":
        """Run the protocol on paired pilots: ``ap_latents`` ``(n, d_0)`` and one ``(n, d_k)`` per user.

        With ``executor="dask"`` the AP and every user are Dask actors on the cluster's workers; the
        driver hands each its own pilots once at start (standing in for data already on that
        machine) and then only relays the protocol's messages. Both executors give the same result.

        Returns:
            self
        """
        self._start_fit()
        link = self._link
        s, xs = self._check_pilots(ap_latents, user_latents)
        real = torch.promote_types(s.dtype, torch.float32)
        cdtype = torch.complex128 if real == torch.float64 else torch.complex64
        lifted = self._solver_channels(cdtype)  # (K, T N_r, T N_t), or (K, 2 T N_r, 2 T N_t) real
        # Noise variance per solver dimension: complex, or half of it per real component.
        sigma2 = self.noise_variance() / (2 if self.widely else 1)
        start = self._start(s.shape[1] if self.widely else complex_dim(s.shape[1]), real if self.widely else cdtype)
        runtime = _DaskActors(self.scheduler, self.workers or min(self.n_users + 1, 4)) if self.executor == "dask" else _InProcess()
        self._start_log()
        history = {"objective": [], "primal_residual": [], "dual_residual": [], "power": []}
        rounds_run = 0
        try:
            ap = runtime.create(_AccessPoint, s.to(real), start, variant=self.variant, rho=self.rho, power=link.power, n_users=self.n_users, widely=self.widely)
            names = [f"user{k}" for k in range(self.n_users)]
            if self.executor == "local":  # one batched group of every user
                members = [list(range(self.n_users))]
            else:  # every user on its own worker
                members = [[k] for k in range(self.n_users)]
            groups = [
                runtime.create(_UserGroup, [names[k] for k in m], [xs[k].to(real) for k in m], link.select(m), lifted[m], sigma2, self.widely)
                for m in members
            ]
            for t in range(self.rounds + 1):
                final = t == self.rounds or self._converged(history)  # the last broadcast sends Z; users keep the equalisers fitted to it
                items = runtime.call([ap], "broadcast", final)[0]
                for receiver, symbols in items:
                    self._log(Message(t, "ap", "all users" if receiver == "all" else names[receiver], "pilots", {"symbols": symbols}))
                if items[0][0] == "all":
                    arguments = [items[0][1]] * len(groups)
                else:
                    per_user = dict(items)
                    arguments = [torch.stack([per_user[k] for k in m]) for m in members]
                objective = sum(sum(values) for values in runtime.call_each(groups, "receive", arguments))
                if final:
                    break
                history["objective"].append(objective)
                uplinks = [payload for payloads in runtime.call(groups, "uplink") for payload in payloads]  # user order
                for k, payload in enumerate(uplinks):
                    self._log(Message(t, names[k], "ap", "normal equations", payload))
                for key, value in runtime.call([ap], "update", uplinks)[0].items():
                    history[key].append(value)
                rounds_run = t + 1
            ap_state = runtime.call([ap], "snapshot")[0]
            users = [user for users in runtime.call(groups, "snapshot", self.executor == "local") for user in users]
        finally:
            runtime.close()
        self.precoder_ = ap_state["precoder"]
        self.ap_whitener_ = ap_state["whitener"]
        self.n_pilots_ = ap_state["n_pilots"]
        self.d_ap_ = s.shape[1]
        self.n_rounds_ = rounds_run
        # Over-the-air pilot uses: one broadcast per round (K separate ones for multi-link), plus the final one.
        links = self.n_users if self.variant == "multi-link" else 1
        self.channel_uses_ = (rounds_run + 1) * self.n_pilots_ * link.channel_uses * links
        self.history_ = history
        self.link_, self.users_ = link, users
        return self

    def _converged(self, history: dict) -> bool:
        """With ``tol``: the last round's primal and dual residuals are below ``tol`` relative to the
        precoder's norm (the single-link solver's stopping rule)."""
        if self.tol is None or not history["primal_residual"]:
            return False
        scale = max(history["power"][-1], 1e-24) ** 0.5
        return history["primal_residual"][-1] <= self.tol * scale and history["dual_residual"][-1] <= self.tol * self.rho * scale

    def _precoder_of(self, f: torch.Tensor, k: int) -> torch.Tensor:
        return f[k] if self.variant == "multi-link" else f

    def _fitted_state(self) -> dict:
        # A saved downlink keeps what transmission needs; the users' private pilots stay behind.
        state = super()._fitted_state()
        state["users_"] = [user.snapshot(keep_private=False) for user in self.users_]
        return state

    @torch.no_grad()
    def transmit(self, ap_latents, *, generator: torch.Generator | None = None, noise: bool = True) -> list[torch.Tensor]:
        """Send the AP's latents ``(n, d_0)`` to every user through the link.

        Args:
            ap_latents: ``(n, d_0)`` real AP latents.
            generator: noise source, drawn user after user; by default a fresh generator seeded from
                ``seed`` (repeated calls give the same estimates).
            noise: add each user's AWGN.

        Returns:
            one ``(n, d_k)`` estimate per user, in the input's dtype.
        """
        s = self._check_transmit_input(ap_latents)
        gen = generator if generator is not None else self._default_generator()
        white = self.ap_whitener_.whiten(_coordinates(s.to(self.ap_whitener_.mean.real.dtype), self.widely))
        out = []
        for k, user in enumerate(self.users_):
            symbols = white.to(self.precoder_.dtype) @ self._precoder_of(self.precoder_, k).mT  # (n, T N_t) or [Re | Im]
            received = self.link_.select(k).send(symbols, generator=gen, noise=noise, split=self.widely)
            out.append(user.estimate(received).to(s.dtype))
        return out

