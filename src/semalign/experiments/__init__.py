"""Experiments: study grids, resumable execution, result store and figures."""
