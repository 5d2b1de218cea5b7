"""Where the store is: the storage URL from an argument, the environment or the default, and the URL
fit for output (its password masked)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from momentum_search.store._errors import StorageError

DEFAULT_STORAGE = "sqlite:///momentum-search.db"
STORAGE_ENV = "MOMENTUM_SEARCH_STORAGE"
CONNECT_TIMEOUT = 10  # seconds to reach a database server (or the storage proxy)


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
        return raw  # a storage proxy (store/_proxy_client.py), checked when opened
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise StorageError(f"storage {mask_url(raw)!r} is not a SQLAlchemy URL, e.g. {DEFAULT_STORAGE}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            raise StorageError("an in-memory SQLite database cannot be shared by workers; give a file path")
        parsed = parsed.set(database=str(Path(database).expanduser().resolve()))
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
