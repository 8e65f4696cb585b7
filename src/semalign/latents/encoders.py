"""Encoders' weights for latent extraction: timm models, their pretrained weights and the network.

:func:`_plan_timm` decides where a timm model's weights come from without touching the network (a
weights file of yours, the Hugging Face or torch hub cache, a download, or random initial weights
seeded by ``init_seed``); :func:`_create_timm` builds the model in eval mode, with
``num_classes=0`` so that it returns the pooled pre-logit features ``(batch, dim)``.
:func:`state_sha256` identifies your own encoder's weights.

Offline: nothing here waits on a dead network. ``offline=True`` or ``HF_HUB_OFFLINE=1`` forbids
downloads, and before a download one TCP connect with a deadline tells whether the host can be
reached at all. Missing weights come back as one paragraph saying what to download and where to
put it (raised as :class:`~semalign.latents.cache.LatentsUnavailable` by the extraction).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from semalign.latents.datasets import _socket_timeout, vision_module

__all__ = ["state_sha256"]


def _timm():
    return vision_module("timm", "for pretrained encoders")


def _offline(offline: bool) -> bool:
    """Offline if asked, or if the Hugging Face offline switch is set in the environment."""
    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return bool(offline) or env.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _hf_endpoint() -> str:
    try:
        from huggingface_hub import constants

        return constants.ENDPOINT
    except ImportError:  # pragma: no cover
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover
        return "~/.cache/huggingface/hub"


def _unreachable(url: str, timeout: float) -> str | None:
    """Why ``url``'s host cannot be reached (None if it can, or if a proxy is configured).

    The Hugging Face client retries a dead network for about a minute per file; one TCP connect
    with a deadline tells in well under a second on a machine without network.
    """
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None  # the proxy decides; a direct connection tells nothing
    parsed = urlparse(url)
    host = parsed.hostname
    if not host:
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=min(timeout, 10.0)).close()
    except OSError as err:
        return f"{host} is unreachable: {err}"
    return None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_sha256(module: nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass
class _TimmPlan:
    """Where a timm model's weights come from (decided without touching the network)."""

    model: str
    pretrained: bool
    init_seed: int
    weights: Path | None = None  # a user file
    cached: str | None = None  # a file already in the HF / torch hub cache
    source: str = ""  # identity string recorded in the cache
    details: dict[str, str] = field(default_factory=dict)
    hub_id: str | None = None
    url: str | None = None
    custom_load: Any = False


def _plan_timm(model: str, pretrained: bool, weights: str | os.PathLike | None, init_seed: int) -> _TimmPlan:
    timm = _timm()
    from timm.models import get_pretrained_cfg, is_model, split_model_name_tag

    plan = _TimmPlan(model=model, pretrained=bool(pretrained) or weights is not None, init_seed=int(init_seed))
    hub_name = model.startswith(("hf-hub:", "hf_hub:", "local-dir:"))
    if not hub_name and not is_model(split_model_name_tag(model)[0]):
        import difflib

        close = difflib.get_close_matches(model, timm.list_models(), n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else "; see timm.list_models()"
        raise ValueError(f"unknown timm model {model!r}{hint}")
    if weights is not None:
        if not pretrained:
            raise ValueError("weights=FILE loads pretrained weights; do not combine it with pretrained=False (--no-pretrained)")
        path = Path(weights).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"weights file {str(path)!r} does not exist (or is not a file)")
        plan.weights = path
        sha = _sha256_file(path)
        plan.source = f"file-sha256:{sha}"
        plan.details = {"weights_file": str(path), "weights_sha256": sha}
        return plan
    if not plan.pretrained:
        plan.source = f"random-init:seed={plan.init_seed}"
        plan.details = {"init_seed": str(plan.init_seed)}
        return plan
    if hub_name:
        plan.source = model
        plan.details = {"weights_source": model}
        return plan
    cfg = get_pretrained_cfg(model)
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        raise ValueError(
            f"timm model {model!r} has no pretrained weights registered in timm; pass pretrained=False "
            "(--no-pretrained) for random weights or weights=FILE (--weights FILE) for your own checkpoint"
        )
    plan.hub_id, plan.url, plan.custom_load = cfg.hf_hub_id, cfg.url, cfg.custom_load
    plan.source = f"hf-hub:{cfg.hf_hub_id}" if cfg.hf_hub_id else f"url:{cfg.url or cfg.file}"
    plan.details = {"weights_source": plan.source}
    plan.cached = _cached_weights(cfg)
    return plan


