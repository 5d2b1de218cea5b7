"""How the store tells a dead worker: the heartbeat settings, and the reason it writes on a trial it fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from momentum_search._quiet import allow_experimental

if TYPE_CHECKING:
    import optuna

REASON_ATTR = "reason"  # why a trial was pruned or failed; None when it completed


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
            raise ValueError(f"grace_period must exceed the heartbeat interval ({self.interval} s), got {self.grace_period}")
        if self.max_retry < 0:
            raise ValueError(f"max_retry must be ≥ 0, got {self.max_retry}")


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail the RUNNING trials whose worker stopped beating; the storage's callback re-enqueues them."""
    import optuna

    with allow_experimental():
        optuna.storages.fail_stale_trials(study)
