"""The Ray Tune engine: the same study, its trials run by Ray Tune on a local runtime or a cluster.

Everything a trial records is what the Optuna engine records (:meth:`Evaluation.attrs`, the first
seed's validation metric per epoch as intermediate values, ``reason`` for pruned and failed trials),
written by this process (the Ray driver) into the study's SQL storage; Ray's workers never touch it.

- ``asha``, ``hyperband``, ``none``: our Ray ``Searcher`` claims, through the store, the WAITING
  trials :meth:`OptunaEngine.top_up` enqueued and samples each with the study's own sampler, as an
  Optuna worker does, so the budget is exact,
  grid points are visited once and the kinds with nothing to search come first. A trial the
  scheduler stops early is stored as PRUNED; a kind with nothing to search is never stopped; a trial with the same
  parameters as a COMPLETE one copies its result (user attr ``reused_from``), as on Optuna.
- ``pbt``: Ray refuses a search algorithm next to population-based training, so the initial
  population is drawn at random from the space here and handed to Ray as fixed points. A member's
  μ, s (and, after it copies a better member, its weights and other parameters) change while it
  trains, so its trial is added to the study when it ends, with the parameters it ended with and
  the per-epoch μ, s it followed as user attr ``schedule``.

Ray itself is imported only by :meth:`RayEngine.run` (see ``_ray_tune.py``); the driver's books, what Ray
runs and what goes into the study, are in ``_ray_books.py``, the schedulers' specs in ``_schedulers.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from momentum_search.search._objective import TrialPlan
from momentum_search.search._optuna import OptunaEngine, count_trials
from momentum_search.search._ray_books import Asked, Book, LiveTrial, Population
from momentum_search.search._samplers import PrunerSpec, SamplerSpec
from momentum_search.search._schedulers import SchedulerSpec
from momentum_search.search._space import SearchSpace

if TYPE_CHECKING:
    import optuna

    from momentum_search.store import TrialStore


@dataclass(frozen=True)
class RayRun:
    """What one :meth:`RayEngine.run` did: trials it stored as finished (COMPLETE or PRUNED), one
    line per failed trial, whether it was interrupted, and how many trials the cluster runs at once."""

    finished: int
    errors: list[str]
    interrupted: bool
    slots: int


class RayEngine:
    """Runs the trials of one study on Ray Tune.

    Args:
        space: the conditional search space (cell kind first).
        plan: what each trial trains apart from its sampled parameters (its ``threads`` become
            ``cpus_per_trial``).
        sampler: the sampler spec, its name resolved.
        scheduler: the scheduler spec, its name resolved.
        cpus_per_trial: CPUs Ray reserves for each trial.
        gpus_per_trial: GPUs Ray reserves for each trial (fractions share one); the spec's
            ``fixed.device`` decides where the trial trains.

    Raises:
        ValueError: a scheduler that cannot run this study (see :meth:`SchedulerSpec.check`), or
            bad resources.
    """

    def __init__(
        self,
        *,
        space: SearchSpace,
        plan: TrialPlan,
        sampler: SamplerSpec,
        scheduler: SchedulerSpec,
        cpus_per_trial: int = 1,
        gpus_per_trial: float = 0.0,
    ) -> None:
        if sampler.name is None or scheduler.name is None:
            raise ValueError("sampler and scheduler names must be resolved (.resolved()) before building an engine")
        if cpus_per_trial < 1:
            raise ValueError(f"cpus_per_trial must be ≥ 1, got {cpus_per_trial}")
        if not (gpus_per_trial >= 0 and math.isfinite(gpus_per_trial)):
            raise ValueError(f"gpus_per_trial must be ≥ 0, got {gpus_per_trial}")
        scheduler.check(space=space, sampler=sampler, seeds=plan.seeds, epochs=plan.max_epochs)
        self.space = space
        self.plan = plan.model_copy(update={"threads": cpus_per_trial})
        self.sampler = sampler
        self.scheduler = scheduler
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self._book: Book | None = None

    @property
    def population(self) -> bool:
        """Whether trials are PBT members, added to the study when they end rather than asked from it."""
        return self.scheduler.name == "pbt"

    def top_up(self, study: optuna.Study, budget: int) -> int:
        """Enqueue WAITING trials as the Optuna engine does (PBT enqueues nothing); returns how many."""
        if self.population:
            return 0
        queue = OptunaEngine(space=self.space, plan=self.plan, sampler=self.sampler, pruner=PrunerSpec(name="none"))
        return queue.top_up(study, budget)

    def run(
        self,
        storage: TrialStore,
        study_name: str,
        *,
        budget: int,
        address: str | None = None,
        timeout: float | None = None,
        quiet: bool = True,
        results_dir: str | None = None,
    ) -> RayRun:
        """Run the study's trials on Ray until its WAITING trials are done (PBT: until ``budget``
        members finished), or ``timeout`` seconds passed (running trials finish, no new one starts).

        Args:
            budget: the study's total; PBT starts ``budget - finished - pending`` members.
            address: a running cluster (``ray start --head`` prints it, e.g. ``127.0.0.1:6379``);
                None starts a local runtime, unless this process is already connected to Ray. A
                cluster with token authentication needs ``RAY_AUTH_MODE=token`` and its token
                (``~/.ray/auth_token`` or ``RAY_AUTH_TOKEN``) in this process's environment.
            quiet: keep Ray's own logs and tables out of the terminal.
            results_dir: where Ray keeps its experiment files and PBT checkpoints; default a
                temporary folder, removed at the end. A cluster of several machines needs a folder
                they share for PBT.

        Ctrl-C ends the run: asked trials still running are failed with reason ``interrupted`` and
        enqueued again, as with the Optuna engine, and ``interrupted`` is True.

        Raises:
            ValueError: a timeout with PBT, an unreachable cluster or one without the resources a
                trial needs, or an address while this process is already connected to Ray.
        """
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.scheduler.check(
            space=self.space, sampler=self.sampler, seeds=self.plan.seeds, epochs=self.plan.max_epochs, timeout=timeout
        )
        import optuna

        from momentum_search.search import _ray_tune

        study = optuna.load_study(study_name=study_name, storage=storage)
        objectives = len(study.directions)
        if self.population:
            counts = count_trials(study.get_trials(deepcopy=False))
            samples = max(0, budget - counts.finished - counts.pending)
            book: Book = Population(study, objectives, self.space)
        else:
            samples = count_trials(study.get_trials(deepcopy=False)).waiting
            book = Asked(study, storage, objectives)
        self._book = book
        slots, interrupted = 0, False
        try:
            slots = _ray_tune.fit(
                self, book, samples=samples, address=address, timeout=timeout, quiet=quiet, results_dir=results_dir
            )
        except KeyboardInterrupt:  # a second Ctrl-C; Tune ends its run quietly on the first
            interrupted = True
        finally:
            interrupted |= book.close()
            self._book = None
        return RayRun(finished=book.finished, errors=book.errors, interrupted=interrupted, slots=slots)

    def live(self) -> list[LiveTrial]:
        """The trials running now (safe to call from another thread while :meth:`run` runs)."""
        book = self._book
        return [] if book is None else book.live()


def check_address(address: str, *, timeout: float = 5.0) -> None:
    """Raise ValueError unless a Ray head listens at ``address`` (``host:port``).

    ``ray.init`` on an address nobody listens at retries for minutes and logs every attempt; a plain
    connection says it at once, before the launch writes anything.
    """
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"ray address {address!r}: expected host:port, e.g. 127.0.0.1:6379")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise ValueError(f"cannot reach the Ray cluster at {address}: {error.strerror or error}") from None
