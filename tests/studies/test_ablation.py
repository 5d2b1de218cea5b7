"""`ablate`: the study set behind "is it momentum?", run for real on a tiny adding task, and its verdicts."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from scipy import stats
from typer.testing import CliRunner

from momentum_search.cli import app
from momentum_search.dashboards import get_ablation_info
from momentum_search.studies import ABLATION_ATTR, open_storage, plan_ablation, run_ablation

TASK = {"length": 10, "n_train": 128, "n_valid": 64, "n_test": 64}
OPTIONS = [
    "--task",
    "adding",
    "--cell",
    "momentum-lstm",
    "--seeds",
    "2",
    "--epochs",
    "2",
    "--set",
    "hidden_size=8",
    *(item for key, value in TASK.items() for item in ("--task-param", f"{key}={value}")),
]


def tiny_plan(name: str, **options: object) -> object:
    return plan_ablation(
        task="adding", cell="momentum-lstm", name=name, task_params=TASK, seeds=2, epochs=2, fixed={"hidden_size": 8}, **options
    )  # type: ignore[arg-type]


def test_every_arm_trains_its_configuration_on_the_same_seeds(tmp_path: Path) -> None:
    # SQLite only: the storages themselves are tested elsewhere, and a set trains 16 seeds.
    storage_url, study_name = f"sqlite:///{tmp_path / 'ablation.db'}", "set"
    plan = tiny_plan(study_name, mus=(0.5,), search_trials=2)
    run = run_ablation(plan, storage=storage_url)  # type: ignore[arg-type]
    storage = open_storage(storage_url)
    # The gain held is the search's best trial's g; μ* starts the learnable arm.
    search = optuna.load_study(study_name=f"{study_name}.search", storage=storage)
    assert (run.gain, run.mu_star) == (search.best_trial.params["g"], search.best_trial.params["mu"])
    expected = {  # arm study: (cell, μ, s, init)
        "plain": ("lstm", None, None, "paper"),
        "gain": ("momentum-lstm", 0.0, run.gain, "paper"),
        "mu-0.5": ("momentum-lstm", 0.5, run.gain * 0.5, "paper"),
        "learnable": ("learnable-momentum-lstm", run.mu_star, run.gain * (1 - run.mu_star), "paper"),
        "chrono": ("lstm", None, None, "chrono"),
        "janet": ("janet", None, None, "paper"),  # each related cell with its own paper's initialisation
        "ur-lstm": ("ur-lstm", None, None, "paper"),
    }
    for arm, (cell, mu, s, init) in expected.items():
        study = optuna.load_study(study_name=f"{study_name}.{arm}", storage=storage)
        assert study.user_attrs[ABLATION_ATTR]["set"] == study_name
        (trial,) = study.get_trials()
        assert trial.state.name == "COMPLETE"
        config = trial.user_attrs["config"]
        assert (config["cell"], config["init"]) == (cell, init)
        assert config["mu"] == pytest.approx(mu) if mu is not None else config["mu"] is None
        assert config["s"] == pytest.approx(s) if s is not None else config["s"] is None
        assert trial.user_attrs["seeds"] == [0, 1] and len(trial.user_attrs["seed_test_values"]) == 2
    learnable = optuna.load_study(study_name=f"{study_name}.learnable", storage=storage).trials[0]
    assert all(
        0 <= seed["mu"][0] < 1 and seed["mu"][0] != pytest.approx(run.mu_star, abs=1e-6)
        for seed in learnable.user_attrs["seed_learned"]
    )

    info = get_ablation_info(storage, study_name)
    assert [arm.role for arm in info.arms] == ["plain", "gain", "momentum", "learnable", "chrono", "janet", "ur-lstm"]
    # gain vs plain; μ = 0.5 and learned μ each vs plain and vs μ = 0; each simple baseline vs plain, and
    # each momentum arm vs each simple baseline.
    assert [(v.arm, v.reference) for v in info.verdicts] == [
        ("μ = 0", "lstm"),
        ("μ = 0.5", "lstm"),
        ("μ = 0.5", "μ = 0"),
        ("learned μ", "lstm"),
        ("learned μ", "μ = 0"),
        ("lstm chrono", "lstm"),
        ("janet", "lstm"),
        ("ur-lstm", "lstm"),
        ("μ = 0.5", "lstm chrono"),
        ("learned μ", "lstm chrono"),
        ("μ = 0.5", "janet"),
        ("learned μ", "janet"),
        ("μ = 0.5", "ur-lstm"),
        ("learned μ", "ur-lstm"),
    ]
    # Each interval is Welch's on the seeds' stored test values, computed here with scipy.
    values = {arm.label: arm.test_values for arm in info.arms}
    for verdict in info.verdicts:
        a, b = values[verdict.arm], values[verdict.reference]
        low, high = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
        assert (verdict.low, verdict.high) == (pytest.approx(low), pytest.approx(high))
        assert verdict.diff == pytest.approx(sum(a) / 2 - sum(b) / 2) and "2 seeds each" in verdict.sentence

    # Again: every study is finished, so nothing trains and the verdicts are the same.
    again = run_ablation(plan, storage=storage_url)  # type: ignore[arg-type]
    assert all(result.enqueued == 0 for _, result in again.launches)
    assert get_ablation_info(storage, study_name).verdicts == info.verdicts


def test_the_command_writes_its_report_and_prints_each_verdict(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ablation.db'}"
    out = tmp_path / "ablation.html"
    result = CliRunner().invoke(
        app,
        [
            "ablate",
            *OPTIONS,
            "--gain",
            "2",
            "--mu",
            "0.6",
            "--name",
            "set",
            "--optimizer",
            "rmsprop",
            "--storage",
            url,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    info = get_ablation_info(open_storage(url), "set")
    assert info.gain == pytest.approx(2.0) and info.search is None
    page = out.read_text()
    for verdict in info.verdicts:
        assert verdict.sentence in result.stdout and verdict.sentence in page
    # R3: one optimiser for every arm alike.
    storage = open_storage(url)
    for arm in info.arms:
        trial = optuna.load_study(study_name=arm.study, storage=storage).get_trials()[0]
        assert trial.user_attrs["config"]["optimizer"] == "rmsprop"
    # R2: each arm's epochs to the plain arm's validation value, against the plain arm's to its own best.
    plain = next(arm for arm in info.arms if arm.role == "plain")
    assert [arm.label for arm, _ in info.times] == [arm.label for arm in info.arms if arm is not plain]
    for arm, reference in info.times:
        assert reference.epochs == [
            h.index(max(h)) + 1 if info.direction == "maximize" else h.index(min(h)) + 1 for h in plain.histories
        ]
        assert len(arm.epochs) == len(plain.histories)
    assert "epochs to reach" in " ".join(result.stdout.split())
    # The reviewers' report: a section per question, each with its verdicts.
    for question in (
        "R1: is it momentum",
        "R1, R3: is it better than simpler related work",
        "R2: what does it cost",
        "R3: does gradient flow differ after training",
    ):
        assert question in page
    assert 'id="figure-gradient-flow"' in page
    assert "at matched gain g = 2, μ = 0.6" in result.stdout
    assert 'id="figure-ablation"' in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--cell", "adam-lstm"], "cell: ablate takes a momentum kind"),
        (["--seeds", "1"], "seeds: a verdict's interval needs at least 2 seeds"),
        (["--mu", "1.0"], "mu: each μ must satisfy 0 ≤ μ < 1"),
        (["--set", "mu=0.3"], "fixed: mu are what the arms set"),
        (["--task", "nope"], "task: unknown task 'nope'"),
        (["--gain", "0"], "gain: must be > 0"),
    ],
)
def test_bad_options_fail_in_one_line_and_write_nothing(tmp_path: Path, change: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["ablate", *OPTIONS, *change, "--storage", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert message in line
    assert list(tmp_path.iterdir()) == []
