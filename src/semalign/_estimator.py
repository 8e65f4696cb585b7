"""The estimator contract every method of every setting follows (as scikit-learn's).

* Hyper-parameters are the arguments of ``__init__``, stored under their own names (checked there
  and again at ``fit``, so setting one after construction takes effect at the next ``fit``);
  :meth:`Estimator.get_params` / :meth:`Estimator.set_params` read and change them.
* ``fit(...)`` learns from data and returns ``self``; learned state lives in attributes whose names
  end with an underscore.
* Before ``fit``, using the learned state raises :class:`NotFittedError`.
* ``transmit(..., generator=None)`` never touches the global RNG: without a generator it draws from
  one seeded by the estimator's ``seed`` (the ``transmit-noise`` stream of :mod:`semalign._seeds`),
  so repeated calls give the same estimates.
* :meth:`Estimator.save` writes a fitted estimator to a folder (safetensors for tensors, JSON for the
  rest); :meth:`Estimator.load` (or :func:`semalign.load`) reads it back, and transmits the same.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import torch

from semalign._persistence import _class_path, load_object, save_object
from semalign._seeds import stream_generator


class NotFittedError(RuntimeError):
    """Raised when a fitted estimator's state is used before ``fit``."""


class Estimator:
    """Base of every semalign estimator: parameters, fitted-state checks, persistence.

    Subclasses set :attr:`fit_marker`, an attribute that exists only once fitted, and may extend
    :meth:`_fitted_state` / :meth:`_restore_state` for state that is not a plain attribute.
    """

    #: An attribute that ``fit`` sets; its absence means "not fitted".
    fit_marker: str = "link_"
    #: Private attributes (not ending in ``_``) that belong to the fitted state and are saved.
    _private_state: tuple[str, ...] = ()
    #: How ``fit`` is called, for error messages.
    _fit_call: str = "fit(...)"
    _transmit_call: str = "transmit(...)"

    # ------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            name
            for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ]

    def _set_params(self, arguments: dict[str, Any]) -> None:
        """Store every ``__init__`` argument under its own name (call with ``locals()``)."""
        for name in self._param_names():
            setattr(self, name, arguments[name])

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, by name (the arguments of ``__init__``)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> "Estimator":
        """Change hyper-parameters (checked at once); they take effect at the next ``fit``."""
        names = self._param_names()
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(map(repr, unknown))} of {type(self).__name__}; expected some of {', '.join(names)}")
        merged = {**self.get_params(), **params}
        self.__init__(**merged)  # re-validates every parameter
        return self

    def __repr__(self) -> str:
        shown = (f"{name}=tensor{tuple(value.shape)}" if isinstance(value, torch.Tensor) else f"{name}={value!r}" for name, value in self.get_params().items())
        return f"{type(self).__name__}({', '.join(shown)})"

    # ------------------------------------------------------------ fitted state
    @property
    def is_fitted(self) -> bool:
        return hasattr(self, self.fit_marker)

    def _check_fitted(self, action: str | None = None) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call {self._fit_call} before {action or self._transmit_call}")

    def _default_generator(self, device: str | torch.device = "cpu") -> torch.Generator:
        """The noise source of ``transmit`` without a generator: a fresh one from ``seed``, so
        repeated calls draw the same noise."""
        return stream_generator("transmit-noise", int(getattr(self, "seed", 0)), device=device)

    def _fitted_state(self) -> dict[str, Any]:
        """Everything ``fit`` learned: public attributes ending in ``_`` and :attr:`_private_state`."""
        return {k: v for k, v in vars(self).items() if (k.endswith("_") and not k.startswith("_")) or k in self._private_state}

    def _restore_state(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)

    # ------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted estimator to the folder ``path`` (``estimator.json`` with its settings and
        ``tensors.safetensors``); returns the folder. Raises :class:`NotFittedError` before ``fit``."""
        self._check_fitted("save(path)")
        return save_object(path, _class_path(self), self.get_params(), self._fitted_state())

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device | None = None) -> "Estimator":
        """Read an estimator saved by :meth:`save`; it transmits exactly as the saved one did.

        Args:
            path: the folder :meth:`save` wrote.
            device: where to put its tensors (default: where they were; the CPU for CUDA tensors
                where CUDA is not available). The ``device`` hyper-parameter follows.
        """
        saved_cls, params, state, moved = load_object(path, device)
        if not isinstance(saved_cls, type) or not issubclass(saved_cls, cls):
            raise ValueError(f"{path} holds a {getattr(saved_cls, '__name__', saved_cls)}, not a {cls.__name__}")
        if "device" in params and (device is not None or moved):
            params["device"] = str(device or "cpu")
        estimator = saved_cls(**params)
        estimator._restore_state(state)
        return estimator


def load(path: str | os.PathLike, device: str | torch.device | None = None) -> Estimator:
    """Read any estimator saved with ``save(path)`` (its class is recorded in the folder); see
    :meth:`Estimator.load`."""
    return Estimator.load(path, device)
