"""Multi-user settings.

* The interference game with primary users: semantic water-filling, closed-form best
  responses, primary-user protection, the full-MIMO and fixed-eigenmode games with Jacobi /
  Gauss-Seidel / asynchronous updates, their conditions, and :class:`SemanticInterferenceGame`.
* The federated downlink: :class:`FederatedDownlink`, a shared semantic
  pre-equaliser at an access point and local equalisers at users, trained by explicit messages,
  in process or on Dask workers; :class:`FederatedFeatureBaseline`, First-K / Top-K without the AP's
  latents at the users (:mod:`~semalign.multiuser.downlink` holds what both share).

Every estimator here follows the contract of :mod:`semalign._estimator`, sends through a
:class:`~semalign.link.Link` and registers its methods in :mod:`semalign.methods`.
"""

from semalign.multiuser.best_response import BestResponse, budgeted_best_response, priced_best_response, semantic_best_response
from semalign.multiuser.conditions import ConditionReport, check_conditions
from semalign.multiuser.federated import FederatedDownlink
from semalign.multiuser.federated_baselines import FederatedFeatureBaseline
from semalign.multiuser.game import Equilibrium, GameDidNotConverge, solve_game
from semalign.multiuser.network import InterferenceNetwork
from semalign.multiuser.semantic_game import SemanticInterferenceGame
from semalign.multiuser.water_filling import semantic_water_filling

__all__ = [
    "BestResponse",
    "ConditionReport",
    "Equilibrium",
    "FederatedDownlink",
    "FederatedFeatureBaseline",
    "GameDidNotConverge",
    "InterferenceNetwork",
    "SemanticInterferenceGame",
    "budgeted_best_response",
    "check_conditions",
    "priced_best_response",
    "semantic_best_response",
    "semantic_water_filling",
    "solve_game",
]
