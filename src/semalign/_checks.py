"""Input checks shared by the whole package.

Every public entry point validates its arguments with these helpers so that bad input fails early
with a ``ValueError`` naming the argument, the value received and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch


def as_real_matrix(name: str, value: Any, *, allow_batch: bool = False) -> torch.Tensor:
    """Return ``value`` as a floating torch tensor of shape ``(n, d)`` (or ``(b, n, d)``).

    Raises ``ValueError`` for complex input, wrong rank, empty arrays and NaN/inf entries.
    """
    tensor = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
    if tensor.is_complex():
        raise ValueError(f"{name} must be real-valued latents, got a complex tensor of shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float32)
    ranks = (2, 3) if allow_batch else (2,)
    if tensor.ndim not in ranks:
        expected = "(n, d) or (b, n, d)" if allow_batch else "(n, d)"
        raise ValueError(f"{name} must have shape {expected}, got shape {tuple(tensor.shape)}")
    if tensor.shape[-2] == 0 or tensor.shape[-1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)}); expected at least one sample and one feature")
    check_finite(name, tensor)
    return tensor


def check_finite(name: str, tensor: torch.Tensor) -> None:
    """Raise ``ValueError`` if ``tensor`` holds NaN or infinite entries, saying how many."""
    # Fast path: NaN and inf propagate into the sum, so a finite sum proves every entry finite
    # (one cheap reduction instead of boolean masks the size of the input).
    if tensor.numel() == 0 or bool(torch.isfinite(tensor.sum())):
        return
    bad = ~torch.isfinite(tensor)
    if bad.any():
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite entries (of {tensor.numel()}); "
            "expected finite values — drop or impute them before fitting"
        )


def check_same_samples(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same number of samples (axis -2)."""
    if a.shape[-2] != b.shape[-2] or a.shape[:-2] != b.shape[:-2]:
        raise ValueError(
            f"{name_a} and {name_b} must describe the same samples: got {name_a} shape {tuple(a.shape)} "
            f"and {name_b} shape {tuple(b.shape)} (sample axis -2 and any batch axis must match)"
        )


def check_positive(name: str, value: float) -> float:
    """Return ``float(value)``, raising ``ValueError`` unless it is finite and > 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}") from None
    if isinstance(value, (bool, str, bytes)) or not np.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite positive number, got {number if not isinstance(value, (str, bytes)) else value!r}")
    return number


def check_finite_number(name: str, value: Any, *, allow_inf: bool = False) -> float:
    """``float(value)`` for a finite number (or an infinite one with ``allow_inf``), else
    ``ValueError`` naming ``name``."""
    if isinstance(value, (bool, str, bytes)) or value is None:
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if number != number or (not allow_inf and number in (float("inf"), float("-inf"))):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def check_positive_int(name: str, value: Any) -> int:
    """Return ``int(value)``, raising ``ValueError`` unless it is an integer >= 1."""
    try:
        whole = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and int(value) == value
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}")
    return value
