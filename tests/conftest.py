"""Shared fixtures.

Tests never write to the user's real cache: anything that trains the digits zoo uses the
session-scoped ``digits_cache`` directory (trained once per test session, a few seconds).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def digits_cache(tmp_path_factory):
    """A cache root holding the fully trained digits zoo (trained once per session)."""
    from semalign.latents import train_digits_zoo

    root = tmp_path_factory.mktemp("semalign-cache")
    train_digits_zoo(cache_dir=root)
    return root


@pytest.fixture
def digits_cache_env(digits_cache, monkeypatch):
    """``$SEMALIGN_CACHE`` pointing at the trained session zoo, for tests using the default lookup."""
    monkeypatch.setenv("SEMALIGN_CACHE", str(digits_cache))
    return digits_cache


@pytest.fixture
def chromium() -> str:
    """Path of a headless Chromium for browser tests (``$SEMALIGN_CHROMIUM``, default
    ``/usr/bin/chromium``); the test is skipped where there is none or no ``playwright``."""
    path = os.environ.get("SEMALIGN_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        pytest.skip(f"no Chromium at {path} (install the Debian package `chromium`, or set SEMALIGN_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the Python package playwright is not installed (pip install playwright)")
    return path
