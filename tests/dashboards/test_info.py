"""The figures' data carries the known answer of the studies built in conftest.py."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from known_studies import GRID_MU, GRID_S, LSTM_VALUES, PEAK_MU, PEAK_S, SEEDS, StudyBuilder, grid_objective

from momentum_search.dashboards import (
    FigureUnavailableError,
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
    plot_gradient_flow,
    read_trials,
)


def seeds_of(mu: float, s: float) -> np.ndarray:
    return np.array([grid_objective(mu, s, seed) for seed in SEEDS])


def test_grid_map_is_the_paper_heat_map_with_mean_and_seed_std(grid_study: StudyBuilder) -> None:
    info = get_mu_s_map_info(read_trials(grid_study.study), "momentum-lstm")

    assert info.grid
    assert info.mu == list(GRID_MU) and info.s == list(GRID_S)
    assert (info.best.mu, info.best.s) == (PEAK_MU, PEAK_S)
    for i, s in enumerate(GRID_S):
        for j, mu in enumerate(GRID_MU):
            values = seeds_of(mu, s)
            assert info.z[i][j] == pytest.approx(values.mean())
            assert info.z_std[i][j] == pytest.approx(values.std(ddof=1))
    z = np.array(info.z, dtype=float)
    i, j = np.unravel_index(np.argmin(z), z.shape)
    assert (GRID_MU[j], GRID_S[i]) == (PEAK_MU, PEAK_S)
    # The pruned trial at (0.9, 1.0) has no value: the cell shows the complete one.
    assert info.z[GRID_S.index(1.0)][GRID_MU.index(0.9)] == pytest.approx(seeds_of(0.9, 1.0).mean())


def test_map_of_sampled_ranges_is_an_interpolated_contour(range_study: StudyBuilder) -> None:
    trials = read_trials(range_study.study)
    info = get_mu_s_map_info(trials, "momentum-lstm")

    assert not info.grid and info.s_log and info.z_std is None
    assert len(info.points) == 40
    values = np.array([p.value for p in info.points])
    assert info.best.value == values.min()
    assert info.s[1] / info.s[0] == pytest.approx(info.s[2] / info.s[1])  # a log-spaced s axis
    z = np.array([[np.nan if v is None else v for v in row] for row in info.z])
    assert np.isnan(z).any() and not np.isnan(z).all()  # outside the trials' hull nothing is invented
    # Linear interpolation stays within the data, and its lowest point lies near the objective's minimum.
    assert np.nanmin(z) >= values.min() - 1e-12 and np.nanmax(z) <= values.max() + 1e-12
    i, j = np.unravel_index(np.nanargmin(z), z.shape)
    assert abs(info.mu[j] - PEAK_MU) < 0.15 and abs(math.log10(info.s[i] / PEAK_S)) < 0.5


def test_map_needs_a_kind_with_mu_and_s(grid_study: StudyBuilder) -> None:
    trials = read_trials(grid_study.study)
    with pytest.raises(FigureUnavailableError, match="lstm has no complete trial that searches both μ and s"):
        get_mu_s_map_info(trials, "lstm")
    with pytest.raises(ValueError, match="'adam-lstm' is not in study grid"):
        get_mu_s_map_info(trials, "adam-lstm")


def test_slices_carry_each_trial_with_its_seed_spread(grid_study: StudyBuilder) -> None:
    trials = read_trials(grid_study.study)
    info = get_slice_info(trials, "mu")

    assert [series.cell for series in info.series] == ["momentum-lstm"]  # lstm has no μ
    series = info.series[0]
    assert len(series.x) == 25 and series.x == sorted(series.x)
    for mu, value, std, number in zip(series.x, series.y, series.std, series.numbers, strict=True):
        s = grid_study.study.trials[number].params["s"]
        assert value == pytest.approx(seeds_of(mu, s).mean())
        assert std == pytest.approx(seeds_of(mu, s).std(ddof=1))
    with pytest.raises(FigureUnavailableError, match="β is not searched"):
        get_slice_info(trials, "beta")
    with pytest.raises(ValueError, match="param must be one of"):
        get_slice_info(trials, "momentum")


def test_importances_rank_mu_first_when_only_mu_matters(range_study: StudyBuilder) -> None:
    info = get_importance_info(read_trials(range_study.study))

    within = {g.evaluator: g.importances for g in info.groups if g.scope == "momentum-lstm"}
    assert set(within) == {"fANOVA", "PED-ANOVA"}
    for importances in within.values():
        assert importances["mu"] > importances["s"]
        assert sum(importances.values()) == pytest.approx(1.0)
    # Across kinds fANOVA sees only what every trial has: the cell kind.
    across = {g.evaluator: g.importances for g in info.groups if g.scope == "all cell kinds"}
    assert list(across["fANOVA"]) == ["cell"]
    assert set(across["PED-ANOVA"]) == {"cell", "mu", "s"}
    assert info.skipped == ["lstm: needs ≥ 2 complete trials with a varying parameter (2 complete)"]


def test_importances_need_varying_parameters(make_study) -> None:
    builder = make_study("flat")
    builder.add("lstm", [0.3])
    with pytest.raises(FigureUnavailableError, match="importances need ≥ 2 complete trials"):
        get_importance_info(read_trials(builder.study))


def test_history_tracks_the_best_so_far_and_marks_pruned_trials(grid_study: StudyBuilder) -> None:
    info = get_history_info(read_trials(grid_study.study))

    complete = [t for t in grid_study.study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert info.numbers == [t.number for t in complete]
    assert info.best_so_far == pytest.approx(np.minimum.accumulate([t.value for t in complete]).tolist())
    assert info.best_so_far[-1] == pytest.approx(seeds_of(PEAK_MU, PEAK_S).mean())
    assert info.pruned_numbers == [26] and info.pruned_values == [2.0]


def test_learning_curves_are_the_intermediate_values(grid_study: StudyBuilder) -> None:
    info = get_curves_info(read_trials(grid_study.study))

    assert len(info.curves) == 27
    pruned = [c for c in info.curves if c.state == "PRUNED"]
    assert [(c.number, c.epochs, c.values, c.reason) for c in pruned] == [
        (26, [1, 2], [2.5, 2.0], "pruned: seed 0 after epoch 2")
    ]
    first = info.curves[0]
    assert first.values == pytest.approx([np.mean(LSTM_VALUES) + 0.2, np.mean(LSTM_VALUES) + 0.05, np.mean(LSTM_VALUES)])


def test_cell_against_cell_with_the_baseline(grid_study: StudyBuilder) -> None:
    info = get_cell_comparison_info(read_trials(grid_study.study))

    lstm, momentum = info.rows
    assert (lstm.cell, lstm.baseline, lstm.trials) == ("lstm", True, 1)
    assert lstm.best == pytest.approx(np.mean(LSTM_VALUES)) and lstm.best_std == pytest.approx(np.std(LSTM_VALUES, ddof=1))
    assert (momentum.cell, momentum.baseline, momentum.trials) == ("momentum-lstm", False, 25)
    means = [seeds_of(mu, s).mean() for mu in GRID_MU for s in GRID_S]
    assert momentum.best == pytest.approx(min(means))
    assert momentum.mean == pytest.approx(np.mean(means)) and momentum.std == pytest.approx(np.std(means, ddof=1))
    assert momentum.best_test == pytest.approx(min(means) + 0.01)


def test_a_trial_that_reused_a_twins_result_counts_once(make_study) -> None:
    builder = make_study("twins")
    first = builder.add("momentum-lstm", [0.2, 0.4], mu=0.6, s=1.0)
    builder.add("momentum-lstm", [0.6, 0.8], mu=0.1, s=1.0)
    builder.add("momentum-lstm", [0.2, 0.4], attrs={"reused_from": first.number}, mu=0.6, s=1.0)

    trials = read_trials(builder.study)
    assert [t.number for t in trials.complete()] == [0, 1]
    (row,) = get_cell_comparison_info(trials).rows
    # Over the two configurations (means 0.3 and 0.7), not over three trials.
    assert (row.trials, row.mean, row.std) == (2, pytest.approx(0.5), pytest.approx(np.std([0.3, 0.7], ddof=1)))


def test_mu_zero_against_mu_positive_at_the_best_s(grid_study: StudyBuilder) -> None:
    (row,) = get_momentum_zero_info(read_trials(grid_study.study)).rows

    assert (row.cell, row.s) == ("momentum-lstm", PEAK_S)
    assert (row.positive.mu, row.positive.value) == (PEAK_MU, pytest.approx(seeds_of(PEAK_MU, PEAK_S).mean()))
    assert (row.zero.mu, row.zero.s) == (0.0, PEAK_S)
    assert row.zero.value == pytest.approx(seeds_of(0.0, PEAK_S).mean())
    assert row.zero.std == pytest.approx(seeds_of(0.0, PEAK_S).std(ddof=1))
    assert (row.baseline.cell, row.baseline.mu, row.baseline.value) == ("lstm", None, pytest.approx(np.mean(LSTM_VALUES)))


def test_summary_counts_states_and_picks_the_best_per_kind(grid_study: StudyBuilder) -> None:
    info = get_summary_info(read_trials(grid_study.study))

    assert info.states == {"COMPLETE": 26, "PRUNED": 1, "FAIL": 0, "RUNNING": 0, "WAITING": 0}
    assert [(b.cell, b.params, b.seeds) for b in info.best] == [
        ("lstm", {}, 3),
        ("momentum-lstm", {"mu": PEAK_MU, "s": PEAK_S}, 3),
    ]
    assert info.best[1].test_value == pytest.approx(seeds_of(PEAK_MU, PEAK_S).mean() + 0.01)


def test_pareto_front_matches_optuna(make_study) -> None:
    builder = make_study("pareto", objective={"train_time": True}, sampler={"name": "random"}, budget={"trials": 10})
    # (mse, seconds): trials 1 and 3 are dominated by trial 2.
    for value, seconds in ((0.1, 9.0), (0.3, 5.0), (0.2, 4.0), (0.25, 4.5), (0.5, 1.0)):
        builder.add("momentum-lstm", [value], train_time=seconds, mu=0.3, s=0.6)
    info = get_pareto_info(read_trials(builder.study))

    front = {p.number for p in info.points if p.on_front}
    assert front == {t.number for t in builder.study.best_trials} == {0, 2, 4}
    # Two-objective trials report no intermediate values: the curves come from the stored history.
    assert len(get_curves_info(read_trials(builder.study)).curves) == 5


def test_pareto_front_needs_two_objectives(grid_study: StudyBuilder) -> None:
    with pytest.raises(FigureUnavailableError, match="one objective"):
        get_pareto_info(read_trials(grid_study.study))


def test_an_empty_study_has_nothing_to_draw(make_study) -> None:
    trials = read_trials(make_study("empty").study)
    for get_info in (get_history_info, get_curves_info, get_cell_comparison_info, get_momentum_zero_info, get_gradient_flow_info):
        with pytest.raises(FigureUnavailableError):
            get_info(trials)


def test_gradient_flow_reads_what_each_kinds_best_trial_recorded(make_study) -> None:
    builder = make_study("flows")
    flows = {}
    for cell, value, scale in (("lstm", 0.3, 1.0), ("momentum-lstm", 0.2, 2.0), ("momentum-lstm", 0.25, 3.0)):
        flow = {
            "init": {"t": [1, 2, 3], "norms": [scale, 0.5 * scale, 0.0], "loss": 2.3},
            "trained": {"t": [1, 2, 3], "norms": [0.1 * scale, 0.2 * scale, 0.3 * scale], "loss": value},
        }
        number = builder.add(cell, [value], attrs={"gradient_flow": flow}).number
        flows[number] = flow
    builder.add("lstm", [0.1], attrs={"gradient_flow": None})  # better, but recorded none (an older trial): not drawn
    info = get_gradient_flow_info(read_trials(builder.study))
    assert [(s.cell, s.number) for s in info.series] == [("lstm", 0), ("momentum-lstm", 1)]  # mse: lower is best
    for series in info.series:
        flow = flows[series.number]
        assert (series.t, series.init, series.trained) == (flow["trained"]["t"], flow["init"]["norms"], flow["trained"]["norms"])
        assert (series.loss_init, series.loss_trained) == (2.3, flow["trained"]["loss"])
        assert series.values == builder.study.trials[series.number].user_attrs["seed_histories"][0]
    figure = plot_gradient_flow(info)
    assert len(figure.data) == 6  # trained, init and the validation curve per kind


def test_gradient_flow_says_when_no_trial_recorded_it(make_study) -> None:
    builder = make_study("old")
    builder.add("lstm", [0.3], attrs={"gradient_flow": None})
    with pytest.raises(FigureUnavailableError, match="recorded its gradient flow"):
        get_gradient_flow_info(read_trials(builder.study))


def test_gain_map_points_are_each_trials_s_over_one_minus_mu(grid_study: StudyBuilder) -> None:
    trials = read_trials(grid_study.study)
    assert trials.axis == "s"
    info = get_mu_s_map_info(trials.on_axis("gain"), "momentum-lstm")

    # g = s/(1−μ) differs along μ: the s grid is no grid in g, so the map is a contour of the 25 trials.
    assert info.axis == "g" and not info.grid and len(info.points) == 25
    for point in info.points:
        config = grid_study.study.trials[point.number].user_attrs["config"]
        assert point.mu == config["mu"] and point.s == pytest.approx(config["s"] / (1 - config["mu"]))
    assert (info.best.mu, info.best.s) == (PEAK_MU, pytest.approx(PEAK_S / (1 - PEAK_MU)))
    with pytest.raises(ValueError, match="axes must be one of s, gain; got 'g'"):
        trials.on_axis("g")  # type: ignore[arg-type]


def test_a_gain_study_compares_mu_at_matched_gain_and_draws_on_s(make_study) -> None:
    builder = make_study("gain", space={"mu": {"points": [0.0, 0.6]}, "g": {"points": [0.5, 0.75]}})
    builder.add("lstm", list(LSTM_VALUES))
    for mu in (0.0, 0.6):
        for g in (0.5, 0.75):  # the best: μ = 0.6, g = 0.75, where s = 0.3
            builder.add("momentum-lstm", [grid_objective(mu, g * (1 - mu), seed) for seed in SEEDS], mu=mu, g=g)
    trials = read_trials(builder.study)
    assert trials.axis == "g"
    grid = get_mu_s_map_info(trials, "momentum-lstm")
    assert grid.grid and (grid.axis, grid.mu, grid.s) == ("g", [0.0, 0.6], [0.5, 0.75])
    # μ = 0 against μ > 0 at the best g: both arms have the same gain, not the same s.
    row = get_momentum_zero_info(trials).rows[0]
    assert row.s == 0.75 and (row.positive.mu, row.positive.s) == (0.6, 0.75) and (row.zero.mu, row.zero.s) == (0.0, 0.75)
    on_s = get_mu_s_map_info(trials.on_axis("s"), "momentum-lstm")
    assert on_s.axis == "s" and sorted((p.mu, p.s) for p in on_s.points) == [
        (0.0, 0.5),
        (0.0, 0.75),
        (0.6, 0.5 * (1 - 0.6)),
        (0.6, 0.75 * (1 - 0.6)),
    ]


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_ped_anova_ranks_what_drives_the_best_trials_in_either_direction(direction: str) -> None:
    from optuna.distributions import FloatDistribution

    from momentum_search.dashboards._fits import Sample, fit_importances

    # `good` alone makes the best trials (a narrow band of it), `bad` alone the worst ones.
    rng = np.random.default_rng(0)
    sign = 1.0 if direction == "maximize" else -1.0
    distributions = {"good": FloatDistribution(0, 1), "bad": FloatDistribution(0, 1)}
    samples = []
    for number in range(300):
        good, bad = rng.uniform(0, 1, size=2)
        value = 10.0 * (abs(good - 0.5) < 0.05) - 10.0 * (abs(bad - 0.5) < 0.05) + rng.normal(0, 0.1)
        samples.append(Sample(number, {"good": good, "bad": bad}, distributions, sign * value))

    groups = fit_importances([("momentum-lstm", samples)], direction)

    ped = next(g.importances for g in groups if g.evaluator == "PED-ANOVA")
    assert ped["good"] > 0.8 and ped["bad"] < 0.2
