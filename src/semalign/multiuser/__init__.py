"""Multi-user settings. So far: the single-pair building blocks of the interference game
(semantic water-filling and the closed-form semantic best response, spec game.md §4)."""

from semalign.multiuser.best_response import BestResponse, semantic_best_response
from semalign.multiuser.water_filling import semantic_water_filling

__all__ = ["BestResponse", "semantic_best_response", "semantic_water_filling"]
