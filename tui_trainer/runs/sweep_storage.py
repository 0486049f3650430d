"""Where a sweep's Optuna study lives, who may ask it for a trial, and how a dead trial is run again.

A sweep file names its storage (config.sweep_file): `sqlite` (study.db in the sweep folder, one
machine), `journal` (Optuna's JournalFileStorage, study.journal in the sweep folder, for a shared
filesystem where SQLite's locks cannot be trusted) or a database URL (PostgreSQL, MySQL: many
machines). A database URL's password is never printed: every message goes through `masked`.

Dead trials are Optuna's business: a database storage runs Optuna's heartbeat (a trial silent for
GRACE_SECONDS is failed by `optuna.storages.fail_stale_trials`) and its retry callback puts the
trial's values back in the queue. The journal storage has no heartbeat in Optuna (optuna#6615): a
trial on the journal beats in a file of the sweep folder instead (`heartbeats/NUMBER`, the writer's
wall time), read by the workers of other machines, so a node lost with its trial (a preempted job
requeued elsewhere) is noticed there too. Across machines that compares clocks: NTP keeps them
seconds apart, and the grace is minutes.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import math
import os
import time
import warnings
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..config.sweep_file import STORAGES, masked
from ..regular_file import read_bytes
from . import lock

HEARTBEAT_SECONDS = 60
"""How often a running trial tells a database storage it is alive."""
GRACE_SECONDS = 300
"""A trial silent this long is taken as dead (its machine lost, its process killed) and run again."""
MAX_RETRIES = 5
"""A trial whose process died this many times is failed for good instead of run once more."""


class SweepError(RuntimeError):
    """A sweep that cannot run or be read: the message says why and what to do (passwords masked)."""


def is_database(storage: str) -> bool:
    return storage not in STORAGES


def beats_in_files(storage: str) -> bool:
    """Whether the storage's trials beat in files of the sweep folder (the journal: Optuna has no heartbeat there)."""
    return storage == "journal"


BEATS_FOLDER = "heartbeats"


def beat_file(folder_path: Path, number: int) -> Path:
    return Path(folder_path, BEATS_FOLDER, str(int(number)))


def write_beat(path: Path) -> None:
    """Say the trial is alive now (an atomic write: a reader never sees half a time). OSError where the beats
    folder is a link: a sweep folder someone else made never has a beat written outside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent.is_symlink():
        raise OSError(f"{path.parent} is a link: no beat is written through it")
    atomic_write_text(path, f"{time.time():.3f}\n")


def last_beat(path: Path) -> float | None:
    """When the trial last beat (wall time), or None: no beat yet, or a file that holds no time."""
    try:
        value = float(read_bytes(path, limit=64).decode("ascii"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return value if math.isfinite(value) else None


def retry_callback(max_retry: int | None):
    """Optuna's retry of a dead trial, continuing in the dead trial's run folder when it has a last.pt.

    The retry keeps the trial's values (Optuna's callback); of the user attributes it keeps only
    `resume_dir`: the trial's own run folder, or (a retry killed before its run started) the one it
    inherited, so a second kill does not leave that folder behind."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    class RetryInItsFolder(RetryHeartbeatStaleTrialCallback):
        def __call__(self, study: Any, trial: Any) -> None:
            if trial.number in retried_numbers(study.get_trials(deepcopy=False)):
                return
            trial = copy.deepcopy(trial)
            run_dir = trial.user_attrs.get("run_dir") or trial.user_attrs.get("resume_dir")
            trial.user_attrs = {"resume_dir": run_dir} if run_dir else {}
            super().__call__(study, trial)

    with warnings.catch_warnings():  # "experimental" since Optuna 2.8
        warnings.simplefilter("ignore")
        return RetryInItsFolder(max_retry=max_retry)


def retried_numbers(trials: Sequence[Any]) -> set[int]:
    """Numbers of failed trials that were put back in the queue (the last of each retry's history)."""
    return {int(t.system_attrs["retry_history"][-1]) for t in trials if t.system_attrs.get("retry_history")}


def retry_of(trial: Any) -> int | None:
    """The trial this one (a FrozenTrial) runs again, or None."""
    history = trial.system_attrs.get("retry_history")
    return int(history[-1]) if history else None


