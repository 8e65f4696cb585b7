"""A resumable Parquet result store: one part file per finished group of runs, merged into ``results.parquet``.

Each group's rows are written to ``parts/<key>.parquet`` through a temporary file of a unique name
and an atomic rename as soon as the group finishes, so an interrupted run loses nothing finished,
leaves nothing half-written, and two processes writing into one folder never touch each other's
files. Every row carries the ``run_id`` of its run; a rerun skips every run whose id is stored.

Damage is repaired, not fatal: a part that cannot be read (empty, truncated, corrupt) is moved to
``parts/quarantine/`` with a warning naming it, and its runs count as not done, so the next run
executes them again; a damaged ``results.parquet`` is rebuilt from the parts (:func:`read_results`).

Concurrent runs on one folder share the work through *claims*: before executing a group, a process
creates ``parts/<key>.claim`` exclusively (:meth:`ResultStore.claim`); another process that finds
the claim leaves the group to its owner and waits for its part. A claim is stale, and may be taken
over, when its owner on this host has exited or when its owner has not refreshed it for
:data:`CLAIM_TIMEOUT` seconds (owners refresh their claims while they work, :class:`ClaimKeeper`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
import warnings
from pathlib import Path

import polars as pl

#: The usual keys that order ``results.parquet`` when the run kind gives none.
DEFAULT_ORDER = ("experiment", "method", "awareness", "pu_protection", "pilots_per_class", "n_tx", "channel_uses", "cross_gain_db", "pu_limit_db", "snr_db", "seed", "draw", "pair", "user")
#: The commands that fill an output folder (``{out}``: the folder), for messages about a missing one.
CREATE_HINT = "`semalign reproduce mimo --out {out}` (or `reproduce game`, `reproduce federated`, `semalign run EXPERIMENT ... --out {out}`)"
#: Seconds after which a claim nobody refreshed is stale (its owner died on another host, or hangs).
CLAIM_TIMEOUT = 300.0
#: Seconds between refreshes of held claims (well under :data:`CLAIM_TIMEOUT`).
CLAIM_REFRESH = 30.0
#: Temporary files older than this (seconds) are leftovers of a killed writer; writing a part takes
#: well under a second.
ORPHAN_AGE = 600.0


class ResultStore:
    """Result rows of one output folder.

    Args:
        out_dir: the run's output folder (created if missing); parts go to ``out_dir/parts``.

    Raises:
        ValueError: ``out_dir`` (or a folder above it) is a file, or the folder cannot be created
            or written; the message names the path.
    """

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out_dir = Path(out_dir)
        self.parts_dir = self.out_dir / "parts"
        self.quarantine_dir = self.parts_dir / "quarantine"
        self._token = uuid.uuid4().hex  # names this store's claims (several stores may share a process)
        self._read_cache: dict[str, tuple[tuple[int, int], pl.DataFrame]] = {}
        _check_writable_folder(self.out_dir)
        _check_writable_folder(self.parts_dir)
        self._remove_orphans()

    # ------------------------------------------------------------------ reading (with repair)
    def _parts(self) -> list[Path]:
        return sorted(self.parts_dir.glob("*.parquet"))

    def _read_part(self, part: Path) -> pl.DataFrame | None:
        """The rows of ``part`` (``None`` if it was damaged and moved to quarantine, or vanished).

        A run reads every part when it plans (to find the stored and the damaged ones) and again
        when it consolidates; parts are written once and replaced only by a rename, so a part
        whose modification time and size are unchanged is served from memory the second time."""
        try:
            stat = part.stat()
            version = (stat.st_mtime_ns, stat.st_size)
            cached = self._read_cache.get(part.name)
            if cached is not None and cached[0] == version:
                return cached[1]
            frame = pl.read_parquet(part)
        except FileNotFoundError:
            return None  # quarantined by a concurrent run in the meantime
        except pl.exceptions.PolarsError as error:  # the file's content is damaged (not a transient I/O error)
            self._quarantine(part, error)
            return None
        self._read_cache[part.name] = (version, frame)
        return frame

    def _quarantine(self, part: Path, error: Exception) -> None:
        self.quarantine_dir.mkdir(exist_ok=True)
        target = self.quarantine_dir / f"{part.stem}.{uuid.uuid4().hex[:8]}{part.suffix}"
        with contextlib.suppress(FileNotFoundError):  # another run may have moved it first
            os.replace(part, target)
            reason = " ".join(str(error).split())[:200]
            warnings.warn(f"result part {part} cannot be read ({type(error).__name__}: {reason}); moved it to {target}; its runs will run again", RuntimeWarning, stacklevel=3)

    def _frames(self) -> list[tuple[Path, pl.DataFrame]]:
        """Every readable part holding ``run_id`` rows (damaged parts are quarantined on the way)."""
        frames = []
        for part in self._parts():
            frame = self._read_part(part)
            if frame is not None and "run_id" in frame.columns:
                frames.append((part, frame))
        return frames

    def done_runs(self) -> set[str]:
        """``run_id`` of every stored row (every part is read whole, so damage anywhere in a part
        quarantines it now rather than after its runs were skipped)."""
        return {run for _, frame in self._frames() for run in frame["run_id"].to_list()}

    def load_runs(self, run_ids: set[str] | None = None) -> pl.DataFrame:
        """Stored rows whose ``run_id`` is in ``run_ids`` (all if ``None``), concatenated diagonally
        (later settings may add columns). A run may have several rows (one per pair or user); if
        two parts hold the same run (overlapping runs executed at once), only the rows of the first
        part are kept, so no run is counted twice."""
        frames = self._frames()
        if not frames:
            return pl.DataFrame()
        frame = pl.concat([f.with_columns(pl.lit(p.stem).alias("_part")) for p, f in frames], how="diagonal_relaxed")
        if run_ids is not None:
            frame = frame.filter(pl.col("run_id").is_in(sorted(run_ids)))
        first = pl.col("_part") == pl.col("_part").min().over("run_id")
        return frame.filter(first).drop("_part")

    # ------------------------------------------------------------------ writing
    def has_part(self, key: str) -> bool:
        """Whether group ``key``'s rows are stored."""
        return (self.parts_dir / f"{key}.parquet").is_file()

    def write(self, key: str, rows: list[dict]) -> None:
        """Store ``rows`` of group ``key`` atomically."""
        _write_atomically(pl.DataFrame(rows, infer_schema_length=None), self.parts_dir / f"{key}.parquet")

    def consolidate_frame(self, frame: pl.DataFrame, order: tuple[str, ...] = DEFAULT_ORDER) -> Path:
        """Write ``frame`` (rows of this store) to ``out_dir/results.parquet``, sorted by the columns of
        ``order`` it has."""
        path = self.out_dir / "results.parquet"
        if frame.height:
            frame = frame.sort([c for c in order if c in frame.columns], nulls_last=True)
        _write_atomically(frame, path)
        return path

    def _remove_orphans(self) -> None:
        """Delete what a killed run left: temporary files older than :data:`ORPHAN_AGE` and stale
        claims (:func:`claim_is_stale`)."""
        now = time.time()
        for folder in (self.out_dir, self.parts_dir):
            for tmp in folder.glob(".*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    if now - tmp.stat().st_mtime > ORPHAN_AGE:
                        tmp.unlink()
        for claim in self.parts_dir.glob("*.claim"):
            if claim_is_stale(claim):
                _remove_if_unchanged(claim)

    # ------------------------------------------------------------------ claims (concurrent runs)
    def _claim_path(self, key: str) -> Path:
        return self.parts_dir / f"{key}.claim"

    def claim(self, key: str) -> bool:
        """Claim group ``key`` for this process: ``True`` if it is now ours, ``False`` if another
        live process holds it. A stale claim (:func:`claim_is_stale`) is taken over."""
        path = self._claim_path(key)
        owner = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "token": self._token, "since": time.time()}).encode()
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not claim_is_stale(path):
                    return False
                _remove_if_unchanged(path)
                continue
            with os.fdopen(fd, "wb") as handle:
                handle.write(owner)
            return True
        return False

    def release(self, key: str) -> None:
        """Give up the claim on group ``key`` (only this store's own claim is removed: one another
        process took over after ours went stale stays)."""
        path = self._claim_path(key)
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(path.read_bytes() or b"{}").get("token") == self._token:
                path.unlink()

    def claim_held(self, key: str) -> bool:
        """Whether some live process holds a claim on group ``key``."""
        path = self._claim_path(key)
        return path.exists() and not claim_is_stale(path)

    def refresh(self, keys) -> None:
        """Mark the claims on ``keys`` as alive now."""
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                os.utime(self._claim_path(key))


