from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from study_specs import tiny_spec

from momentum_search.studies import SpecError, load_spec, parse_spec, with_overrides


def test_a_valid_spec_is_filled_in_from_the_task() -> None:
    spec = parse_spec(tiny_spec("ok", seeds=3))
    assert spec.seeds == (0, 1, 2)
    assert (spec.objective.metric, spec.objective.direction) == ("mse", "minimize")
    assert spec.objective.directions == ["minimize"]
    assert (spec.sampler.name, spec.pruner.name) == ("tpe", "none")
    assert spec.trials == 4


def test_the_stored_json_reads_back_as_the_same_spec() -> None:
    spec = parse_spec(tiny_spec("roundtrip", objective={"train_time": True}, sampler={"name": "random"}))
    again = parse_spec(spec.to_json())
    assert again == spec and again.to_json() == spec.to_json()


def test_train_time_makes_a_pareto_study_with_nsga2_and_no_pruner() -> None:
    spec = parse_spec(tiny_spec("pareto", objective={"train_time": True}, pruner={}))
    assert spec.objective.directions == ["minimize", "minimize"]
    assert (spec.sampler.name, spec.pruner.name) == ("nsga2", "none")


def test_grid_budget_defaults_to_the_grid_size() -> None:
    space = {"mu": {"points": [0.0, 0.3, 0.9]}, "s": {"points": [0.5, 1.0]}}
    spec = parse_spec(tiny_spec("grid", space=space, sampler={"name": "grid"}, budget={"epochs": 1}))
    assert spec.trials == 1 + 3 * 2  # lstm once, momentum-lstm on the 3 x 2 grid


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task": "imagenet"}, r"task: .*unknown task 'imagenet'; known tasks: copy, adding"),
        ({"name": "a b"}, r"name: .*'a b' is not a study name"),
        ({"cells": []}, r"cells: .*at least 1 item"),
        ({"cells": ["lstm", "quantum-lstm"]}, r"unknown cell kind\(s\) quantum-lstm; known kinds: lstm"),
        ({"space": {"mu": {"low": 0, "high": 1.2}}}, r"space\.mu: 1\.2 is outside the allowed range 0 ≤ mu < 1"),
        ({"space": {"beta": {"low": 0, "high": 0.5}}}, r"space\.beta: none of the cells lstm, momentum-lstm uses beta"),
        ({"space": {"gamma": {"low": 0, "high": 1}}}, r"space\.gamma\.\[key\]: Input should be 'mu', 's', 'beta'"),
        ({"fixed": {"epochs": 3}}, r"fixed: .*cannot fix epochs; fixable: mu, s"),
        ({"fixed": {"mu": 0.5}}, r"mu cannot be both searched \(space\) and fixed"),
        (
            {"fixed": {"optimizer": "lbfgs", "hidden_size": 4}},
            r"fixed \(cell lstm\): optimizer: Input should be 'rmsprop', 'adam' or 'sgd'",
        ),
        ({"fixed": {"hidden_size": 0}}, r"fixed \(cell lstm\): hidden_size: Input should be greater than or equal to 1"),
        ({"budget": {"trials": 0}}, r"budget\.trials: 0 is out of range; trials takes an integer in \[1, 100000\]"),
        (
            {"budget": {"trials": 10**12}},
            r"budget\.trials: 1000000000000 is out of range; trials takes an integer in \[1, 100000\]",
        ),
        ({"budget": {"trials": True}}, r"budget\.trials: expected a number, got true"),
        (
            {"budget": {"trials": 2, "epochs": 10**6}},
            r"budget\.epochs: 1000000 is out of range; epochs takes an integer in \[1, 100000\]",
        ),
        (
            {"budget": {"trials": 2, "timeout": 1e9}},
            r"budget\.timeout: 1e\+09 is out of range; timeout takes seconds in \(0, 2592000\]",
        ),
        ({"seeds": True}, r"seeds: expected a seed count or a list of seeds, got true"),
        ({"seeds": [0, True]}, r"seeds\.1: expected a number, got true"),
        ({"seeds": 10**6}, r"seeds: 1000000 is out of range; a seed count is an integer in \[1, 1000\]"),
        ({"seeds": [2**40]}, r"seeds: .*distinct integers in \[0, 4294967295\]"),
        ({"space": {"mu": {"low": False, "high": 0.9}}}, r"^spec: space\.mu\.low: expected a number, got false$"),
        ({"space": {"mu": {"points": [True, 0.5]}}}, r"^spec: space\.mu\.points\.0: expected a number, got true$"),
        ({"fixed": {"hidden_size": True}}, r"fixed \(cell lstm\): hidden_size: expected a number, got true"),
        ({"fixed": {"device": "cuda"}}, r"fixed\.device: device 'cuda': this torch \(.*\) sees no CUDA device; use cpu"),
        ({"budget": {"epochs": 2}}, r"budget\.trials is required"),
        (
            {"budget": {"trials": 2, "timeout": -5}},
            r"budget\.timeout: -5 is out of range; timeout takes seconds in \(0, 2592000\]",
        ),
        ({"seeds": 0}, r"seeds: 0 is out of range; a seed count is an integer in \[1, 1000\]"),
        ({"seeds": [1, 1]}, r"seeds: .*seeds must be distinct integers in \[0, 4294967295\]"),
        ({"objective": {"metric": "accuracy"}}, r"objective\.metric: task adding reports 'mse', not 'accuracy'"),
        ({"objective": {"direction": "maximize"}}, r"objective\.direction: mse of task adding is to minimize"),
        ({"sampler": {"name": "gp"}, "objective": {"train_time": True}}, r"sampler\.name: gp optimises one objective"),
        ({"pruner": {"name": "median"}, "objective": {"train_time": True}}, r"pruner\.name: median cannot prune"),
        ({"sampler": {"name": "grid"}}, r"the grid sampler needs explicit points .* space\.mu"),
        (
            {"sampler": {"name": "grid"}, "space": {"s": {"points": [0.5]}}, "budget": {"trials": 3}},
            r"budget\.trials: 3 exceeds the grid's 2 points",
        ),
        ({"colour": "blue"}, r"colour: Extra inputs are not permitted"),
        (
            {"space": {"mu": {"low": 0, "high": 0.9}, "s": {"low": 0.1, "high": 1}, "g": {"low": 0.1, "high": 1}}},
            r"^spec: space: search s or g \(the gain s/\(1−μ\), which sets s\), not both$",
        ),
        ({"fixed": {"g": 1.0}}, r"give s or g \(the gain s/\(1−μ\), which sets s\), not both: s in space, g in fixed"),
        (
            {"space": {"mu": {"low": 0, "high": 0.9}}, "fixed": {"g": 0}},
            r"fixed \(cell momentum-lstm\): g must be a real number with 0 < g, got 0",
        ),
        (
            {
                "space": {"mu": {"low": 0, "high": 0.9}, "g": {"low": 0.5, "high": 2}},
                "sampler": {"name": "random"},
                "scheduler": {"name": "pbt"},
            },
            r"scheduler\.name: pbt perturbs μ and s, not the gain g",
        ),
    ],
)
def test_invalid_specs_name_the_field_and_the_allowed_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(tiny_spec("bad", **changes))


