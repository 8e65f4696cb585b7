"""Experiments: one run engine for every setting, the studies as named grids on it, figures, reports.

Layout (each module imports only those listed after it):

* :mod:`~semalign.experiments.report` — one self-contained HTML page per output folder;
* :mod:`~semalign.experiments.figures` — redraw a folder's figures as its manifest says;
* :mod:`~semalign.experiments.studies` — ``mimo``, ``game``, ``federated``: grids of runs, their
  figures and summaries, and the papers' presets;
* :mod:`~semalign.experiments.sweep_figures` — figures and summary of a sweep (``semalign run``);
* :mod:`~semalign.experiments.runs` — the run kinds (``link``, ``game``, ``federated``): what one run
  is and how a group of runs executes;
* :mod:`~semalign.experiments.engine` — run ids, grouping into batched calls, execution, resume;
* :mod:`~semalign.experiments.executors`, :mod:`~semalign.experiments.store`,
  :mod:`~semalign.experiments.manifest`, :mod:`~semalign.experiments.overrides`,
  :mod:`~semalign.experiments.plotting` — where groups run, the Parquet store, the folder's
  manifest, ``key=value`` sweeps, shared plotting.

The 0.1 modules ``mimo``, ``game``, ``federated``, ``sweep``, ``link_runs``, ``game_runs``,
``federated_runs`` and ``presets`` keep their public names for one release (deprecated; see
:mod:`~semalign.experiments.compat`).
"""
