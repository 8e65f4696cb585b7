"""Names that moved in 0.2.0 keep working for one release, each with a DeprecationWarning naming the
new home; the 0.1 game API (pairs in the constructor, ``fit()``, ``transmit(design)``) too."""

from __future__ import annotations

import importlib

import pytest
import torch

from semalign.latents import load_latents

MOVED = {
    "semalign.experiments.mimo": ("run_mimo", "quick_grid", "full_grid", "MimoGrid", "METHODS", "PAPER_SEEDS"),
    "semalign.experiments.game": ("run_game", "quick_grid", "GameGrid", "SCHEDULES", "DIGITS_PAIRS"),
    "semalign.experiments.federated": ("run_federated", "quick_grid", "FederatedGrid", "synthetic_pool", "DIGITS_USERS"),
    "semalign.experiments.sweep": ("run_sweep", "get_experiment", "group_runs", "run_id", "RESULTS_VERSION"),
    "semalign.experiments.link_runs": ("LinkRun", "run_link_group", "latents_version"),
    "semalign.experiments.game_runs": ("GameRun", "run_game_group"),
    "semalign.experiments.federated_runs": ("FederatedRun", "run_federated_group"),
    "semalign.experiments.presets": ("preset_grid", "PRESETS", "extract_command"),
    "semalign.experiments.figures": ("draw_mimo_figures", "draw_game_figures", "png_caption", "summarise"),
    "semalign.transceivers.linear_admm": ("real_composite", "block_diagonal_channel", "project_power_ball", "canonical_phase", "column_phases"),
    "semalign.transceivers.baselines": ("BASELINES",),
    "semalign.multiuser.semantic_game": ("METHODS",),
}


@pytest.mark.parametrize("module, name", [(m, n) for m, names in MOVED.items() for n in names])
def test_moved_names_still_resolve_with_a_warning(module, name):
    with pytest.warns(DeprecationWarning, match=name):
        value = getattr(importlib.import_module(module), name)
    assert value is not None


def test_unknown_names_still_fail():
    with pytest.raises(AttributeError):
        importlib.import_module("semalign.experiments.mimo").plan_tasks  # noqa: B018 - removed internals stay removed


def test_the_0_1_game_api_still_works():
    from semalign.multiuser import SemanticInterferenceGame

    pairs = [load_latents("synthetic", n_train=300, n_test=40, d_tx=8, d_rx=6, seed=s, hidden_dim=6, semantic_dim=3) for s in (1, 2)]
    with pytest.warns(DeprecationWarning, match="pass the pairs to fit"):
        old = SemanticInterferenceGame(pairs, pilots_per_class=10, seeds=(3,))
    old.fit()
    design = old.design("ignore-interference")
    with pytest.warns(DeprecationWarning, match="transmit\\(design\\) is deprecated"):
        sent = old.transmit(design)
    assert len(sent) == 1 and len(sent[0]) == 2  # per instance, per pair: (y_hat, order)
    (y_hat, order), _ = sent[0]
    assert y_hat.shape == (40, 6) and sorted(order.tolist()) == list(range(40))
    new = SemanticInterferenceGame(pilots_per_class=10, seeds=(3,), method="ignore-interference").fit(pairs)
    generators, orders = new.instance_orders(40)
    estimates = new.transmit([p.test.tx[orders[0][q]] for q, p in enumerate(pairs)], generator=generators)
    assert torch.equal(estimates[0], y_hat)  # the same estimates through the 0.2 API
