"""Figures of a study in the store: μ × s maps, slices, importances, history, cell against cell, gradient
flow, Pareto front; as an offline HTML report, PNGs, or saved into optuna-dashboard. Verdicts compare
two arms' per-seed values with a confidence interval.

Each figure's data is computed apart from drawing it: ``get_*_info(read_trials(study))`` returns a
NamedTuple that the matching ``plot_*`` renderer turns into a plotly figure.
"""

from __future__ import annotations

from momentum_search.dashboards._dashboard import GRAPH_PREFIX, Published, publish, publish_all, serve, to_markdown
from momentum_search.dashboards._figures import (
    plot_cell_comparison,
    plot_gradient_flow,
    plot_history,
    plot_importances,
    plot_learning_curves,
    plot_momentum_zero,
    plot_mu_s_map,
    plot_pareto_front,
    plot_slice,
)
from momentum_search.dashboards._info import (
    CellComparisonInfo,
    CurvesInfo,
    GradientFlowInfo,
    HistoryInfo,
    ImportanceInfo,
    MomentumZeroInfo,
    MuSMapInfo,
    ParetoInfo,
    SliceInfo,
    SummaryInfo,
    get_cell_comparison_info,
    get_curves_info,
    get_gradient_flow_info,
    get_history_info,
    get_importance_info,
    get_momentum_zero_info,
    get_mu_s_map_info,
    get_pareto_info,
    get_slice_info,
    get_summary_info,
)
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
from momentum_search.dashboards._trials import Axes, FigureUnavailableError, StudyTrials, TrialRecord, read_trials
from momentum_search.dashboards._verdicts import Arm, Verdict, compare, compare_arms, verdicts_html

__all__ = [
    "GRAPH_PREFIX",
    "Arm",
    "Axes",
    "BrowserNotFoundError",
    "CellComparisonInfo",
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
    "SummaryInfo",
    "TrialRecord",
    "Verdict",
    "build_report",
    "compare",
    "compare_arms",
    "find_browser",
    "get_cell_comparison_info",
    "get_curves_info",
    "get_gradient_flow_info",
    "get_history_info",
    "get_importance_info",
    "get_momentum_zero_info",
    "get_mu_s_map_info",
    "get_pareto_info",
    "get_slice_info",
    "get_summary_info",
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
    "serve",
    "to_html",
    "to_markdown",
    "verdicts_html",
    "write_html",
    "write_pngs",
]
