"""The ablation report: each arm's per-seed results, and the verdicts that answer "is it momentum?".

An arm's values are its seeds' test metric at their best validation epoch: the search picked the
gain on validation values, so comparing on the held-out split keeps that choice out of the verdicts.
"""

from __future__ import annotations

import html
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from momentum_search.dashboards._gradient_flow import FlowSeries, GradientFlowInfo, plot_gradient_flow
from momentum_search.dashboards._html import STYLE, fmt, html_table
from momentum_search.dashboards._style import color, new_figure
from momentum_search.dashboards._time_to import TimeTo, time_to, time_to_best, time_to_html
from momentum_search.dashboards._verdicts import Arm, Method, Verdict, compare, verdicts_html
from momentum_search.search import TrialRecord
from momentum_search.studies import ABLATION_ATTR, SPEC_ATTR

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from optuna.storages import RDBStorage


class ArmResult(NamedTuple):
    """One arm of the set as stored: its configuration, its trial's state and its per-seed values."""

    label: str
    role: str  # plain, gain, momentum, learnable, chrono
    study: str
    cell: str
    mu: float | None
    s: float | None
    gain: float | None
    state: str  # its trial's state, or "not run"
    reason: str | None
    test_values: list[float]
    valid_values: list[float]
    learned: list[dict[str, list[float]]]  # per seed, the learnable arm's trained μ and s per layer
    histories: list[list[float | None]] = []  # per seed, the validation value of each epoch
    gradient_flow: dict[str, Any] | None = None  # the first seed's, at initialisation and after training
    wall_times: list[float] = []  # per seed, its training time [s]


class AblationInfo(NamedTuple):
    name: str
    task: str
    metric: str
    direction: str
    gain: float | None  # the gain the arms hold
    search: str | None  # the search study, if the gain came from one
    arms: list[ArmResult]
    verdicts: list[Verdict]
    skipped: list[str]  # comparisons that could not be made, and why
    times: list[
        tuple[TimeTo, TimeTo]
    ] = []  # each arm's time to the plain arm's validation value, and the plain arm's to its best


def get_ablation_info(storage: RDBStorage, name: str, *, method: Method = "welch") -> AblationInfo:
    """Read the set ``name`` from ``storage`` and compare its arms.

    Raises:
        LookupError: no study of the store belongs to the set.
    """
    import optuna

    members = [
        s
        for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
        if s.user_attrs.get(ABLATION_ATTR, {}).get("set") == name
    ]
    if not members:
        raise LookupError(f"no ablation {name!r} in this storage (run `momentum-search ablate` first)")
    search = next((s.study_name for s in members if s.user_attrs[ABLATION_ATTR]["role"] == "search"), None)
    arms = [
        _arm(storage, s.study_name, s.user_attrs[ABLATION_ATTR])
        for s in members
        if s.user_attrs[ABLATION_ATTR]["role"] != "search"
    ]
    plain, scaled = _first(arms, "plain"), _first(arms, "gain")
    spec = members[0].user_attrs[SPEC_ATTR]
    metric, direction = spec["objective"]["metric"], spec["objective"]["direction"]
    held = None if scaled is None else scaled.gain
    verdicts, skipped = [], []
    for arm, reference, context in _comparisons(arms, plain, scaled):
        missing = [
            f"{a.label} has no result ({a.state}{': ' + a.reason if a.reason else ''})"
            for a in (arm, reference)
            if not a.test_values
        ]
        if missing:
            skipped.append(f"{arm.label} against {reference.label}: " + "; ".join(missing))
            continue
        verdicts.append(
            compare(
                Arm(arm.label, arm.test_values),
                Arm(reference.label, reference.test_values),
                metric=metric,
                direction=direction,
                method=method,
                context=context,
            )
        )
    times = []
    if plain is not None and plain.valid_values:
        value = statistics.fmean(plain.valid_values)
        plain_time = time_to_best(plain.label, plain.histories, plain.wall_times, direction=direction)
        times = [
            (
                time_to(
                    arm.label, arm.histories, arm.wall_times, value, direction=direction, target=f"{plain.label}'s {value:.4g}"
                ),
                plain_time,
            )
            for arm in arms
            if arm is not plain and arm.valid_values
        ]
    return AblationInfo(name, spec["task"], metric, direction, held, search, arms, verdicts, skipped, times)