def test_load_spec_reads_yaml_and_reports_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("name: from-file\ntask: digits\ncells: [lstm]\nbudget: {trials: 2, epochs: 1}\n")
    assert load_spec(path).name == "from-file"
    path.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=r"study\.yaml: invalid YAML"):
        load_spec(path)
    path.write_text("- a list\n")
    with pytest.raises(SpecError, match="expected a mapping of fields"):
        load_spec(path)
    with pytest.raises(SpecError, match="cannot read spec .*missing.yaml"):
        load_spec(tmp_path / "missing.yaml")


def test_overrides_are_validated_like_the_spec() -> None:
    spec = parse_spec(tiny_spec("over"))
    changed = with_overrides(spec, name="renamed", trials=9, timeout=60)
    assert (changed.name, changed.trials, changed.budget.timeout) == ("renamed", 9, 60)
    assert changed.same_search(spec)
    with pytest.raises(SpecError, match=r"options: budget\.trials: 0 is out of range; trials takes an integer in \[1, 100000\]"):
        with_overrides(spec, trials=0)


def test_a_gain_spec_searches_or_fixes_g_in_place_of_s() -> None:
    searched = parse_spec(tiny_spec("gain", space={"mu": {"low": 0.0, "high": 0.9}, "g": {"low": 0.5, "high": 4.0, "log": True}}))
    assert searched.search_space().parameters("momentum-lstm") == ("mu", "g")
    matched = parse_spec(
        tiny_spec(
            "matched",
            space={"mu": {"points": [0.0, 0.6]}},
            fixed={"g": 1.0, "hidden_size": 4},
            sampler={"name": "grid"},
            budget={"epochs": 1},
        )
    )
    plan = matched.trial_plan()
    assert [plan.config(point, seed=0).s for point in matched.search_space().grid()] == [None, 1.0, 1.0 * (1 - 0.6)]
