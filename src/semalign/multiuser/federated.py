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

from dataclasses import dataclass, field
from typing import Sequence

import torch

from semalign._checks import as_real_matrix, check_choice, check_positive, check_positive_int
from semalign.link.noise import check_snr_convention, complex_awgn, noise_variance
from semalign.link.packing import complex_dim, pack_complex, unpack_complex
from semalign.link.whitening import Whitener, fit_whitener
from semalign.transceivers.linear_admm import block_diagonal_channel, project_power_ball, real_composite

VARIANTS = ("federated-admm", "federated-prox", "multi-link")
EXECUTORS = ("local", "dask")
PROCESSING = ("strictly-linear", "widely-linear")


def _entry_bytes(tensor: torch.Tensor) -> int:
    """Bytes on the wire per entry, in single precision: complex64 (8) or float32 (4)."""
    return 8 if tensor.is_complex() else 4


def _coordinates(latents: torch.Tensor, widely: bool) -> torch.Tensor:
    """The coordinates the linear maps act on: the real latent itself (widely linear) or its packed
    complex form (strictly linear; first half real part, second half imaginary part)."""
    return latents if widely else pack_complex(latents)


@dataclass(frozen=True)
class Message:
    """One message of the protocol: who sent it to whom, in which round, and its tensors."""

    round: int
    sender: str
    receiver: str
    kind: str
    payload: dict[str, torch.Tensor] = field(repr=False)

    @property
    def entries(self) -> int:
        return sum(t.numel() for t in self.payload.values())

    @property
    def bytes(self) -> int:
        return sum(t.numel() * _entry_bytes(t) for t in self.payload.values())


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

    def __init__(self, names: list[str], latents: list[torch.Tensor], channels: torch.Tensor, sigma2: float, widely: bool = False, threads: int | None = None) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.users = [_User(name, x, h, sigma2, widely) for name, x, h in zip(names, latents, channels)]
        self.entries_per_row = 1 if widely else 2  # real latent entries per row of x_white
        self.channels, self.sigma2 = channels, sigma2
        sizes = [u.x_white.shape[0] for u in self.users]
        n = self.users[0].x_white.shape[1]
        self.x_white = torch.zeros(len(self.users), max(sizes), n, dtype=channels.dtype)
        for k, user in enumerate(self.users):
            self.x_white[k, : sizes[k]] = user.x_white
        self.sizes = sizes

    def receive(self, symbols: torch.Tensor) -> list[float]:
        """Every user receives its pilots (``(T N_t, n)`` broadcast to all, or ``(K, T N_t, n)`` one
        per user), refits its MMSE equaliser (regulariser n sigma^2 I) and reports its training
        objective per real latent entry (a diagnostic for the log)."""
        received = self.channels @ symbols  # (K, T N_r, n)
        n = received.shape[-1]
        gram = received @ received.mH
        eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        loading = n * self.sigma2 + 1e-12 * torch.diagonal(gram, dim1=-2, dim2=-1).real.mean(-1)  # as the single-link G step
        decoders = torch.linalg.solve(gram + loading[:, None, None] * eye, received @ self.x_white.mH).mH  # X Y^H (Y Y^H + n s2 I)^-1
        error = (self.x_white - decoders @ received).abs().square().sum((-2, -1)) / n
        values = error + self.sigma2 * decoders.abs().square().sum((-2, -1))
        for k, user in enumerate(self.users):
            user.decoder = decoders[k, : self.sizes[k]]
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
        eye = torch.eye(self.f.shape[-2], dtype=self.f.dtype)
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
        from dask.distributed import Client, LocalCluster

        self.cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
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


class DownlinkLink:
    """What every downlink scheme shares: K users' channels, the link conventions and the message log.

    Args:
        channels: ``(K, N_r, N_t)`` complex per-use channels H_k (one per user).
        snr_db, power, snr_convention, channel_variance, channel_uses: the link (DESIGN.md
            conventions; sigma^2 per receive antenna per channel use).
        record_messages: keep every message in ``messages_``.
    """

    def __init__(self, channels, *, snr_db: float, power: float, snr_convention: str, channel_variance: float, channel_uses: int, record_messages: bool) -> None:
        h = torch.as_tensor(channels)
        if h.ndim != 3 or not h.is_complex():
            raise ValueError(f"channels must be a complex (K, N_r, N_t) tensor, one channel per user; got shape {tuple(h.shape)} dtype {h.dtype}")
        self.channels = h
        self.snr_db = float(snr_db)
        self.power = check_positive("power", power)
        self.snr_convention = check_snr_convention(snr_convention)
        self.channel_variance = check_positive("channel_variance", channel_variance)
        self.channel_uses = check_positive_int("channel_uses", channel_uses)
        self.record_messages = bool(record_messages)

    @property
    def n_users(self) -> int:
        return self.channels.shape[0]

    def noise_variance(self) -> float:
        """sigma^2 per receive antenna per channel use."""
        return float(
            noise_variance(self.snr_db, power=self.power, n_tx=self.channels.shape[-1], channel_uses=self.channel_uses,
                           channel_variance=self.channel_variance, convention=self.snr_convention)
        )  # fmt: skip

    def _log(self, message: Message) -> None:
        """Count a message's bytes in its direction (and keep it with ``record_messages``)."""
        if message.sender == "ap":
            self.bytes_downlink_ += message.bytes
        else:
            self.bytes_uplink_ += message.bytes
        if self.record_messages:
            self.messages_.append(message)

    def compression_factor(self, ap_dim: int) -> float:
        """Percent of channel symbols per complex AP latent entry: 100 T N_t / ceil(d_0/2)."""
        return 100.0 * self.channel_uses * self.channels.shape[-1] / complex_dim(ap_dim)