def claim_is_stale(path: Path) -> bool:
    """A claim whose owner is gone: a process of this host that no longer runs, or one nobody
    refreshed for :data:`CLAIM_TIMEOUT` seconds (an owner on another host that died)."""
    try:
        age = time.time() - path.stat().st_mtime
        owner = json.loads(path.read_bytes() or b"{}")
    except FileNotFoundError:
        return False  # released meanwhile: no claim, and nothing stale to remove
    except (OSError, ValueError):
        owner = {}  # being written, or damaged: only its age can tell
    if age > CLAIM_TIMEOUT:
        return True
    if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        return not _process_alive(owner["pid"])
    return False


def _remove_if_unchanged(path: Path) -> None:
    """Remove a stale claim unless another process replaced it meanwhile (its content changed):
    the window between reading and removing is a few microseconds, and a group run twice in it is
    still stored once (:meth:`ResultStore.load_runs`)."""
    with contextlib.suppress(FileNotFoundError):
        seen = path.read_bytes()  # claims carry their owner's token: a new owner's content differs
        if claim_is_stale(path) and path.read_bytes() == seen:
            path.unlink()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


class ClaimKeeper:
    """Refresh the claims this process holds every :data:`CLAIM_REFRESH` seconds, in a background
    thread, so that other processes never take over a group that is still being worked on; on exit
    release every claim still held.

    Args:
        store: the store whose claims are kept.
    """

    def __init__(self, store: ResultStore) -> None:
        self.store = store
        self.held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="semalign-claims", daemon=True)

    def claim(self, key: str) -> bool:
        """Claim ``key`` (see :meth:`ResultStore.claim`) and keep it fresh while held."""
        if not self.store.claim(key):
            return False
        with self._lock:
            self.held.add(key)
        return True

    def release(self, key: str) -> None:
        with self._lock:
            self.held.discard(key)
        self.store.release(key)

    def _keep(self) -> None:
        while not self._stop.wait(CLAIM_REFRESH):
            with self._lock:
                keys = list(self.held)
            self.store.refresh(keys)

    def __enter__(self) -> ClaimKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        for key in list(self.held):
            self.release(key)


