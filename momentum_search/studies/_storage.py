"""Where studies live: an Optuna RDB storage behind a SQLAlchemy URL, SQLite by default.

Plain SQLite fails under several worker processes ("database is locked", and worse: pysqlite starts
transactions lazily, so two workers can both read a trial as WAITING and both claim it). Here every
SQLite transaction starts with ``BEGIN IMMEDIATE``, which takes the write lock before the first read,
so claims are atomic; the busy timeout makes a writer wait for the lock (SQLite retries internally
until the timeout) instead of failing; WAL lets readers go on while one writes. PostgreSQL and MySQL
URLs go to Optuna unchanged apart from a connect timeout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from momentum_search.search import allow_experimental

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

DEFAULT_STORAGE = "sqlite:///momentum-search.db"
STORAGE_ENV = "MOMENTUM_SEARCH_STORAGE"
SQLITE_BUSY_TIMEOUT = 60.0  # seconds a SQLite writer waits for the lock before giving up
CONNECT_TIMEOUT = 10  # seconds to reach a database server


class StorageError(RuntimeError):
    """The storage cannot be reached or used; the message never contains a password."""


@dataclass(frozen=True)
class Heartbeat:
    """How a dead worker is detected: its trial's heartbeat is older than ``grace_period`` seconds.

    ``max_retry`` bounds how often one configuration is re-enqueued after its worker died.
    """

    interval: int = 10
    grace_period: int = 30
    max_retry: int = 3

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise ValueError(f"heartbeat interval must be ≥ 1 second, got {self.interval}")
        if self.grace_period <= self.interval:
            raise ValueError(
                f"grace_period must exceed the heartbeat interval ({self.interval} s), got {self.grace_period}"
            )
        if self.max_retry < 0:
            raise ValueError(f"max_retry must be ≥ 0, got {self.max_retry}")


def resolve_url(url: str | None = None) -> str:
    """The storage URL to use: ``url``, else ``$MOMENTUM_SEARCH_STORAGE``, else ``momentum-search.db`` here.

    SQLite paths become absolute, so that workers started elsewhere open the same file, and a URL
    without a driver gets one that is installed (SQLAlchemy's default PostgreSQL driver is psycopg 3,
    the project ships psycopg2).

    Raises:
        StorageError: not a URL, or an in-memory SQLite database (workers could not share it).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    raw = url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE
    if raw.startswith("grpc://"):
        return raw  # a storage proxy (studies/_proxy.py), checked when opened
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise StorageError(f"storage {mask_url(raw)!r} is not a SQLAlchemy URL, e.g. {DEFAULT_STORAGE}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise StorageError("an in-memory SQLite database cannot be shared by workers; give a file path")
        parsed = parsed.set(database=str(Path(parsed.database).expanduser().resolve()))
    elif "+" not in parsed.drivername:
        parsed = parsed.set(drivername=_installed_driver(parsed.drivername))
    return parsed.render_as_string(hide_password=False)


def _installed_driver(backend: str) -> str:
    preferred = {"postgresql": ("psycopg", "psycopg2"), "mysql": ("MySQLdb", "pymysql")}.get(backend, ())
    for module in preferred:
        if importlib.util.find_spec(module) is not None:
            return f"{backend}+{module.lower()}"
    return backend


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``; fit for output and logs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Not parsable: keep only what cannot hold a password.
        return url.split("://", 1)[0] + "://…" if "://" in url else "…"


def open_storage(url: str | None = None, *, heartbeat: Heartbeat = Heartbeat()) -> RDBStorage:
    """Open (and create the tables of) the storage at ``url`` (see :func:`resolve_url`); a
    ``grpc://HOST:PORT`` URL connects to a storage proxy instead (:func:`open_proxy`).

    Raises:
        StorageError: the database cannot be reached, opened or created; one line, no password.
    """
    import optuna
    from sqlalchemy import event
    from sqlalchemy.engine import make_url

    url = resolve_url(url)
    if url.startswith("grpc://"):
        from momentum_search.studies._proxy import open_proxy

        return open_proxy(url, heartbeat=heartbeat)  # type: ignore[return-value]  # duck-types what we use
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    engine_kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        assert parsed.database is not None  # resolve_url refuses in-memory databases
        _prepare_sqlite(Path(parsed.database))
        # isolation_level=None: pysqlite emits no BEGIN of its own; _begin_immediate does.
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT, "isolation_level": None}
    elif backend in ("postgresql", "mysql"):
        engine_kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    with allow_experimental():
        try:
            storage = optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat.interval,
                grace_period=heartbeat.grace_period,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=heartbeat.max_retry
                ),
            )
        except Exception as error:
            raise StorageError(f"cannot open storage {mask_url(url)}: {describe_error(error)}") from None
    if backend == "sqlite":
        event.listen(storage.engine, "begin", _begin_immediate)
    return storage


def _prepare_sqlite(path: Path) -> None:
    if not path.parent.is_dir():
        raise StorageError(f"cannot open storage sqlite:///{path}: folder {path.parent} does not exist")
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)) as connection:
            # WAL persists in the file: readers no longer wait for a writer.
            connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as error:
        raise StorageError(f"cannot open storage sqlite:///{path}: {error}") from None


def _begin_immediate(connection: Any) -> None:
    # Take the write lock up front: a read-then-write transaction (claiming a WAITING trial) can then
    # never interleave with another worker's, and never needs a lock upgrade that SQLite would refuse.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def describe_error(error: BaseException) -> str:
    """The first line of the innermost database error, which names the cause without the URL."""
    from sqlalchemy.exc import DBAPIError

    cause: BaseException = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, DBAPIError) and cause.orig is not None:
        cause = cause.orig
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__