class FederatedDownlink(DownlinkLink):
    """A shared semantic pre-equaliser at the AP and local equalisers at K users, trained federatedly.

    Args:
        channels: ``(K, N_r, N_t)`` complex per-use channels H_k (one per user).
        snr_db, power, snr_convention, channel_variance, channel_uses: the link (DESIGN.md
            conventions; sigma^2 per receive antenna per channel use).
        variant: ``"federated-admm"``, ``"federated-prox"`` or ``"multi-link"`` (module docstring).
        rho: ADMM penalty (per-sample scaling, n rho in the F step).
        rounds: protocol rounds.
        initial_precoder: ``(T N_t, m_0)`` start F_0 (default: the AP's own spectral start: the
            strongest right singular vectors of sum_k H_k^H H_k on the first whitened AP dimensions,
            equal power); scaled to ||F_0||^2 = P.
        record_messages: keep every message in ``messages_``.
        processing: ``"strictly-linear"`` (default, the published complex maps on packed latents) or
            ``"widely-linear"`` (real maps on the real latents and the real composite channel
            [[Re H, -Im H], [Im H, Re H]], noise sigma^2/2 per real component, as the single-link
            solver's default; messages are then float32, 4 bytes per entry).
        executor: ``"local"`` (every role in this process) or ``"dask"`` (the AP and each user as
            Dask actors on separate workers: a ``LocalCluster`` of ``workers`` processes by default,
            or the cluster at ``scheduler``, e.g. ``"tcp://host:8786"``).

    Attributes after :meth:`fit`:
        precoder_: ``(T N_t, m_0)`` the feasible Z (``(K, T N_t, m_0)`` for multi-link).
        history_: per round ``objective`` (sum over users of the whitened training MSE per real
            entry, noise included, before the round's F step),
            ``primal_residual``, ``dual_residual`` (rho ||Z - Z_prev||, as the single-link solver),
            ``power`` (||F||^2 of the iterate; the transmitted Z always satisfies the budget).
        bytes_uplink_, bytes_downlink_: totals over the protocol; channel_uses_: over-the-air uses
            spent on pilot broadcasts (n T per round).
    """

    def __init__(
        self,
        channels,
        *,
        snr_db: float = 20.0,
        power: float = 1.0,
        snr_convention: str = "total",
        channel_variance: float = 1.0,
        channel_uses: int = 1,
        variant: str = "federated-admm",
        rho: float = 1.0,
        rounds: int = 30,
        initial_precoder: torch.Tensor | None = None,
        record_messages: bool = False,
        executor: str = "local",
        scheduler: str | None = None,
        workers: int | None = None,
        processing: str = "strictly-linear",
    ) -> None:
        super().__init__(channels, snr_db=snr_db, power=power, snr_convention=snr_convention, channel_variance=channel_variance,
                         channel_uses=channel_uses, record_messages=record_messages)  # fmt: skip
        self.variant = check_choice("variant", variant, VARIANTS)
        self.rho = check_positive("rho", rho)
        self.rounds = check_positive_int("rounds", rounds)
        self.initial_precoder = initial_precoder
        self.executor = check_choice("executor", executor, EXECUTORS)
        self.scheduler = scheduler
        self.workers = None if workers is None else check_positive_int("workers", workers)
        self.processing = check_choice("processing", processing, PROCESSING)

    @property
    def widely(self) -> bool:
        return self.processing == "widely-linear"

    def _solver_channels(self, cdtype) -> torch.Tensor:
        """``(K, T N_r, T N_t)`` I_T (x) H_k, or their real composites for widely linear maps."""
        lifted = block_diagonal_channel(self.channels.to(cdtype), self.channel_uses)
        return real_composite(lifted) if self.widely else lifted

    def _start(self, m0: int, dtype) -> torch.Tensor:
        width = self.channel_uses * self.channels.shape[-1] * (2 if self.widely else 1)
        if self.initial_precoder is not None:
            f0 = torch.as_tensor(self.initial_precoder).to(dtype)
            if f0.shape != (width, m0):
                raise ValueError(f"initial_precoder must be (rows, m_0) = ({width}, {m0}), got {tuple(f0.shape)}")
        else:
            lifted = self._solver_channels(dtype if dtype.is_complex else (torch.complex128 if dtype == torch.float64 else torch.complex64))
            _, vecs = torch.linalg.eigh((lifted.mH @ lifted).sum(0))
            k = min(width, m0)
            f0 = vecs.flip(-1)[:, :k] @ torch.eye(k, m0, dtype=dtype)
        return f0 * (self.power**0.5 / torch.linalg.matrix_norm(f0).clamp_min(1e-300))

    def fit(self, ap_latents, user_latents: Sequence) -> "FederatedDownlink":
        """Run the protocol on paired pilots: ``ap_latents`` ``(n, d_0)`` and one ``(n, d_k)`` per user.

        With ``executor="dask"`` the AP and every user are Dask actors on the cluster's workers; the
        driver hands each its own pilots once at start (standing in for data already on that
        machine) and then only relays the protocol's messages. Both executors give the same result.
        """
        s = as_real_matrix("ap_latents", ap_latents)
        if len(user_latents) != self.n_users:
            raise ValueError(f"user_latents must hold one (n, d_k) matrix per user ({self.n_users}), got {len(user_latents)}")
        xs = [as_real_matrix(f"user_latents[{k}]", x) for k, x in enumerate(user_latents)]
        for k, x in enumerate(xs):
            if x.shape[0] != s.shape[0]:
                raise ValueError(f"user_latents[{k}] has {x.shape[0]} pilots but ap_latents has {s.shape[0]}; the pilots must be paired")
        real = torch.promote_types(s.dtype, torch.float32)
        cdtype = torch.complex128 if real == torch.float64 else torch.complex64
        lifted = self._solver_channels(cdtype)  # (K, T N_r, T N_t), or (K, 2 T N_r, 2 T N_t) real
        # Noise variance per solver dimension: complex, or half of it per real component.
        sigma2 = self.noise_variance() / (2 if self.widely else 1)
        start = self._start(s.shape[1] if self.widely else complex_dim(s.shape[1]), real if self.widely else cdtype)
        runtime = _DaskActors(self.scheduler, self.workers or min(self.n_users + 1, 4)) if self.executor == "dask" else _InProcess()
        self.messages_: list[Message] = []
        self.bytes_uplink_ = self.bytes_downlink_ = 0
        history = {"objective": [], "primal_residual": [], "dual_residual": [], "power": []}
        try:
            ap = runtime.create(_AccessPoint, s.to(real), start, variant=self.variant, rho=self.rho, power=self.power, n_users=self.n_users, widely=self.widely)
            names = [f"user{k}" for k in range(self.n_users)]
            if self.executor == "local":  # one batched group of every user
                members = [list(range(self.n_users))]
            else:  # every user on its own worker
                members = [[k] for k in range(self.n_users)]
            groups = [runtime.create(_UserGroup, [names[k] for k in m], [xs[k].to(real) for k in m], lifted[m], sigma2, self.widely) for m in members]
            for t in range(self.rounds + 1):
                final = t == self.rounds  # the last broadcast sends Z; users keep the equalisers fitted to it
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
            ap_state = runtime.call([ap], "snapshot")[0]
            self.users_ = [user for users in runtime.call(groups, "snapshot", self.executor == "local") for user in users]
        finally:
            runtime.close()
        self.precoder_ = ap_state["precoder"]
        self.ap_whitener_ = ap_state["whitener"]
        self.n_pilots_ = ap_state["n_pilots"]
        # Over-the-air pilot uses: one broadcast per round (K separate ones for multi-link), plus the final one.
        links = self.n_users if self.variant == "multi-link" else 1
        self.channel_uses_ = (self.rounds + 1) * self.n_pilots_ * self.channel_uses * links
        self.history_ = history
        return self

    def _precoder_of(self, f: torch.Tensor, k: int) -> torch.Tensor:
        return f[k] if self.variant == "multi-link" else f

    @torch.no_grad()
    def transmit(self, ap_latents, *, generator: torch.Generator | None = None, noise: bool = True) -> list[torch.Tensor]:
        """Send the AP's latents ``(n, d_0)`` to every user; returns one ``(n, d_k)`` estimate per user."""
        if not hasattr(self, "precoder_"):
            raise RuntimeError("FederatedDownlink is not fitted yet; call fit() first")
        s = as_real_matrix("ap_latents", ap_latents)
        white = self.ap_whitener_.whiten(_coordinates(s.to(self.ap_whitener_.mean.real.dtype), self.widely))
        out = []
        for k, user in enumerate(self.users_):
            symbols = white.to(self.precoder_.dtype) @ self._precoder_of(self.precoder_, k).mT  # (n, T N_t) or [Re; Im]
            received = symbols @ user.channel.mT
            if noise and self.widely:  # user.sigma2 is already the variance per real component
                received = received + torch.randn(received.shape, generator=generator, dtype=received.dtype) * user.sigma2**0.5
            elif noise:
                received = received + complex_awgn(tuple(received.shape), user.sigma2, generator=generator, dtype=received.dtype)
            out.append(user.estimate(received).to(s.dtype))
        return out
