"""The method registry: every method of every setting, registered once where its estimator is defined.

A method is registered with a decorator on its estimator class, with capability tags::

    @register("linear-admm", "single-link", batched=("snr_db",))
    class LinearSemanticTransceiver(SemanticTransceiver): ...

so adding a method touches one place: the run engine, the studies and the command line read the
method names, what one call can batch and where it runs from here. One class may register several
methods that differ in a fixed constructor option (``FederatedDownlink``'s ``variant``, the game's
``method``).

Tags:

* ``setting``: ``single-link``, ``federated`` or ``game`` (:data:`semalign._vocabulary.SETTINGS`);
* ``batched``: the estimator parameters that take one value per configuration of one fit (a
  leading configuration axis: the SNRs and sparsity weights of a single link, the seeds of a
  game); the run engine groups runs that differ only in these;
* ``trained_together``: further run settings whose fits can share one training loop through the
  estimator's ``fit_together(models, pilots)`` (the neural model: seeds and awareness); the run
  engine groups runs that differ only in these and the ``batched`` settings;
* ``devices``: where the run engine runs the method (``cpu``, ``cuda``).

The registry fills as the estimator modules are imported. This module is the mechanism and sits below
every layer; :mod:`semalign.methods` (in the layer of the estimators it holds) imports every estimator
package first, so a caller that queries it never sees a partial registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from semalign._vocabulary import SETTINGS


@dataclass(frozen=True)
class MethodEntry:
    """One registered method.

    Attributes:
        name: the method's name in run settings and result rows (e.g. ``"linear-admm"``).
        setting: ``single-link``, ``federated`` or ``game``.
        estimator: the estimator class.
        options: constructor arguments that select this method in ``estimator`` (e.g. ``variant``).
        batched: run settings one fit can batch (a leading configuration axis).
        trained_together: run settings whose fits ``estimator.fit_together`` trains in one loop.
        devices: torch devices the estimator runs on.
        description: one line for listings.
    """

    name: str
    setting: str
    estimator: type
    options: dict = field(default_factory=dict)
    batched: tuple[str, ...] = ()
    devices: tuple[str, ...] = ("cpu", "cuda")
    description: str = ""
    trained_together: tuple[str, ...] = ()

    def create(self, **kwargs: Any):
        """An estimator of this method: ``estimator(**options, **kwargs)``."""
        fixed = sorted(set(kwargs) & set(self.options))
        if fixed:
            raise ValueError(f"{', '.join(fixed)} of method {self.name!r} is fixed by the method itself ({self.options}); do not pass it")
        return self.estimator(**self.options, **kwargs)


_REGISTRY: dict[tuple[str, str], MethodEntry] = {}


def register(
    name: str, setting: str, *, options: dict | None = None, batched: tuple[str, ...] = (), devices: tuple[str, ...] = ("cpu", "cuda"),
    description: str = "", trained_together: tuple[str, ...] = (),
) -> Callable[[type], type]:
    """Class decorator: register ``cls`` as method ``name`` of ``setting`` (see module docstring)."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; expected one of {', '.join(SETTINGS)}")

    def decorate(cls: type) -> type:
        key = (setting, name)
        if trained_together and not callable(getattr(cls, "fit_together", None)):
            raise ValueError(f"method {name!r} declares trained_together but {cls.__name__} has no fit_together(models, pilots)")
        summary = description or (cls.__doc__ or "").strip().split("\n")[0]
        entry = MethodEntry(name, setting, cls, dict(options or {}), tuple(batched), tuple(devices), summary, tuple(trained_together))
        if key in _REGISTRY and _REGISTRY[key].estimator.__qualname__ != cls.__qualname__:
            raise ValueError(f"method {name!r} of {setting} is already registered by {_REGISTRY[key].estimator.__name__}")
        _REGISTRY[key] = entry
        return cls

    return decorate


def registered(setting: str | None = None) -> list[MethodEntry]:
    """Every method registered so far (of ``setting``), in registration order."""
    if setting is not None and setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; expected one of {', '.join(SETTINGS)}")
    return [entry for entry in _REGISTRY.values() if setting is None or entry.setting == setting]


def method_names(setting: str) -> tuple[str, ...]:
    """The names of ``setting``'s methods."""
    return tuple(entry.name for entry in registered(setting))


def get_method(setting: str, name: str) -> MethodEntry:
    """The method ``name`` of ``setting``; ``ValueError`` naming the valid ones otherwise."""
    entries = {entry.name: entry for entry in registered(setting)}
    if name not in entries:
        raise ValueError(f"unknown {setting} method {name!r}; expected one of {', '.join(map(repr, entries))}")
    return entries[name]