def succeeded(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` without those marked ``failed`` (non-finite metrics): what figures and summaries
    average. Rows stored before the column existed count as succeeded."""
    if "failed" not in rows.columns:
        return rows
    return rows.filter(pl.col("failed").is_null() | ~pl.col("failed"))


def read_results(out_dir: str | os.PathLike) -> pl.DataFrame:
    """The rows of ``out_dir/results.parquet``; a damaged file is rebuilt from ``out_dir/parts``
    (every stored run once), with a warning.

    Raises:
        FileNotFoundError: ``out_dir`` holds neither ``results.parquet`` nor parts to rebuild it from.
        ValueError: ``results.parquet`` is damaged and no part can be read to rebuild it.
    """
    out_dir = Path(out_dir)
    path = out_dir / "results.parquet"
    if not path.is_file() and not any((out_dir / "parts").glob("*.parquet")):
        raise FileNotFoundError(f"{path} does not exist; run {CREATE_HINT.format(out=out_dir)} first")
    try:
        return pl.read_parquet(path)
    except Exception as error:
        reason = "it is missing" if not path.exists() else f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"
    store = ResultStore(out_dir)
    rows = store.load_runs()
    if not rows.height:
        raise ValueError(f"{path} cannot be read ({reason}) and {store.parts_dir} holds no readable part to rebuild it from; rerun the study or sweep into {out_dir}")
    store.consolidate_frame(rows)
    warnings.warn(f"{path} could not be read ({reason}); rebuilt it from the {rows['run_id'].n_unique()} runs stored in {store.parts_dir}", RuntimeWarning, stacklevel=2)
    return pl.read_parquet(path)


def check_output_folder(folder: str | os.PathLike) -> None:
    """Check, without creating anything, that ``folder`` can be an output folder: no file in the
    way, and the nearest existing folder on its path writable.

    Raises:
        ValueError: naming the path that is in the way or cannot be written.
    """
    folder = Path(folder)
    for above in (folder, *folder.parents):
        if not above.exists():
            continue
        if not above.is_dir():
            raise ValueError(f"output folder {folder}: {above} is a file, not a folder; expected a folder path (created if missing)")
        if not os.access(above, os.W_OK | os.X_OK):
            raise ValueError(f"output folder {folder}: {above} is not writable; choose a folder you can write to")
        return


def _check_writable_folder(folder: Path) -> None:
    """Create ``folder`` if needed and make sure files can be written into it (a probe file: the
    permission bits do not tell for every file system, nor for root)."""
    check_output_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test.{uuid.uuid4().hex[:8]}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"output folder {folder} cannot be written ({error.strerror or error}); choose a folder you can write to") from None


def _write_atomically(frame: pl.DataFrame, final: Path) -> None:
    """Write ``frame`` to a temporary file of a unique name beside ``final``, then rename it to
    ``final`` (atomic on one file system); on any failure remove the temporary file."""
    tmp = final.with_name(f".{final.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        frame.write_parquet(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