def _arm(storage: RDBStorage, study_name: str, tag: dict[str, Any]) -> ArmResult:
    import optuna

    trials = optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    trial = complete[0] if complete else (trials[-1] if trials else None)
    record = None if trial is None else TrialRecord.of(trial)
    config = (record and record.config) or {}
    done = record if record is not None and record.complete else None
    return ArmResult(
        label=tag["arm"],
        role=tag["role"],
        study=study_name,
        cell=config.get("cell", "?"),
        mu=config.get("mu"),
        s=config.get("s"),
        gain=None if record is None else record.gain,
        state="not run" if record is None else record.state,
        reason=None if record is None else record.reason,
        test_values=list(done.seed_test_values) if done else [],
        valid_values=list(done.seed_values) if done else [],
        learned=list(done.seed_learned) if done else [],
        histories=[list(h) for h in done.seed_histories] if done else [],
        wall_times=list(done.seed_wall_times) if done else [],
        gradient_flow=done.gradient_flow if done else None,
    )


# The simple related-work baselines an ablation set trains, and what each changes from the plain cell.
BASELINE_ROLES = {"chrono": "initialisation alone", "janet": "a forget-gate-only cell", "ur-lstm": "refined gates"}


def _first(arms: list[ArmResult], role: str) -> ArmResult | None:
    return next((arm for arm in arms if arm.role == role), None)


def _comparisons(
    arms: list[ArmResult], plain: ArmResult | None, scaled: ArmResult | None
) -> list[tuple[ArmResult, ArmResult, str]]:
    """(arm, reference, context) of every question the set answers, the gain's confound first; the
    references are the plain cell and ``scaled``, the μ = 0 arm at the held gain."""
    matched = "at matched gain" if scaled is None or scaled.gain is None else f"at matched gain g = {scaled.gain:.3g}"
    pairs = []
    if plain is not None and scaled is not None:
        pairs.append((scaled, plain, "gain alone" if scaled.s is None else f"gain alone (input scaled by s = {scaled.s:.3g})"))
    for arm in arms:
        if arm.role in ("momentum", "learnable"):
            if plain is not None:
                pairs.append((arm, plain, "gain and momentum together"))
            if scaled is not None:
                pairs.append((arm, scaled, matched))
        elif arm.role in BASELINE_ROLES and plain is not None:
            pairs.append((arm, plain, BASELINE_ROLES[arm.role]))
    # R1 and R3 asked for simpler, stronger related work: every momentum arm against each such baseline.
    for baseline in (a for a in arms if a.role in BASELINE_ROLES):
        pairs += [
            (arm, baseline, f"against the simple baseline {baseline.label}")
            for arm in arms
            if arm.role in ("momentum", "learnable")
        ]
    return pairs


# ---- rendering ------------------------------------------------------------------------------------


def plot_ablation(info: AblationInfo) -> go.Figure:
    """Each arm's per-seed test values as points, with their mean."""
    import plotly.graph_objects as go

    figure = new_figure(
        f"Ablation {info.name}: test {info.metric} per seed (bars: mean)",
        yaxis={"title": {"text": f"test {info.metric}"}},
        showlegend=False,
    )
    for arm in info.arms:
        if not arm.test_values:
            continue
        hue = color(arm.cell)
        figure.add_trace(
            go.Bar(
                x=[arm.label],
                y=[statistics.fmean(arm.test_values)],
                marker={"color": hue},
                opacity=0.35,
                hovertemplate=f"{arm.label}: mean %{{y:.4g}}<extra></extra>",
            )
        )
        figure.add_trace(
            go.Scatter(
                x=[arm.label] * len(arm.test_values),
                y=arm.test_values,
                mode="markers",
                marker={"color": hue, "size": 9, "line": {"width": 1, "color": "white"}},
                hovertemplate=f"{arm.label}: %{{y:.4g}}<extra>per seed</extra>",
            )
        )
    values = [v for arm in info.arms for v in arm.test_values]
    if values:  # bars start at 0; zoom to the data, which differ by a few points at most
        low, high = min(values), max(values)
        pad = 0.15 * (high - low or abs(high) or 1.0)
        figure.update_yaxes(range=[low - pad, high + pad])
    return figure


def arm_rows(info: AblationInfo) -> list[list[str]]:
    """Arm, cell, μ, s, g, state, seeds, test mean ± std, valid mean, learned μ / s (mean over seeds)."""
    rows = []
    for arm in info.arms:
        learned = "–"
        if arm.learned and arm.learned[0]:
            mus = [m for seed in arm.learned for m in seed["mu"]]
            ss = [s for seed in arm.learned for s in seed["s"]]
            learned = f"{statistics.fmean(mus):.3g} / {statistics.fmean(ss):.3g}"
        rows.append(
            [
                arm.label,
                arm.cell,
                fmt(arm.mu),
                fmt(arm.s),
                fmt(arm.gain),
                arm.state.lower() + (f" ({arm.reason})" if arm.reason else ""),
                str(len(arm.test_values)),
                _mean_std(arm.test_values),
                _mean_std(arm.valid_values),
                learned,
            ]
        )
    return rows


