"""Federated latent-space alignment for a multi-user downlink.

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
   * ``"federated-admm"`` (exact consensus): ((n-1) sum_k M1_k + n rho I) F =
     sum_k M2_k S_w^H + n rho (Z - U), the ADMM F update of the sum objective from the same messages;
   * ``"federated-prox"`` (the published variant): F_k = the same solve with user k's messages only,
     then F = mean_k F_k (a proximal average);
   * ``"multi-link"``: one precoder, split and dual per user (K single links, each with budget P);
5. power-ball projection Z = Pi_P(F + U) and dual update U += F - Z.

Corrections of the published code: the MMSE regulariser is n sigma^2 I (published:
n sigma (1+j) added to every entry); transmission uses the feasible Z (published: F) with decoders
refitted to it; users de-whiten their estimates. With one user and the same start, rho and SNR
convention, ``federated-admm`` is exactly the single-link strictly linear ADMM
(:class:`~semalign.transceivers.LinearSemanticTransceiver`).

Imperfect channel knowledge. The channels the protocol is given are estimates Ĥ_k; user k's true
channel is H_k = Ĥ_k + D_k, D_k ~ CN(0, ε v) per entry, independent of Ĥ_k and shared by the T uses
of a latent (:mod:`semalign.link.csi`, ε = ``csi_error``). ``robust=True`` makes the G and F steps
minimise the training MSE averaged over D_k in closed form (Δ_k = I_T (x) D_k, or its real
composite; M = S_w S_w^H the whitened pilots' Gram):

    E_D[(1/n)||X_w - G_k (H_k + Δ_k) F S_w||^2] = (1/n)||X_w - G_k H_k F S_w||^2 + (1/n) tr(G_k Ω(F) G_k^H),
    Ω(F) = E[Δ F M F^H Δ^H] = ε v B(F M F^H) (x) I_{N_r}      (complex domain; B: the T x T block traces),
    tr(G Ω(F) G^H) = tr(Ψ(G^H G) F M F^H),  Ψ(G^H G) = ε v B(G^H G) (x) I_{N_t},

(real composite domain: :func:`~semalign.link.csi.error_covariance`, which has the factor ε v / 2 and
the real/imaginary block combination). For T = 1 this is Ω = ε v tr(F M F^H) I: the error acts as
extra noise proportional to the transmitted energy. So user k's G step becomes
G_k = X_w Y_k^H (Y_k Y_k^H + Ω(F) + n sigma^2 I)^{-1} and its uplink M1_k = A_k^H A_k + Ψ(G_k^H G_k)
(a T N_t x T N_t matrix like A_k^H A_k: no more crosses the boundary); the AP's F step is unchanged
in form. With one user this is exactly the robust single-link ADMM. ``robust=False`` or ε = 0 adds
nothing: the same operations, bit for bit, as the design for exact channels.

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
from semalign.link.packing import complex_dim
from semalign.multiuser.downlink import DownlinkEstimator, Message, uses_per_latent
from semalign.multiuser.federated_roles import _AccessPoint, _ChannelErrors, _coordinates, _StatisticsUserGroup, _UserGroup

VARIANTS = ("federated-admm", "federated-prox", "multi-link")


def _unformed(matrix: torch.Tensor, n: int) -> torch.Tensor:
    """A stand-in ``(rows, n)`` for a message that is counted but not formed (no memory): the
    broadcast F S_w of a ``(rows, m_0)`` precoder, or the uplink A^H X_w beside its ``(rows, m_0)``
    product with S_w^H."""
    return torch.empty((*matrix.shape[:-1], n), dtype=matrix.dtype, device="meta")


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
        snr_db, power, snr_convention, channel_variance, channel_uses: the link (semalign's
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
        csi_error: ε in [0, 1], the fraction of each channel's power the given channels (the
            estimates Ĥ_k the protocol knows) miss; the true channels are Ĥ_k + D_k, D_k ~ CN(0, ε v)
            (:mod:`semalign.link.csi`).
        robust: design for the channels the estimates stand for: the G and F steps minimise the MSE
            averaged over D_k in closed form (module docstring). ``False``: design as if the
            estimates were exact (also the case whenever ε = 0).
        seed: seeds the default transmit-noise generator.
        link: a :class:`~semalign.link.Link` with ``(K, N_r, N_t)`` channels instead of ``channels``
            and the link keywords (a non-zero ``csi_error`` replaces the link's own). It may be
            frequency selective (:meth:`~semalign.link.Link.from_subcarriers`: one use of
            diag(H_k,1, ..., H_k,S) per latent, S N_t columns; ``csi_error`` 0): the protocol then
            designs F ``(S N_t, m_0)`` for the whole band, with the messages of T = S uses of a flat
            channel.

    Attributes after :meth:`fit`:
        link_: the users' :class:`~semalign.link.Link` (its channels: the design channels).
        precoder_: ``(T N_t, m_0)`` the feasible Z (``(K, T N_t, m_0)`` for multi-link).
        users_: each user's state after training (whitener, equaliser ``decoder``, channel).
        history_: per round ``objective`` (sum over users of the whitened training MSE per real
            entry, noise included, before the round's F step),
            ``primal_residual``, ``dual_residual`` (rho ||Z - Z_prev||, as the single-link solver),
            ``power`` (||F||^2 of the iterate; the transmitted Z always satisfies the budget).
        training_objective_: per user the objective at the final design (the feasible Z and the
            equalisers refitted to it): whitened training MSE per real latent entry, noise included,
            and, for a robust design, averaged over the channel error (the closed form the steps
            minimise).
        n_rounds_: rounds run.
        bytes_uplink_, bytes_downlink_: totals over the protocol; channel_uses_: over-the-air uses
            spent on pilot broadcasts (n T per round; a use of S subcarriers counts as S uses).
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
        csi_error: float = 0.0,
        robust: bool = False,
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
        # Robust designs: the second moments of the users' channel errors (else None: the nominal steps).
        errors = _ChannelErrors.of(link, "real" if self.widely else "complex") if self.robust_design else None
        runtime = _DaskActors(self.scheduler, self.workers or min(self.n_users + 1, 4)) if self.executor == "dask" else _InProcess()
        self._start_log()
        history = {"objective": [], "primal_residual": [], "dual_residual": [], "power": []}
        rounds_run = 0
        local = self.executor == "local"
        try:
            ap = runtime.create(
                _AccessPoint, s.to(real), start, variant=self.variant, rho=self.rho, power=link.power, n_users=self.n_users,
                widely=self.widely, statistics=local,
            )  # fmt: skip
            names = [f"user{k}" for k in range(self.n_users)]
            if local:  # every user in this process, from sufficient statistics formed once
                members = [list(range(self.n_users))]
                groups = [_StatisticsUserGroup(names, [x.to(real) for x in xs], link, lifted, sigma2, ap, self.widely, errors)]
            else:  # every user on its own worker, on its own pilots
                members = [[k] for k in range(self.n_users)]
                groups = [
                    runtime.create(_UserGroup, [names[k]], [xs[k].to(real)], link.select(m), lifted[m], sigma2, self.widely, errors=errors)
                    for k, m in zip(range(self.n_users), members)
                ]
            n = s.shape[0]
            for t in range(self.rounds + 1):
                final = t == self.rounds or self._converged(history)  # the last broadcast sends Z; users keep the equalisers fitted to it
                items = runtime.call([ap], "broadcast", final)[0]
                for receiver, payload in items:
                    # In process the items carry the precoder; the message is its broadcast F S_w.
                    symbols = payload if not local else (ap.symbols(payload) if self.record_messages else _unformed(payload, n))
                    self._log(Message(t, "ap", "all users" if receiver == "all" else names[receiver], "pilots", {"symbols": symbols}))
                if items[0][0] == "all":
                    arguments = [items[0][1]] * len(groups)
                else:
                    per_user = dict(items)
                    arguments = [torch.stack([per_user[k] for k in m]) for m in members]
                per_group = runtime.call_each(groups, "receive", arguments)
                objective = sum(sum(values) for values in per_group)
                if final:
                    final_objective = [value for values in per_group for value in values]  # user order
                    break
                history["objective"].append(objective)
                uplinks = [payload for payloads in runtime.call(groups, "uplink") for payload in payloads]  # user order
                for k, payload in enumerate(uplinks):
                    if local:  # the message is M2 = A^H X_w; the AP's step needs only M2 S_w^H
                        m2 = groups[0].message(k) if self.record_messages else _unformed(payload["m2_sh"], n)
                        payload_logged = {"m1": payload["m1"], "m2": m2}
                    else:
                        payload_logged = payload
                    self._log(Message(t, names[k], "ap", "normal equations", payload_logged))
                for key, value in runtime.call([ap], "update", uplinks)[0].items():
                    history[key].append(value)
                rounds_run = t + 1
            ap_state = runtime.call([ap], "snapshot")[0]
            users = [user for users in runtime.call(groups, "snapshot", local) for user in users]
        finally:
            runtime.close()
        self.precoder_ = ap_state["precoder"]
        self.ap_whitener_ = ap_state["whitener"]
        self.n_pilots_ = ap_state["n_pilots"]
        self.d_ap_ = s.shape[1]
        self.n_rounds_ = rounds_run
        self.training_objective_ = final_objective
        # Over-the-air pilot uses: one broadcast per round (K separate ones for multi-link), plus the final one.
        links = self.n_users if self.variant == "multi-link" else 1
        self.channel_uses_ = (rounds_run + 1) * self.n_pilots_ * uses_per_latent(link) * links
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
    def transmit(self, ap_latents, *, generator: torch.Generator | None = None, noise: bool = True, channel=None) -> list[torch.Tensor]:
        """Send the AP's latents ``(n, d_0)`` to every user through the link.

        Args:
            ap_latents: ``(n, d_0)`` real AP latents.
            generator: noise source, drawn user after user; by default a fresh generator seeded from
                ``seed`` (repeated calls give the same estimates).
            noise: add each user's AWGN.
            channel: complex ``(K, N_r, N_t)`` true channels the symbols go through, one per user,
                of the design channels' shape; default: the design channels (perfect knowledge).
                The noise level stays the link's.

        Returns:
            one ``(n, d_k)`` estimate per user, in the input's dtype.
        """
        s = self._check_transmit_input(ap_latents)
        true = self._true_channels(channel)
        gen = generator if generator is not None else self._default_generator()
        white = self.ap_whitener_.whiten(_coordinates(s.to(self.ap_whitener_.mean.real.dtype), self.widely))
        out = []
        for k, user in enumerate(self.users_):
            symbols = white.to(self.precoder_.dtype) @ self._precoder_of(self.precoder_, k).mT  # (n, T N_t) or [Re | Im]
            received = self.link_.select(k).send(symbols, generator=gen, noise=noise, split=self.widely, channel=None if true is None else true[k])
            out.append(user.estimate(received).to(s.dtype))
        return out

