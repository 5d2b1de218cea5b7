"""The store's one error, and how a database error is read: its cause in one line, whether the server dropped the connection."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError


class StorageError(RuntimeError):
    """The storage cannot be reached or used; the message never contains a password."""


def describe_error(error: BaseException) -> str:
    """The first line of the innermost database error, which names the cause without the URL."""
    cause: BaseException = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, DBAPIError) and cause.orig is not None:
        cause = cause.orig
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


def driver_error(error: BaseException) -> DBAPIError | None:
    """The database driver's error behind ``error``, through the chain of causes and contexts.

    The chain matters: a read that falls back after its connection dropped (Optuna's ``_get_trials``
    does) fails again with SQLAlchemy's ``PendingRollbackError``, whose context is the dropped
    connection, and Optuna wraps that in a ``StorageInternalError``.
    """
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, DBAPIError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def connection_dropped(error: BaseException) -> bool:
    """Whether SQLAlchemy saw the server drop an open connection (its dialect's disconnect test)."""
    cause = driver_error(error)
    return cause is not None and cause.connection_invalidated
