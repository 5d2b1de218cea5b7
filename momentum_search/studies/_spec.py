"""The study spec: one YAML file that says what to search, how, and for how long.

Validated by pydantic; every error names the field and the allowed values. A validated spec is
stored in the study (user attr ``spec``, as JSON), so any worker can run the study from its name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from momentum_search.search import (
    FIXABLE_FIELDS,
    GAIN,
    Dimension,
    OptunaEngine,
    Parameter,
    PrunerSpec,
    RacingSpec,
    RayEngine,
    SamplerSpec,
    SchedulerSpec,
    SearchSpace,
    TrialPlan,
)
from momentum_search.trainers import (
    MAX_EPOCHS,
    MAX_SEED,
    FunctionName,
    Integer,
    Real,
    UserObjective,
    check_device,
    load_function,
    task_info,
)
from momentum_search.trainers.tasks import DATA_TASK, OBJECTIVE_TASK, Metric, code_tasks, is_code_task, task_defaults

# What `task: {data: PATH, ...}` may say besides the path (sha256 is the study's own, filled in).
_DATA_OPTIONS = ("head", "metric", "direction", "classes")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# Bounds on the budget: a typo such as 1000000000000 trials would otherwise queue WAITING rows until the
# disk fills.
MAX_TRIALS = 100_000
MAX_TIMEOUT = 30 * 24 * 3600.0  # seconds: 30 days
MAX_SEEDS = 1_000


class SpecError(ValueError):
    """A spec (or a value overriding it) is invalid; the message names every bad field."""


class Budget(BaseModel):
    """How much to spend: ``trials`` in total (grid: defaults to the grid's size), ``timeout``
    seconds per launch (running trials finish, no new one starts), ``epochs`` per trial (default:
    the task's)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trials: Integer | None = None
    timeout: Real | None = None
    epochs: Integer | None = None

    @field_validator("trials", "epochs")
    @classmethod
    def _count_in_range(cls, value: int | None, info: ValidationInfo) -> int | None:
        high = MAX_TRIALS if info.field_name == "trials" else MAX_EPOCHS
        if value is not None and not 1 <= value <= high:
            raise ValueError(f"{value} is out of range; {info.field_name} takes an integer in [1, {high}]")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout_in_range(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= MAX_TIMEOUT:
            raise ValueError(f"{value:g} is out of range; timeout takes seconds in (0, {MAX_TIMEOUT:.0f}] (30 days)")
        return value


class ConfirmSpec(BaseModel):
    """Confirmation at the study's end: the ``top`` configurations, each cell kind's best and the
    baselines retrained on ``seeds`` held-out seeds, which no search trial used."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    top: Integer = Field(default=3, ge=1, le=100)
    seeds: Integer = Field(default=5, ge=2, le=100)


class Objective(BaseModel):
    """What to optimise: the task's validation ``metric`` in its ``direction`` (both filled in from
    the task; give them only to be explicit), and optionally ``train_time``, the mean training time
    per seed, as a minimised second objective: the study then finds a Pareto front.

    ``function`` (``package.module:function``; ``objective: "pkg.mod:train"`` for short) is the user's
    own training loop: it trains each trial's configuration and returns the value, named ``metric``
    (default ``value``) and to ``direction`` (default ``minimize``, as Optuna's). No task then."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    function: FunctionName | None = None
    metric: str | None = None
    direction: Literal["maximize", "minimize"] | None = None
    train_time: bool = False

    @property
    def directions(self) -> list[Literal["maximize", "minimize"]]:
        assert self.direction is not None, "resolved by StudySpec"
        return [self.direction, "minimize"] if self.train_time else [self.direction]


class StudySpec(BaseModel):
    """A study: task, cells, search space, fixed values, budget, seeds, objective, sampler, pruner, scheduler.

    ``space`` maps a parameter (mu, s, beta, eps, restart, lr, hidden_size, or the gain g = s/(1−μ)
    in place of s) to a range or points; each cell kind samples only those it uses. ``fixed`` sets
    trainer options for every trial (and momentum hyperparameters, g included, for the kinds that
    use them). ``seeds`` is a count k (seeds 0..k-1) or
    a list: every configuration trains on each, and the trial's value is their mean. The pruner
    stops trials on the Optuna engine, the scheduler on the Ray engine.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    task: str
    task_params: dict[str, Any] = Field(default_factory=dict)
    cells: tuple[str, ...] = Field(min_length=1)
    space: dict[Parameter, Dimension] = Field(default_factory=dict)
    fixed: dict[str, Any] = Field(default_factory=dict)
    budget: Budget = Field(default_factory=Budget)
    seeds: tuple[Integer, ...] = (0,)
    racing: RacingSpec | None = None
    confirm: ConfirmSpec | None = None
    objective: Objective = Field(default_factory=Objective)
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(
                f"{name!r} is not a study name: 1-100 letters, digits, '_', '.', '-', starting with a letter or digit"
            )
        return name

    @model_validator(mode="before")
    @classmethod
    def _objective_function(cls, data: Any) -> Any:
        # `objective: "pkg.mod:train"` is the user's own loop; its study has no task of ours.
        if not isinstance(data, dict):
            return data
        objective = data.get("objective")
        if isinstance(objective, str):
            objective = {"function": objective}
            data = {**data, "objective": objective}
        if isinstance(objective, dict) and objective.get("function") is not None:
            if data.get("task", OBJECTIVE_TASK) != OBJECTIVE_TASK or data.get("task_params"):
                raise ValueError("task: an objective function brings its own data and training loop; leave task out")
            data = {**data, "task": OBJECTIVE_TASK}
        elif data.get("task") == OBJECTIVE_TASK:
            raise ValueError(f'task: {OBJECTIVE_TASK!r} is the task of an objective function (objective: "pkg.mod:train")')
        return data

    @model_validator(mode="before")
    @classmethod
    def _task_mapping(cls, data: Any) -> Any:
        # `task: {data: PATH, head: ...}` is the data task with those parameters; `task: {module:
        # "pkg.mod:make_task", params: {...}}` the code task `pkg.mod:make_task` with its parameters.
        task = data.get("task") if isinstance(data, dict) else None
        if not isinstance(task, dict):
            return data
        if data.get("task_params"):
            raise ValueError("task_params: a task given as a mapping takes its parameters inside it")
        if "data" in task and not set(task) - {"data", *_DATA_OPTIONS}:
            params = {"path": task["data"], **{key: value for key, value in task.items() if key != "data"}}
            return {**data, "task": DATA_TASK, "task_params": params}
        if "module" in task and not set(task) - {"module", "params"}:
            module, params = task["module"], task.get("params") or {}
            if not isinstance(module, str) or ":" not in module or not isinstance(params, dict):
                raise ValueError(f'task.module: expected "package.module:function" and params a mapping, got {module!r}')
            return {**data, "task": module, "task_params": params}
        raise ValueError(
            f"task: a mapping is {{data: PATH}} (optional {', '.join(_DATA_OPTIONS)}) or "
            f'{{module: "pkg.mod:make_task", params: {{...}}}}; got keys {", ".join(map(str, task))}'
        )

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        task_defaults(task)  # a ValueError naming the known tasks
        return task

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count_or_list(cls, seeds: Any) -> Any:
        if isinstance(seeds, bool):
            raise ValueError(f"expected a seed count or a list of seeds, got {str(seeds).lower()}")
        if isinstance(seeds, int):
            if not 1 <= seeds <= MAX_SEEDS:
                raise ValueError(f"{seeds} is out of range; a seed count is an integer in [1, {MAX_SEEDS}]")
            return tuple(range(seeds))
        return seeds

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: tuple[int, ...]) -> tuple[int, ...]:
        if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0 or max(seeds) > MAX_SEED:
            raise ValueError(
                f"seeds must be distinct integers in [0, {MAX_SEED}] (or a count in [1, {MAX_SEEDS}]), got {list(seeds)}"
            )
        if len(seeds) > MAX_SEEDS:
            raise ValueError(f"{len(seeds)} seeds; at most {MAX_SEEDS}")
        return seeds

    @field_validator("racing", "confirm", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        # `racing: true` / `confirm: true` take the defaults; false is the same as leaving it out.
        if isinstance(value, bool):
            return {} if value else None
        return value

    @field_validator("fixed")
    @classmethod
    def _fixable(cls, fixed: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(fixed) - set(FIXABLE_FIELDS))
        if unknown:
            raise ValueError(
                f"cannot fix {', '.join(unknown)}; fixable: {', '.join(FIXABLE_FIELDS)} "
                f"(epochs go in budget.epochs, seeds in seeds, task and cells at the top level)"
            )
        return fixed

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> StudySpec:
        space = SearchSpace(cells=self.cells, dimensions=self.space)  # checks cells and ranges
        both = sorted(set(self.space) & set(self.fixed))
        if both:
            raise ValueError(f"{', '.join(both)} cannot be both searched (space) and fixed")
        if {"s", GAIN} <= {*self.space, *self.fixed}:
            where = {name: "space" if name in self.space else "fixed" for name in ("s", GAIN)}
            raise ValueError(f"give s or g (the gain s/(1−μ), which sets s), not both: s in {where['s']}, g in {where[GAIN]}")
        if is_code_task(self.task) and ":" not in self.task:
            # An installed package's task name is stored as what it names, so that machines without the
            # package (reading the study, say) still know a code task.
            object.__setattr__(self, "task", code_tasks()[self.task])
        if self.task == DATA_TASK and (info.context or {}).get("here", True):
            # Read and check the file here, once; the study stores what it implies and its hash.
            from momentum_search.trainers.tasks import resolve_data_params as resolve_params

            object.__setattr__(self, "task_params", resolve_params(self.task_params))
        plan = self.trial_plan()
        for cell in self.cells:
            try:
                # Building the config runs the trainer's own checks of the fixed values for this kind.
                plan.config({"cell": cell, **_corner(space, cell)}, seed=self.seeds[0])
            except (ValidationError, ValueError) as error:
                raise ValueError(f"fixed (cell {cell}): {_first_message(error)}") from None
        if (info.context or {}).get("here", True):
            # Only where the study is to run: a stored spec is read on machines that only list or plot.
            try:
                check_device(self.fixed.get("device", "cpu"))
            except ValueError as error:
                raise ValueError(f"fixed.device: {error}") from None
        metric, default_epochs = self._task_metric(here=(info.context or {}).get("here", True))
        if self.objective.metric not in (None, metric.name):
            raise ValueError(f"objective.metric: task {self.task} reports {metric.name!r}, not {self.objective.metric!r}")
        if self.objective.direction not in (None, metric.direction):
            raise ValueError(
                f"objective.direction: {metric.name} of task {self.task} is to {metric.direction}, not {self.objective.direction}"
            )
        objective = self.objective.model_copy(update={"metric": metric.name, "direction": metric.direction})
        objectives = len(objective.directions)
        if self.racing is not None:
            if objectives > 1:
                raise ValueError("racing: seeds race on one objective; a Pareto front (objective.train_time) has no incumbent")
            if len(self.seeds) < 2:
                raise ValueError(f"racing: needs at least 2 seeds to race, got seeds {list(self.seeds)}")
        if self.confirm is not None and objectives > 1:
            raise ValueError("confirm: confirmation ranks configurations on one objective; not with objective.train_time")
        sampler = self.sampler.resolved(objectives=objectives)
        pruner = self.pruner.resolved(objectives=objectives)
        scheduler = self.scheduler.resolved(objectives=objectives)
        epochs = self.budget.epochs or default_epochs or task_defaults(self.task).epochs
        scheduler.check(space=space, sampler=sampler, seeds=self.seeds, epochs=epochs, timeout=self.budget.timeout)
        if scheduler.name == "pbt" and self.objective.function is not None:
            raise ValueError(
                "scheduler.name: pbt checkpoints the service's trainer between epochs; not with an objective function"
            )
        if scheduler.name == "pbt" and GAIN in {*self.space, *self.fixed}:
            # PBT moves μ and s between epochs; it would not hold the gain.
            raise ValueError("scheduler.name: pbt perturbs μ and s, not the gain g; search s instead of g")
        budget = self.budget
        if sampler.name == "grid":
            size = len(space.grid())
            if budget.trials is None:
                budget = budget.model_copy(update={"trials": size})
            elif budget.trials > size:
                raise ValueError(f"budget.trials: {budget.trials} exceeds the grid's {size} points")
        elif budget.trials is None:
            raise ValueError("budget.trials is required (an integer ≥ 1) unless the sampler is grid")
        # The spec is frozen for its users; the defaults that depend on other fields are filled in here,
        # once, so that the stored JSON says exactly what ran.
        if is_code_task(self.task) and budget.epochs is None:
            # A code task's default epochs come from its code: stored, so that readers need not run it.
            budget = budget.model_copy(update={"epochs": epochs})
        resolved = (
            ("objective", objective),
            ("sampler", sampler),
            ("pruner", pruner),
            ("scheduler", scheduler),
            ("budget", budget),
        )
        for field, value in resolved:
            object.__setattr__(self, field, value)
        return self

    def _task_metric(self, *, here: bool) -> tuple[Metric, int | None]:
        """The task's metric and its default epochs per trial. A code task is built to say them where the
        study is to run; a stored spec holds them already, in its objective and budget."""
        if self.objective.function is not None:
            user = self.user_objective()
            assert user is not None
            if here:
                load_function(user.function, f"objective {user.function}")  # one line if it does not import
            return Metric(user.metric, user.direction), None  # type: ignore[arg-type]
        if not is_code_task(self.task):
            info = task_info(self.task, self.task_params)
            return info.metric, info.defaults.epochs
        if not here:
            assert self.objective.metric is not None and self.objective.direction is not None
            return Metric(self.objective.metric, self.objective.direction), self.budget.epochs  # type: ignore[arg-type]
        from momentum_search.trainers import get_task

        built = get_task(self.task, **self.task_params)
        return built.metric, built.defaults.epochs

    # ---- views for the engine ---------------------------------------------------------------

    @property
    def trials(self) -> int:
        assert self.budget.trials is not None, "resolved by validation"
        return self.budget.trials

    def search_space(self) -> SearchSpace:
        return SearchSpace(cells=self.cells, dimensions=self.space)

    def user_objective(self) -> UserObjective | None:
        """The user's own loop (``objective.function``) with its metric and direction; None without one."""
        if self.objective.function is None:
            return None
        given = {"metric": self.objective.metric, "direction": self.objective.direction}
        return UserObjective.model_validate(
            {"function": self.objective.function, **{k: v for k, v in given.items() if v is not None}}
        )

    def trial_plan(self, *, threads: int | None = None) -> TrialPlan:
        return TrialPlan(
            task=self.task,
            task_params=self.task_params,
            fixed=self.fixed,
            epochs=self.budget.epochs,
            seeds=self.seeds,
            threads=threads,
            objective=self.user_objective(),
        )

    def engine(self, *, threads: int | None = None) -> OptunaEngine:
        return OptunaEngine(
            space=self.search_space(),
            plan=self.trial_plan(threads=threads),
            sampler=self.sampler,
            pruner=self.pruner,
            racing=self.racing,
        )

    def ray_engine(self, *, cpus_per_trial: int = 1, gpus_per_trial: float = 0.0) -> RayEngine:
        """The Ray Tune engine of this spec.

        Raises:
            ValueError: the spec races seeds, which Ray's searcher cannot do (it runs a trial's seeds
                inside one Ray trial, out of reach of the study's incumbent).
        """
        if self.racing is not None:
            raise ValueError("racing: seed racing runs on the Optuna engine only; launch without --engine ray")
        return RayEngine(
            space=self.search_space(),
            plan=self.trial_plan(),
            sampler=self.sampler,
            scheduler=self.scheduler,
            cpus_per_trial=cpus_per_trial,
            gpus_per_trial=gpus_per_trial,
        )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def same_search(self, other: StudySpec) -> bool:
        """Whether ``other`` runs the same trials: all may differ but the name, description, the
        number of trials and timeout of the budget (epochs per trial may not), and the confirmation."""
        ignore: dict[str, Any] = {"name": True, "description": True, "budget": {"trials", "timeout"}, "confirm": True}
        return self.model_dump(mode="json", exclude=ignore) == other.model_dump(mode="json", exclude=ignore)


def _corner(space: SearchSpace, cell: str) -> dict[str, Any]:
    # One representative value per searched dimension (its low end or first point): enough to run
    # the trainer's checks of the fixed values against this cell kind.
    values: dict[str, Any] = {}
    for name in space.parameters(cell):
        dim = space.dimensions[name]  # type: ignore[index]
        values[name] = dim.points[0] if dim.points is not None else dim.low
    return values


def _first_message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        return f"{location}: {message}" if location else message
    return str(error)


def format_validation_error(error: ValidationError) -> str:
    """One line per problem, ``field.path: message``, joined with ``; ``."""
    parts = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"] if not str(part).startswith("function-"))
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(dict.fromkeys(parts))  # a union's arms can report the same problem twice


def parse_spec(data: Any, *, source: str = "spec", here: bool = True) -> StudySpec:
    """Validate ``data`` (a mapping, e.g. parsed YAML) as a :class:`StudySpec`; ``here=False`` skips
    the checks of this machine (that ``fixed.device`` exists), for a stored spec read to list or plot.

    Raises:
        SpecError: naming ``source`` and every invalid field.
    """
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping of fields (name, task, cells, ...), got {type(data).__name__}")
    try:
        return StudySpec.model_validate(data, context={"here": here})
    except ValidationError as error:
        raise SpecError(f"{source}: {format_validation_error(error)}") from None


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a YAML spec file.

    Raises:
        SpecError: unreadable file, invalid YAML or invalid spec.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(f"cannot read spec {path}: {error.strerror or error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: invalid YAML: {str(error).splitlines()[0]}") from None
    return parse_spec(data, source=str(path))


def with_overrides(
    spec: StudySpec, *, name: str | None = None, trials: int | None = None, timeout: float | None = None
) -> StudySpec:
    """``spec`` with a new study name and budget values (as ``launch --study/--trials/--timeout``).

    Raises:
        SpecError: an override out of range.
    """
    data = spec.to_json()
    if name is not None:
        data["name"] = name
    budget = data["budget"]
    if trials is not None:
        budget["trials"] = trials
    if timeout is not None:
        budget["timeout"] = timeout
    return parse_spec(data, source="options")
