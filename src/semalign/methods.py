"""Every method of every setting, with its capability tags: the one registry to query.

Importing this module imports every estimator package (single link, federated downlink, game), so
the registry it exposes is complete. It sits in the layer of what it holds (above ``multiuser`` and
``transceivers``, below ``experiments``)::

    from semalign.methods import get_method, method_names
    method_names("single-link")            # ('linear-admm', 'neural', 'first-k', 'top-k', 'eigen-k')
    get_method("federated", "multi-link").create(channels=H)   # FederatedDownlink(variant="multi-link")
"""

import semalign.multiuser  # noqa: F401  (registers the federated and game methods)
import semalign.transceivers  # noqa: F401  (registers the single-link methods)
from semalign._registry import MethodEntry, get_method, method_names, registered

__all__ = ["MethodEntry", "devices_of", "get_method", "method_names", "registered"]


def devices_of(setting: str) -> tuple[str, ...]:
    """The devices every method of ``setting`` runs on (what a run of that setting may ask for)."""
    entries = registered(setting)
    return tuple(d for d in ("cpu", "cuda") if all(d in e.devices for e in entries))
