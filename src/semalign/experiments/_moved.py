"""Module-level ``__getattr__`` for the experiment modules that moved in 0.2.0: the old names keep
working for one release, with a ``DeprecationWarning`` naming the new home."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable


def moved(old_module: str, names: dict[str, str]) -> Callable[[str], object]:
    """A ``__getattr__`` for ``old_module`` resolving ``names`` (``old name -> "new.module:new_name"``)."""

    def __getattr__(name: str) -> object:
        if name not in names:
            raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
        module, _, new_name = names[name].partition(":")
        warnings.warn(f"{old_module}.{name} is deprecated since semalign 0.2.0: use {module}.{new_name}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), new_name)

    return __getattr__