def storage_for(
    folder_path: Path,
    storage: str,
    *,
    heartbeat_seconds: int | None = None,
    grace_seconds: int | None = None,
):
    """The Optuna storage a sweep names; several processes (and machines, but for sqlite) may open it.

    The heartbeat's interval and grace default to HEARTBEAT_SECONDS and GRACE_SECONDS."""
    import optuna

    try:
        if storage == "journal":
            from optuna.storages.journal import JournalFileBackend

            return optuna.storages.JournalStorage(JournalFileBackend(str(Path(folder_path, "study.journal"))))
        url = f"sqlite:///{Path(folder_path, 'study.db').resolve()}" if storage == "sqlite" else storage
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs={"connect_args": {"timeout": 120}} if storage == "sqlite" else {"pool_pre_ping": True},
            heartbeat_interval=heartbeat_seconds or HEARTBEAT_SECONDS,
            grace_period=grace_seconds or GRACE_SECONDS,
            heartbeat_stale_trial_callback=retry_callback(MAX_RETRIES),
        )
    except Exception as exc:  # noqa: BLE001 - a driver's or server's error, reported with the password masked
        raise SweepError(f"cannot open the study at {masked(storage)}: {database_problem(exc, storage)}") from None


DRIVERS = "pip install 'tui-trainer[sweep]' brings psycopg for postgresql://... and pymysql for mysql+pymysql://..."
"""What to install for a database URL (SQLAlchemy's plain mysql:// wants mysqlclient, a C build of its own)."""


def database_problem(exc: Exception, storage: str) -> str:
    """A driver's or server's error in one line, the password masked; a driver not installed says what to install."""
    if isinstance(exc, ImportError):
        return f"its driver is not installed ({exc.name or exc}): {DRIVERS}"
    return hide_password(str(exc), storage)


def hide_password(message: str, storage: str) -> str:
    """`message` with any password of `storage` masked (a driver may quote the URL it was given)."""
    message = message.replace(storage, masked(storage))
    for secret in _passwords(storage):
        message = message.replace(secret, "***")
    return message


def _passwords(storage: str) -> list[str]:
    from urllib.parse import parse_qsl, unquote, urlsplit

    try:
        parts = urlsplit(storage)
    except ValueError:
        return []
    user, at, _ = parts.netloc.rpartition("@")
    found = [user.split(":", 1)[1]] if at and ":" in user else []
    found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
    return [s for secret in found if secret for s in {secret, unquote(secret)}]


@contextlib.contextmanager
def study_lock(folder_path: Path, storage: str) -> Iterator[None]:
    """One process at a time asks the study for a trial, on every machine that shares it.

    A database: a lock held by the server for this study (PostgreSQL's advisory lock, MySQL's
    GET_LOCK), released by the server when the process dies. sqlite and journal: `.lock` in the sweep
    folder (fcntl, which Linux's NFS client passes to the server)."""
    if not is_database(storage):
        with _file_lock(Path(folder_path, ".lock")):
            yield
        return
    from sqlalchemy import text

    name = f"tui-trainer sweep {Path(folder_path).name}"
    try:
        engine = _lock_engine(storage)
        connection = engine.connect()
    except Exception as exc:  # noqa: BLE001 - the server's error, password masked
        raise SweepError(f"cannot reach {masked(storage)}: {database_problem(exc, storage)}") from None
    with connection:
        if engine.dialect.name == "postgresql":
            key = zlib.crc32(name.encode())
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        else:
            name = mysql_lock_name(name)
            _get_lock(connection, name, storage)
            try:
                yield
            finally:
                connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})


MYSQL_LOCK_SECONDS = 3600
"""How long one GET_LOCK waits before asking again: MariaDB takes no "forever" (-1: it answers NULL at once)."""


def _get_lock(connection: Any, name: str, storage: str) -> None:
    """MySQL's GET_LOCK on `name`, waited for as long as another process holds it."""
    from sqlalchemy import text

    while True:
        got = connection.execute(
            text("SELECT GET_LOCK(:name, :seconds)"), {"name": name, "seconds": MYSQL_LOCK_SECONDS}
        )
        answer = got.scalar()
        if answer == 1:
            return
        if answer is None:  # an error, not a wait that ran out (0)
            raise SweepError(f"{masked(storage)} refused the lock {name!r} that a sweep's workers take turns with")


def mysql_lock_name(name: str) -> str:
    """`name` as MySQL's GET_LOCK takes it: at most 64 characters, ASCII (MariaDB refuses some shorter names
    in bytes); a longer or non-ASCII name becomes a hash of the whole, so two sweeps whose
    names differ only at the end do not wait on each other."""
    if name.isascii() and len(name) <= 64:
        return name
    return f"tui-trainer sweep {hashlib.sha256(name.encode()).hexdigest()[:32]}"


@functools.lru_cache(maxsize=4)
def _lock_engine(url: str):
    """An engine without a pool: a connection closed is a connection gone, and its lock with it."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(url, poolclass=NullPool)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """fcntl's lock on `path` (where there is none, no lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux/macOS
        yield
        return
    try:
        fd = lock.open_lock_file(path)  # never through a symlink a received sweep folder may hold
    except lock.BadLockFile as exc:
        raise SweepError(str(exc)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