ARM_COLUMNS = ["arm", "cell", "μ", "s", "g", "state", "seeds", "test (mean ± std)", "valid (mean ± std)", "learned μ / s"]


def ablation_html(info: AblationInfo) -> str:
    """The ablation report as one offline HTML page (plotly.js embedded)."""
    import plotly.offline

    e = html.escape
    gain = "–" if info.gain is None else f"{info.gain:.4g}"
    source = f"the best trial of study {info.search}" if info.search else "given"
    figure = plot_ablation(info).to_html(
        full_html=False, include_plotlyjs=False, div_id="figure-ablation", config={"displaylogo": False, "responsive": True}
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(info.name)} · momentum-search ablation</title>",
        f"<style>{STYLE}</style>",
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>Ablation {e(info.name)}</h1>",
        f"<p>Task {e(info.task)}; {e(info.metric)} is to {e(info.direction)}. Every arm trains one configuration "
        f"with the same epochs and seeds; its values are each seed's test {e(info.metric)} at its best validation "
        f"epoch. The arms hold the gain g = s/(1−μ) = {e(gain)} ({e(source)}).</p>",
    ]
    roles = {arm.label: arm.role for arm in info.arms}
    against_baselines = [v for v in info.verdicts if BASELINE_ROLES.keys() & {roles.get(v.arm), roles.get(v.reference)}]
    questions = [
        (
            "R1: is it momentum, or the gain s/(1−μ) it brings?",
            "The gain alone (μ = 0, input scaled by g), every momentum arm against the plain cell (what the paper "
            "compared) and against μ = 0 at the same gain.",
            verdicts_html([v for v in info.verdicts if v not in against_baselines]),
        ),
        (
            "R1, R3: is it better than simpler related work?",
            "Each momentum arm against the simple baselines the set trains (chrono initialisation; JANET and "
            "UR-LSTM on an LSTM base), and each baseline against the plain cell.",
            verdicts_html(against_baselines),
        ),
        (
            f"R2: what does it cost to reach the plain cell's {info.metric}?",
            "Each arm's epochs and seconds to the plain arm's mean validation value, against the plain arm's seeds' "
            "epochs to their own best.",
            time_to_html(info.times) if info.times else '<p class="unavailable">The plain arm has no result.</p>',
        ),
        (
            "R3: does gradient flow differ after training?",
            "‖∂L/∂h_t‖ on a validation batch for each arm's first seed, on its best epoch's model (solid) and at "
            "initialisation (dotted), with the loss L each is taken of, beside the arm's validation curve.",
            _gradient_flow_html(info),
        ),
    ]
    for title, answers, body in questions:
        parts += [f"<h2>{e(title)}</h2>", f"<p>{e(answers)}</p>", body]
    if info.skipped:
        parts.append(
            '<div class="unavailable"><strong>Not compared:</strong><ul>'
            + "".join(f"<li>{e(line)}</li>" for line in info.skipped)
            + "</ul></div>"
        )
    parts += [
        "<h2>Arms</h2>",
        html_table(ARM_COLUMNS, arm_rows(info), numeric={2, 3, 4, 6, 7, 8, 9}),
        f'<section id="ablation">{figure}</section>',
        "</body></html>",
    ]
    return "\n".join(parts)


def _gradient_flow_html(info: AblationInfo) -> str:
    series = [
        FlowSeries(
            arm.cell,
            0,
            flow["trained"]["t"],
            flow["init"]["norms"],
            flow["trained"]["norms"],
            flow["init"]["loss"],
            flow["trained"]["loss"],
            list(range(1, len(arm.histories[0]) + 1)),
            arm.histories[0],
            label=arm.label,
        )
        for arm in info.arms
        if (flow := arm.gradient_flow) and "trained" in flow and arm.histories
    ]
    if not series:
        return '<p class="unavailable">No arm recorded its gradient flow (sets trained before momentum-search 0.2 did not).</p>'
    figure = plot_gradient_flow(GradientFlowInfo(info.metric, series))
    return figure.to_html(
        full_html=False, include_plotlyjs=False, div_id="figure-gradient-flow", config={"displaylogo": False, "responsive": True}
    )


def write_ablation_report(info: AblationInfo, path: str | Path) -> Path:
    """Write :func:`ablation_html` to ``path``; returns the path."""
    path = Path(path)
    path.write_text(ablation_html(info), encoding="utf-8")
    return path


def _mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4g} ± {spread:.2g}"
