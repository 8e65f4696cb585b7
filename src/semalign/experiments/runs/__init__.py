"""The run kinds of the engine: what one run of each setting is and how a group of runs executes.

* ``link`` (:mod:`~semalign.experiments.runs.link`): one single-link method on one channel;
* ``game`` (:mod:`~semalign.experiments.runs.game`): one interference-game setting and method;
* ``federated`` (:mod:`~semalign.experiments.runs.federated`): one federated-downlink protocol.
"""

from __future__ import annotations

from semalign.experiments.engine import RunKind

#: Run kinds by name, in the order ``semalign run`` lists them.
RUN_KINDS = ("link", "game", "federated")


def get_run_kind(name: str) -> RunKind:
    """The run kind called ``name``. Raises ``ValueError`` naming the valid ones."""
    if name == "link":
        from semalign.experiments.runs.link import run_kind
    elif name == "game":
        from semalign.experiments.runs.game import run_kind
    elif name == "federated":
        from semalign.experiments.runs.federated import run_kind
    else:
        raise ValueError(f"unknown experiment {name!r}; expected one of {', '.join(RUN_KINDS)}")
    return run_kind()
