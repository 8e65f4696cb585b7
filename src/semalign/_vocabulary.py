"""One home for each word list that several layers share.

A vocabulary that belongs to one concept lives with it (the SNR conventions in
:mod:`semalign.link.noise`, primary-user protections in :mod:`semalign.multiuser.network`); the
lists below are used across layers, so they live here, below every layer.
"""

from __future__ import annotations

#: The six seeds of the published studies (channels, pilots, classifiers and noise derive from each).
PAPER_SEEDS: tuple[int, ...] = (27, 42, 100, 123, 144, 200)

#: Classes of linear maps: ``widely-linear`` acts on real and imaginary parts separately (real maps
#: on the real latents and the real composite channel); ``strictly-linear`` is complex-linear on
#: packed latents (the published formulation).
PROCESSING: tuple[str, ...] = ("widely-linear", "strictly-linear")

#: What a design knows of the channel while it is fitted: ``aware`` (the link's design channel and
#: noise) or ``unaware`` (an identity channel without noise; the symbols still go through the real one).
AWARENESS: tuple[str, ...] = ("aware", "unaware")

#: The single-link baselines' receivers: ``received`` (a map learned from the pilots as received
#: over the design link) or ``published`` (the published design: a least-squares map fitted on
#: complete, clean latents).
BASELINE_RECEIVERS: tuple[str, ...] = ("received", "published")

#: Update schedules of the interference game.
SCHEDULES: tuple[str, ...] = ("jacobi", "gauss-seidel", "async")

#: Where work runs: ``local`` (this process) or ``dask`` (a Dask cluster's workers).
EXECUTORS: tuple[str, ...] = ("local", "dask")

#: The three settings of the library; every result row records one.
SETTINGS: tuple[str, ...] = ("single-link", "federated", "game")