def _cached_weights(cfg) -> str | None:
    """Path of this pretrained config's weights if already downloaded (HF hub or torch hub cache)."""
    if cfg.file and Path(cfg.file).is_file():
        return str(cfg.file)
    if cfg.hf_hub_id and cfg.custom_load != "hf":
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover
            try_to_load_from_cache = None
        if try_to_load_from_cache is not None:
            repo, _, revision = cfg.hf_hub_id.partition("@")
            names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
            for name in names:
                found = try_to_load_from_cache(repo, name, revision=revision or None)
                if isinstance(found, str) and Path(found).is_file():
                    return found
        return None  # timm prefers the hub when it has an id; do not mix in other sources
    if cfg.url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(cfg.url).path)
        if path.is_file():
            return str(path)
    return None


def _weights_problem(plan: _TimmPlan, reason: str) -> str:
    model = plan.model
    if plan.hub_id:
        repo = plan.hub_id.partition("@")[0]
        where = f"Hugging Face repository {repo}"
        direct = f"{_hf_endpoint().rstrip('/')}/{repo}/resolve/main/model.safetensors"
    else:
        where, direct = (plan.url or model), (plan.url or "the checkpoint file")
    return (
        f"The pretrained weights of timm model {model!r} ({where}) are not in the Hugging Face cache "
        f"({_hf_cache_dir()}) and {reason}. On a machine with network run "
        f"`python -c \"import timm; timm.create_model('{model}', pretrained=True)\"` and copy its Hugging Face "
        f"cache folder to {_hf_cache_dir()} (or point HF_HOME at it), or download {direct} and pass "
        f"--weights FILE (weights=FILE in Python); --no-pretrained uses random weights instead."
    )


@contextlib.contextmanager
def _hf_offline(enabled: bool):
    """Hugging Face offline mode for the duration of the block (read at call time by the hub client)."""
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover
        yield
        return
    old = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = old or enabled
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old


def _create_timm(plan: _TimmPlan, *, offline: bool, timeout: float) -> tuple[nn.Module | None, list[str]]:
    """Build the model in eval mode, or return why its weights are unavailable (one paragraph)."""
    timm = _timm()
    kwargs: dict[str, Any] = {"num_classes": 0}  # no classifier: the model returns pooled pre-logit features
    downloads = False
    if plan.weights is not None or plan.cached is not None:
        file = str(plan.weights or plan.cached)
        # A .npz checkpoint needs the model's own loader; anything else is a state dict file.
        custom = bool(plan.custom_load) and file.endswith(".npz")
        kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": file, "custom_load": custom})
    elif plan.pretrained:
        hub_name = plan.model.startswith(("hf-hub:", "hf_hub:", "local-dir:"))
        if offline and not hub_name:  # we know it is not cached: say so now rather than ask the hub
            return None, [_weights_problem(plan, "offline mode forbids downloading them")]
        if not offline:
            url = _hf_endpoint() if plan.hub_id or hub_name else (plan.url or "")
            why = _unreachable(url, timeout)
            if why:
                return None, [_weights_problem(plan, f"could not be downloaded ({why})")]
        kwargs.update(pretrained=True)
        downloads = True
    else:
        kwargs.update(pretrained=False)
    # Model construction draws random initial weights: seed them (reproducible random-init runs,
    # resumable extraction) without touching the caller's global RNG state.
    try:
        with torch.random.fork_rng(devices=[]), _socket_timeout(timeout), _hf_offline(offline):
            torch.manual_seed(plan.init_seed)
            model = timm.create_model(plan.model, **kwargs)
    except Exception as err:  # noqa: BLE001
        if downloads:
            reason = "offline mode forbids downloading them" if offline else "could not be downloaded"
            return None, [_weights_problem(plan, f"{reason} ({type(err).__name__}: {str(err).strip()})")]
        if plan.weights is not None:
            raise ValueError(f"could not load weights file {str(plan.weights)!r} into timm model {plan.model!r}: {err}") from err
        raise
    return model.eval(), []
