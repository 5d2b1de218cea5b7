"""Figures of a study in the store: μ × s maps, slices, importances, history, cell against cell, gradient
flow, Pareto front; as an offline HTML report, PNGs, or saved into optuna-dashboard. Verdicts compare
two arms' per-seed values with a confidence interval.

Each figure's data is computed apart from drawing it: ``get_*_info(read_trials(study))`` returns a
NamedTuple that the matching ``plot_*`` renderer turns into a plotly figure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from momentum_search._lazy import lazy_exports

if TYPE_CHECKING:
    from momentum_search.dashboards._ablation import (
        ARM_COLUMNS,
        AblationInfo,
        ArmResult,
        ablation_html,
        arm_rows,
        get_ablation_info,
        plot_ablation,
        write_ablation_report,
    )
    from momentum_search.dashboards._confirmation import (
        ConfirmationInfo,
        ConfirmationRow,
        confirmation_cells,
        confirmation_columns,
        confirmation_html,
        confirmation_json,
        get_confirmation_info,
        headline,
    )
    from momentum_search.dashboards._dashboard import (
        GRAPH_PREFIX,
        Published,
        publish,
        publish_all,
        read_only_app,
        serve,
        to_markdown,
    )
    from momentum_search.dashboards._cell_comparison import (
        CellComparisonInfo,
        get_cell_comparison_info,
        plot_cell_comparison,
    )
    from momentum_search.dashboards._gradient_flow import GradientFlowInfo, get_gradient_flow_info, plot_gradient_flow
    from momentum_search.dashboards._history import HistoryInfo, get_history_info, plot_history
    from momentum_search.dashboards._importances import ImportanceInfo, get_importance_info, plot_importances
    from momentum_search.dashboards._learning_curves import CurvesInfo, get_curves_info, plot_learning_curves
    from momentum_search.dashboards._momentum_zero import MomentumZeroInfo, get_momentum_zero_info, plot_momentum_zero
    from momentum_search.dashboards._mu_s_map import MuSMapInfo, get_mu_s_map_info, plot_mu_s_map
    from momentum_search.dashboards._pareto_front import ParetoInfo, get_pareto_info, plot_pareto_front
    from momentum_search.dashboards._report import (
        BrowserNotFoundError,
        Section,
        StudyReport,
        build_report,
        find_browser,
        report_study,
        to_html,
        write_html,
        write_pngs,
    )
    from momentum_search.dashboards._slice import SliceInfo, get_slice_info, plot_slice
    from momentum_search.dashboards._summary import SummaryInfo, get_summary_info
    from momentum_search.dashboards._time_to import TimeTo, compare_times, time_to, time_to_best, time_to_html
    from momentum_search.dashboards._trials import Axes, FigureUnavailableError, StudyTrials, TrialRecord, read_trials
    from momentum_search.dashboards._verdicts import METHODS, Arm, Verdict, compare, compare_arms, verdicts_html
    from momentum_search.dashboards._worker import Worker

__all__ = [
    "ARM_COLUMNS",
    "AblationInfo",
    "ArmResult",
    "ablation_html",
    "arm_rows",
    "get_ablation_info",
    "plot_ablation",
    "write_ablation_report",
    "GRAPH_PREFIX",
    "METHODS",
    "Arm",
    "Axes",
    "BrowserNotFoundError",
    "CellComparisonInfo",
    "ConfirmationInfo",
    "ConfirmationRow",
    "CurvesInfo",
    "FigureUnavailableError",
    "GradientFlowInfo",
    "HistoryInfo",
    "ImportanceInfo",
    "MomentumZeroInfo",
    "MuSMapInfo",
    "ParetoInfo",
    "Published",
    "Section",
    "SliceInfo",
    "StudyReport",
    "StudyTrials",
    "TimeTo",
    "SummaryInfo",
    "TrialRecord",
    "Verdict",
    "Worker",
    "build_report",
    "compare",
    "compare_arms",
    "compare_times",
    "confirmation_cells",
    "confirmation_columns",
    "confirmation_html",
    "confirmation_json",
    "find_browser",
    "get_cell_comparison_info",
    "get_confirmation_info",
    "get_curves_info",
    "get_gradient_flow_info",
    "get_history_info",
    "get_importance_info",
    "get_momentum_zero_info",
    "get_mu_s_map_info",
    "get_pareto_info",
    "get_slice_info",
    "get_summary_info",
    "headline",
    "plot_cell_comparison",
    "plot_gradient_flow",
    "plot_history",
    "plot_importances",
    "plot_learning_curves",
    "plot_momentum_zero",
    "plot_mu_s_map",
    "plot_pareto_front",
    "plot_slice",
    "publish",
    "publish_all",
    "read_trials",
    "report_study",
    "read_only_app",
    "serve",
    "time_to",
    "time_to_best",
    "time_to_html",
    "to_html",
    "to_markdown",
    "verdicts_html",
    "write_html",
    "write_pngs",
]

# Each module is imported when one of its names is first used: `plot` and `studies show` then leave out the
# ablation report (and with it launch and multiprocessing) and the optuna-dashboard glue, and the report's
# fits process (`_worker`, a process of its own that imports this package) none of Optuna or SQLAlchemy.
__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        **dict.fromkeys(
            (
                "ARM_COLUMNS",
                "AblationInfo",
                "ArmResult",
                "ablation_html",
                "arm_rows",
                "get_ablation_info",
                "plot_ablation",
                "write_ablation_report",
            ),
            "._ablation",
        ),
        **dict.fromkeys(
            (
                "ConfirmationInfo",
                "ConfirmationRow",
                "confirmation_cells",
                "confirmation_columns",
                "confirmation_html",
                "confirmation_json",
                "get_confirmation_info",
                "headline",
            ),
            "._confirmation",
        ),
        **dict.fromkeys(
            (
                "GRAPH_PREFIX",
                "Published",
                "publish",
                "publish_all",
                "read_only_app",
                "serve",
                "to_markdown",
            ),
            "._dashboard",
        ),
        **dict.fromkeys(("CellComparisonInfo", "get_cell_comparison_info", "plot_cell_comparison"), "._cell_comparison"),
        **dict.fromkeys(("GradientFlowInfo", "get_gradient_flow_info", "plot_gradient_flow"), "._gradient_flow"),
        **dict.fromkeys(("HistoryInfo", "get_history_info", "plot_history"), "._history"),
        **dict.fromkeys(("ImportanceInfo", "get_importance_info", "plot_importances"), "._importances"),
        **dict.fromkeys(("CurvesInfo", "get_curves_info", "plot_learning_curves"), "._learning_curves"),
        **dict.fromkeys(("MomentumZeroInfo", "get_momentum_zero_info", "plot_momentum_zero"), "._momentum_zero"),
        **dict.fromkeys(("MuSMapInfo", "get_mu_s_map_info", "plot_mu_s_map"), "._mu_s_map"),
        **dict.fromkeys(("ParetoInfo", "get_pareto_info", "plot_pareto_front"), "._pareto_front"),
        **dict.fromkeys(
            (
                "BrowserNotFoundError",
                "Section",
                "StudyReport",
                "build_report",
                "find_browser",
                "report_study",
                "to_html",
                "write_html",
                "write_pngs",
            ),
            "._report",
        ),
        **dict.fromkeys(("SliceInfo", "get_slice_info", "plot_slice"), "._slice"),
        **dict.fromkeys(("SummaryInfo", "get_summary_info"), "._summary"),
        **dict.fromkeys(("TimeTo", "compare_times", "time_to", "time_to_best", "time_to_html"), "._time_to"),
        **dict.fromkeys(("Axes", "FigureUnavailableError", "StudyTrials", "TrialRecord", "read_trials"), "._trials"),
        **dict.fromkeys(("METHODS", "Arm", "Verdict", "compare", "compare_arms", "verdicts_html"), "._verdicts"),
        "Worker": "._worker",
    },
)
