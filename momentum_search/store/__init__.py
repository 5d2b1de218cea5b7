"""The store: where studies live (an Optuna RDB storage behind a SQLAlchemy URL, or the gRPC storage
proxy in front of one), how it rides out faults, how workers claim and finish trials in it, and the bulk
reads the commands make. It imports nothing from the packages above it (search, studies and up).

- ``_open.py``: the URL to a storage (SQLite tuned for many workers, PostgreSQL, MySQL, the proxy);
- ``_rdb.py``: Optuna's RDB storage that rides out a dropped connection, with one transaction for many calls;
- ``_claims.py``: :class:`TrialStore`, what the engines ask beyond Optuna's calls (claim, finish);
- ``_internals.py``: the one module that touches Optuna's internals, each use beside its public fallback;
- ``_queries.py``: reading only what a command needs (aggregates, trials, outlines);
- ``_proxy_client.py``, ``_proxy_server.py``: the two ends of the storage proxy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from momentum_search._lazy import lazy_exports

if TYPE_CHECKING:
    from momentum_search.store._claims import TrialStore
    from momentum_search.store._errors import StorageError, describe_error
    from momentum_search.store._heartbeat import REASON_ATTR, Heartbeat, fail_stale_trials
    from momentum_search.store._internals import PUBLIC_API_ENV, TESTED_SCHEMA, storage_of, uses_private_api
    from momentum_search.store._open import SQLITE_BUSY_TIMEOUT, open_storage
    from momentum_search.store._proxy_client import DEFAULT_PROXY_PORT, HEARTBEAT_ATTR, PROXY_THREADS, describe_rpc_error
    from momentum_search.store._proxy_server import proxy_process, serve_proxy
    from momentum_search.store._queries import (
        StudyAggregate,
        TrialOutline,
        query_outlines,
        query_trials,
        stored_outlines,
        stored_trials,
        study_aggregates,
    )
    from momentum_search.store._rdb import Storage
    from momentum_search.store._urls import CONNECT_TIMEOUT, DEFAULT_STORAGE, STORAGE_ENV, mask_url, resolve_url

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_PROXY_PORT",
    "DEFAULT_STORAGE",
    "HEARTBEAT_ATTR",
    "PROXY_THREADS",
    "PUBLIC_API_ENV",
    "REASON_ATTR",
    "SQLITE_BUSY_TIMEOUT",
    "STORAGE_ENV",
    "TESTED_SCHEMA",
    "Heartbeat",
    "Storage",
    "StorageError",
    "StudyAggregate",
    "TrialOutline",
    "TrialStore",
    "describe_error",
    "describe_rpc_error",
    "fail_stale_trials",
    "mask_url",
    "open_storage",
    "proxy_process",
    "query_outlines",
    "query_trials",
    "resolve_url",
    "serve_proxy",
    "storage_of",
    "stored_outlines",
    "stored_trials",
    "study_aggregates",
    "uses_private_api",
]

# Each module is imported when one of its names is first used: the search package takes REASON_ATTR and
# fail_stale_trials from here without Optuna, and only `storage-proxy` imports the proxy's server.
__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "TrialStore": "._claims",
        **dict.fromkeys(("StorageError", "describe_error"), "._errors"),
        **dict.fromkeys(("REASON_ATTR", "Heartbeat", "fail_stale_trials"), "._heartbeat"),
        **dict.fromkeys(("PUBLIC_API_ENV", "TESTED_SCHEMA", "storage_of", "uses_private_api"), "._internals"),
        **dict.fromkeys(("SQLITE_BUSY_TIMEOUT", "open_storage"), "._open"),
        **dict.fromkeys(("DEFAULT_PROXY_PORT", "HEARTBEAT_ATTR", "PROXY_THREADS", "describe_rpc_error"), "._proxy_client"),
        **dict.fromkeys(("proxy_process", "serve_proxy"), "._proxy_server"),
        **dict.fromkeys(
            (
                "StudyAggregate",
                "TrialOutline",
                "query_outlines",
                "query_trials",
                "stored_outlines",
                "stored_trials",
                "study_aggregates",
            ),
            "._queries",
        ),
        "Storage": "._rdb",
        **dict.fromkeys(("CONNECT_TIMEOUT", "DEFAULT_STORAGE", "STORAGE_ENV", "mask_url", "resolve_url"), "._urls"),
    },
)
