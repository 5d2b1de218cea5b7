"""Optuna's RDB storage that rides out faults, and the trial store with its transaction and fast writes.

- A call that lost its server connection (a server restart, ``pg_terminate_backend``, a network
  blip) is tried again after 0.5, 1, 2, 4 and 8 s, then fails as one :class:`StorageError` line.
  Any other database error (a full disk, a read-only file) fails at once, naming its cause.
- :meth:`Storage.one_transaction` runs many Optuna calls as one transaction: the queue is topped
  up whole or not at all.
- A RUNNING trial whose worker stopped beating gets the user attr ``reason`` before it is failed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
from optuna.storages import RDBStorage
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from momentum_search.store import _internals
from momentum_search.store._claims import TrialStore
from momentum_search.store._errors import StorageError, describe_error, driver_error
from momentum_search.store._heartbeat import REASON_ATTR
from momentum_search.store._urls import mask_url

_logger = logging.getLogger(__name__)
_T = TypeVar("_T")

RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds before each new try of a call that lost its server


# Calls that touch the database. A call made from inside another (Optuna's defaults call each other,
# one_transaction and finish_trial wrap many) is not tried again on its own: only the outermost is.
_DATABASE_CALLS = (
    "create_new_study",
    "delete_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_all_studies",
    "create_new_trial",
    "set_trial_param",
    "get_trial_param",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial_id_from_study_id_trial_number",
    "get_trial",
    "get_all_trials",
    "get_best_trial",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
    "get_n_trials",
    "get_trial_params",
    "get_trial_number_from_id",
    "record_heartbeat",
    "_get_stale_trial_ids",
    "set_trial_user_attrs",
    "set_trial_intermediate_values",
    "finish_trial",
    # What Optuna's cache (every study on an RDB storage) calls instead of the public ones: reading a
    # study's trials, suggesting a parameter, Study.ask. A lost connection there stopped the worker.
    "_get_trials",
    "_set_trial_param",
    "_create_new_trial",
    "_get_best_trial_id",
)
_nesting = threading.local()  # per thread: how many storage calls are under way


class Storage(TrialStore, RDBStorage):
    """Optuna's RDB storage that rides out faults (see the module's docstring), and the trial store."""

    def one_transaction(self) -> contextlib.AbstractContextManager[None]:
        """A block whose storage calls (from this thread) commit together at its end, or not at all.

        Optuna commits every call on its own; inside the block its session is bound to one open
        transaction, in which each call's commit only releases a savepoint (SQLAlchemy's
        ``join_transaction_mode="create_savepoint"``).

        Raises:
            StorageError: a database error inside the block or at its commit; nothing was written.
        """
        return self._one_transaction()

    @contextlib.contextmanager
    def _one_transaction(self) -> Iterator[None]:
        try:
            with self._transaction():
                yield
        except (StorageInternalError, SQLAlchemyError) as error:
            raise StorageError(f"storage {mask_url(self.url)}: {describe_error(error)}; nothing was written") from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        # The block's database errors come out as they are, so that finish_trial can be tried again whole.
        from sqlalchemy.orm import Session

        open_transactions = _nesting.__dict__.setdefault("connections", {})
        if id(self) in open_transactions:
            # Inside this thread's open transaction (a launch's): a savepoint, whole or nothing within it.
            with open_transactions[id(self)].begin_nested():
                yield
            return
        self.scoped_session.remove()
        connection = self.engine.connect()
        transaction = connection.begin()
        self.scoped_session.registry.set(Session(bind=connection, join_transaction_mode="create_savepoint"))
        _nesting.depth = getattr(_nesting, "depth", 0) + 1  # a lost connection loses the whole transaction
        open_transactions[id(self)] = connection
        try:
            yield
            transaction.commit()
        except BaseException:
            with contextlib.suppress(SQLAlchemyError):  # the connection may be the thing that failed
                transaction.rollback()
            raise
        finally:
            del open_transactions[id(self)]
            _nesting.depth -= 1
            self.scoped_session.remove()
            connection.close()

    def set_trial_user_attrs(self, trial_id: int, attrs: dict[str, Any]) -> None:
        """``set_trial_user_attr`` for each of ``attrs``, in one session without a savepoint each.

        Optuna commits each attr on its own: ~20 transactions a finished trial, each of which takes
        SQLite's database-wide write lock (see benchmarks/service_overhead.py).
        """
        if not _internals.write_user_attrs(self, trial_id, attrs):
            super().set_trial_user_attrs(trial_id, attrs)

    def set_trial_intermediate_values(self, trial_id: int, curve: dict[int, float]) -> None:
        """``set_trial_intermediate_value`` for each step of ``curve``, in one session."""
        if not _internals.write_intermediate_values(self, trial_id, curve):
            super().set_trial_intermediate_values(trial_id, curve)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        # Optuna's hook for fail_stale_trials, overridden to say why before Optuna fails the trial (a
        # finished trial takes no more attrs). An Optuna without the hook fails stale trials unexplained.
        stale = super()._get_stale_trial_ids(study_id)
        for trial_id in stale:
            with contextlib.suppress(UpdateFinishedTrialError):  # another worker got there first
                self.set_trial_user_attr(trial_id, REASON_ATTR, f"worker lost: no heartbeat for over {self.grace_period} s")
        return stale

    def _ride_out(self, call: Callable[[], _T]) -> _T:
        started = time.monotonic()
        for tries, delay in enumerate((*RETRY_DELAYS, None), 1):
            try:
                return call()
            except (StorageInternalError, SQLAlchemyError) as error:
                lost = self._lost_connection(error)
                if lost and delay is not None:
                    _logger.warning("storage %s: %s; trying again in %g s", mask_url(self.url), describe_error(error), delay)
                    time.sleep(delay)
                    continue
                gave_up = f" (gave up after {tries} tries in {time.monotonic() - started:.0f} s)" if lost else ""
                raise StorageError(f"storage {mask_url(self.url)}: {describe_error(error)}{gave_up}") from None
        raise AssertionError("unreachable: the last try returns or raises")

    def _lost_connection(self, error: BaseException) -> bool:
        cause = driver_error(error)
        if cause is None:
            return False
        # A server's OperationalError is the connection or the server (refused, restarting, deadlock);
        # SQLite's is the file (locked past the busy timeout, full, read-only): trying again won't help.
        return cause.connection_invalidated or (self.engine.name != "sqlite" and isinstance(cause, OperationalError))


def _ridden_out(method: Callable[..., _T]) -> Callable[..., _T]:
    @functools.wraps(method)
    def call(self: Storage, *args: Any, **kwargs: Any) -> _T:
        depth = getattr(_nesting, "depth", 0)
        if depth:
            return method(self, *args, **kwargs)
        _nesting.depth = 1
        try:
            return self._ride_out(lambda: method(self, *args, **kwargs))
        finally:
            _nesting.depth = 0

    return call


for _name in _DATABASE_CALLS:
    if hasattr(Storage, _name):  # an Optuna without one of them just does without its retries
        setattr(Storage, _name, _ridden_out(getattr(Storage, _name)))
