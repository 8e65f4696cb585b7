"""Where semalign keeps cached artefacts, and how it writes files without leaving half-written ones.

The cache root is, in order of precedence:

1. an explicit ``cache_dir`` argument,
2. ``$SEMALIGN_CACHE``,
3. ``$XDG_CACHE_HOME/semalign``,
4. ``~/.cache/semalign``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the cache root directory (not created here).

    Args:
        cache_dir: explicit directory; wins over the environment when given.
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("SEMALIGN_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "semalign"
    return Path.home() / ".cache" / "semalign"


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a binary file for writing that appears at ``path`` only once fully written.

    Data goes to a temporary file in the same directory (same file system, so the final
    ``os.replace`` is atomic). If the block raises, the temporary file is removed and ``path`` is
    left as it was: an interrupted run never leaves a truncated file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; cached data is not secret
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
