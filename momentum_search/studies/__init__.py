"""Studies: specs and presets, their SQL storage, and their life from launch to deletion."""

from __future__ import annotations

from momentum_search.studies._export import ExportedConfig, NothingToExportError, export_study, select_trials
from momentum_search.studies._launch import (
    LaunchResult,
    Progress,
    RunningTrial,
    available_cores,
    launch,
    threads_per_worker,
)
from momentum_search.studies._lifecycle import (
    SPEC_ATTR,
    StudyNotFoundError,
    StudySummary,
    TrialRow,
    check_task,
    create_or_resume,
    delete_study,
    list_studies,
    run_worker,
    show_study,
    study_spec,
    summarize,
)
from momentum_search.studies._lifecycle import load as load_study
from momentum_search.studies._presets import PresetInfo, list_presets, load_preset, preset_names, preset_text
from momentum_search.studies._spec import (
    Budget,
    Objective,
    SpecError,
    StudySpec,
    load_spec,
    parse_spec,
    with_overrides,
)
from momentum_search.studies._storage import (
    DEFAULT_STORAGE,
    STORAGE_ENV,
    Heartbeat,
    StorageError,
    mask_url,
    open_storage,
    resolve_url,
)

__all__ = [
    "DEFAULT_STORAGE",
    "SPEC_ATTR",
    "STORAGE_ENV",
    "Budget",
    "ExportedConfig",
    "Heartbeat",
    "LaunchResult",
    "NothingToExportError",
    "Objective",
    "PresetInfo",
    "Progress",
    "RunningTrial",
    "SpecError",
    "StorageError",
    "StudyNotFoundError",
    "StudySpec",
    "StudySummary",
    "TrialRow",
    "available_cores",
    "check_task",
    "create_or_resume",
    "delete_study",
    "export_study",
    "launch",
    "list_presets",
    "list_studies",
    "load_preset",
    "load_spec",
    "load_study",
    "mask_url",
    "open_storage",
    "parse_spec",
    "preset_names",
    "preset_text",
    "resolve_url",
    "run_worker",
    "select_trials",
    "show_study",
    "study_spec",
    "summarize",
    "threads_per_worker",
    "with_overrides",
]
