"""Where studies live: SQLite in the output folder by default, a journal file, or a database
server (``postgresql://...``) that several drivers share.

A storage of one driver (SQLite, a journal file) is locked for the run that uses it, so two runs
with different output folders cannot write one study file at once; a file that is not a readable
study is one clear error naming it, before Optuna or SQLAlchemy see it.
"""

from __future__ import annotations

import sqlite3
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepopt.errors import StateError

if TYPE_CHECKING:
    import optuna

    from hepopt.config.schema import HepoptConfig

JOURNAL = "journal:"
SQLITE = "sqlite:///"
SQLITE_HEADER = b"SQLite format 3\x00"
# Drivers sharing a study on a database server beat every HEARTBEAT s; a trial whose driver has
# been silent for GRACE s is failed by the next driver that starts a trial, and made up for.
HEARTBEAT, GRACE = 20, 90


def storage_url(config: HepoptConfig) -> str:
    """``search.storage`` if given (an Optuna RDB URL, or ``journal:PATH`` with PATH made absolute
    against the config's folder), else SQLite in the search's folder."""
    url = config.search.storage
    if url is None:
        return f"{SQLITE}{(config.search_dir / 'study.db').resolve()}"
    if url.startswith(JOURNAL):
        return JOURNAL + str((config.base_dir / url.removeprefix(JOURNAL)).resolve())
    return url


def is_shared(url: str) -> bool:
    """A database server (postgresql://, mysql://...): several drivers may share the study."""
    return not url.startswith((JOURNAL, "sqlite:"))


def storage_file(url: str) -> Path | None:
    """The file a storage of one driver lives in (None for a database server or in-memory SQLite)."""
    if url.startswith(JOURNAL):
        return Path(url.removeprefix(JOURNAL))
    if url.startswith(SQLITE) and url != SQLITE + ":memory:":
        return Path(url.removeprefix(SQLITE))
    return None


def open_storage(url: str) -> str | optuna.storages.BaseStorage:
    """What Optuna takes as ``storage`` for a URL from :func:`storage_url`; on a database server
    with heartbeats, so that a driver that dies leaves no trial RUNNING for ever.

    Raises:
        StateError: the study file exists but is not a readable study (empty, truncated, not
            SQLite), naming it and what to do.
    """
    import optuna

    if is_shared(url):
        return _server_storage(url)
    path = storage_file(url)
    if url.startswith(JOURNAL):
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        assert path is not None
        try:
            # An open(O_EXCL) lock file works on NFS, where the default symlink lock may not.
            storage = optuna.storages.JournalStorage(
                JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
            )
        except Exception as err:
            raise _unreadable(path, err) from err
        return storage
    if path is not None:
        check_sqlite_file(path)
        path.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
    return url


def check_sqlite_file(path: Path) -> None:
    """An existing study database must be whole: an empty file means the study it held is lost,
    a truncated or foreign one would give SQLAlchemy's three-line errors further on."""
    if not path.exists():
        return
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as err:
        raise _unreadable(path, err) from err
    if not header:
        msg = (
            f"{path}: the study database is empty (a truncated copy? the trials it held are lost); "
            "restore it from a backup, or delete it to start a new study"
        )
        raise StateError(msg)
    if header != SQLITE_HEADER:
        raise _unreadable(path, "not an SQLite database")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as err:
        raise _unreadable(path, err) from err
    if verdict != "ok":
        raise _unreadable(path, f"damaged: {verdict}")


def _unreadable(path: Path, why: object) -> StateError:
    return StateError(
        f"{path}: not a readable study ({why}); restore it from a backup, or move it away to start a new study"
    )


@contextmanager
def storage_lock(config: HepoptConfig) -> Iterator[None]:
    """Hold a journal file or an SQLite database named in ``search.storage`` for this run, so a run
    with another output folder cannot write the same study file at the same time (the default
    SQLite in the output folder is covered by the output folder's lock)."""
    from hepopt.runtime.lock import file_lock

    path = storage_file(storage_url(config)) if config.search.storage else None
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    advice = "wait for it to finish, or give this run its own 'search.storage'"
    with file_lock(path.with_name(path.name + ".hepopt-lock"), f"search.storage {path}", advice):
        yield


def _server_storage(url: str, attempts: int = 3) -> optuna.storages.RDBStorage:
    import optuna
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.x
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT, grace_period=GRACE)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # Two drivers creating Optuna's tables in a new database at once: one loses the race.
            if attempt == attempts - 1:
                raise
            time.sleep(1.0 + attempt)
    raise AssertionError  # unreachable


def existing_storage(url: str) -> Any | None:
    """The storage at ``url`` for reading, or None when its file does not exist (nothing is
    created: ``hepopt status`` only looks)."""
    path = storage_file(url)
    if path is not None and not path.is_file():
        return None
    return open_storage(url)
