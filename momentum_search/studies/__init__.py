"""Studies: specs and presets, and their life from launch to deletion (their storage is ``momentum_search.store``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from momentum_search._lazy import lazy_exports

if TYPE_CHECKING:
    from momentum_search.store import (
        DEFAULT_PROXY_PORT,
        DEFAULT_STORAGE,
        PROXY_THREADS,
        STORAGE_ENV,
        Heartbeat,
        Storage,
        StorageError,
        StudyAggregate,
        mask_url,
        open_storage,
        query_trials,
        resolve_url,
        serve_proxy,
        stored_trials,
        study_aggregates,
    )
    from momentum_search.studies._ablation import (
        ABLATION_ATTR,
        DEFAULT_MUS,
        AblationPlan,
        AblationRun,
        ArmPlan,
        plan_ablation,
        run_ablation,
    )
    from momentum_search.studies._confirm import ConfirmResult, confirm
    from momentum_search.studies._confirmation import (
        Candidate,
        Confirmation,
        Confirmed,
        candidates,
        held_out_seeds,
        mean_interval,
        read_confirmation,
    )
    from momentum_search.studies._export import ExportedConfig, NothingToExportError, export_study, select_trials
    from momentum_search.studies._launch import launch
    from momentum_search.studies._presets import PresetInfo, list_presets, load_preset, preset_names, preset_text
    from momentum_search.studies._spec import (
        Budget,
        ConfirmSpec,
        Objective,
        SpecError,
        StudySpec,
        load_spec,
        parse_spec,
        with_overrides,
    )
    from momentum_search.studies._study import (
        SPEC_ATTR,
        StudyNotFoundError,
        confirmation_name,
        create_or_resume,
        delete_study,
        study_spec,
        trial_records,
    )
    from momentum_search.studies._study import load as load_study
    from momentum_search.studies._summary import (
        SHOW_ALL_UP_TO,
        SHOW_TOP,
        StudySummary,
        TrialRow,
        list_studies,
        show_study,
        summarize,
    )
    from momentum_search.studies._workers import (
        LaunchResult,
        Progress,
        RunningTrial,
        available_cores,
        check_task,
        run_worker,
        threads_per_worker,
    )

__all__ = [
    "ABLATION_ATTR",
    "DEFAULT_MUS",
    "DEFAULT_PROXY_PORT",
    "DEFAULT_STORAGE",
    "PROXY_THREADS",
    "SHOW_ALL_UP_TO",
    "SHOW_TOP",
    "SPEC_ATTR",
    "STORAGE_ENV",
    "AblationPlan",
    "AblationRun",
    "ArmPlan",
    "Budget",
    "Candidate",
    "ConfirmResult",
    "ConfirmSpec",
    "Confirmation",
    "Confirmed",
    "ExportedConfig",
    "Heartbeat",
    "LaunchResult",
    "NothingToExportError",
    "Objective",
    "PresetInfo",
    "Progress",
    "RunningTrial",
    "SpecError",
    "Storage",
    "StorageError",
    "StudyAggregate",
    "StudyNotFoundError",
    "StudySpec",
    "StudySummary",
    "TrialRow",
    "available_cores",
    "candidates",
    "check_task",
    "confirm",
    "confirmation_name",
    "create_or_resume",
    "delete_study",
    "export_study",
    "held_out_seeds",
    "launch",
    "list_presets",
    "list_studies",
    "load_preset",
    "load_spec",
    "load_study",
    "mask_url",
    "mean_interval",
    "open_storage",
    "parse_spec",
    "plan_ablation",
    "preset_names",
    "preset_text",
    "query_trials",
    "read_confirmation",
    "resolve_url",
    "run_ablation",
    "run_worker",
    "select_trials",
    "serve_proxy",
    "show_study",
    "stored_trials",
    "study_aggregates",
    "study_spec",
    "summarize",
    "threads_per_worker",
    "trial_records",
    "with_overrides",
]

# Each module is imported when one of its names is first used: `studies list` then imports the storage,
# the spec and the lifecycle, not launch (and multiprocessing), ablation, export, presets or the proxy.
__getattr__, __dir__ = lazy_exports(globals(), {
    **dict.fromkeys((
        "ABLATION_ATTR", "DEFAULT_MUS", "AblationPlan", "AblationRun", "ArmPlan", "plan_ablation", "run_ablation",
    ), "._ablation"),
    **dict.fromkeys(("ConfirmResult", "confirm"), "._confirm"),
    **dict.fromkeys((
        "Candidate", "Confirmation", "Confirmed", "candidates", "held_out_seeds", "mean_interval", "read_confirmation",
    ), "._confirmation"),
    **dict.fromkeys(("ExportedConfig", "NothingToExportError", "export_study", "select_trials"), "._export"),
    "launch": "._launch",
    **dict.fromkeys((
        "SPEC_ATTR", "StudyNotFoundError", "confirmation_name", "create_or_resume", "delete_study", "study_spec",
        "trial_records",
    ), "._study"),
    "load_study": "._study:load",
    **dict.fromkeys((
        "SHOW_ALL_UP_TO", "SHOW_TOP", "StudySummary", "TrialRow", "list_studies", "show_study", "summarize",
    ), "._summary"),
    **dict.fromkeys((
        "LaunchResult", "Progress", "RunningTrial", "available_cores", "check_task", "run_worker", "threads_per_worker",
    ), "._workers"),
    **dict.fromkeys(("PresetInfo", "list_presets", "load_preset", "preset_names", "preset_text"), "._presets"),
    **dict.fromkeys((
        "Budget", "ConfirmSpec", "Objective", "SpecError", "StudySpec", "load_spec", "parse_spec", "with_overrides",
    ), "._spec"),
    # The store's names, for those who take them from here (the store is a package of its own below).
    **dict.fromkeys((
        "DEFAULT_PROXY_PORT", "DEFAULT_STORAGE", "PROXY_THREADS", "STORAGE_ENV", "Heartbeat", "Storage", "StorageError",
        "StudyAggregate", "mask_url", "open_storage", "query_trials", "resolve_url", "serve_proxy", "stored_trials",
        "study_aggregates",
    ), "momentum_search.store"),
})  # fmt: skip
