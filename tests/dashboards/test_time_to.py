"""Time to accuracy on histories with a known answer."""

from __future__ import annotations

import pytest

from momentum_search.dashboards._time_to import compare_times, time_to, time_to_best
from momentum_search.dashboards._verdicts import Arm, compare


def test_the_first_epoch_that_reaches_the_value_and_its_share_of_the_seeds_time() -> None:
    t = time_to(
        "momentum", [[50, 60, 70], [55, 65, 75], [10, None, 20]], [3.0, 6.0, 9.0], 62, direction="maximize", target="lstm's 62"
    )
    assert t.epochs == [3, 2, None] and t.seconds == [3.0, 4.0, None] and t.reached == [3, 2]
    down = time_to("m", [[0.5, 0.3, 0.1]], [1.5], 0.3, direction="minimize", target="0.3")
    assert down.epochs == [2] and down.seconds == [1.0]


def test_the_reference_takes_the_time_to_its_own_best() -> None:
    t = time_to_best("lstm", [[50, 70, 70], [80, 60, 79], [0.1, None, 0.3]], [3.0, 3.0, 4.0], direction="maximize")
    assert t.epochs == [2, 1, 3] and t.seconds == [2.0, 1.0, 4.0]  # the earliest epoch of the best value
    assert time_to_best("lstm", [[0.3, 0.1, 0.1]], [3.0], direction="minimize").epochs == [2]


def test_fewer_epochs_are_better_and_a_seed_that_never_reached_makes_no_verdict() -> None:
    fast = time_to("fast", [[9, 9]] * 4 + [[1, 9]], [2.0] * 5, 5, direction="maximize", target="5")
    slow = time_to_best("slow", [[1, 2, 3, 4, 5, 6]] * 3 + [[1, 2, 3, 4, 6, 5]] * 2, [6.0] * 5, direction="maximize")
    verdict = compare_times(fast, slow, unit="epochs")
    expected = compare(Arm("fast", [1, 1, 1, 1, 2]), Arm("slow", [6, 6, 6, 5, 5]), metric="epochs", direction="minimize")
    assert (verdict.outcome, verdict.diff, verdict.low, verdict.high) == ("better", expected.diff, expected.low, expected.high)
    assert compare_times(fast, slow, unit="seconds").outcome == "better"
    never = time_to("never", [[1, 2], [9, 9]], [1.0, 1.0], 5, direction="maximize", target="5")
    refused = compare_times(never, slow, unit="epochs")
    assert refused.outcome == "cannot compare" and "never: 1 of 2 seeds never reached 5" in refused.sentence
    assert refused.diff != refused.diff  # NaN: no difference without both sides
    assert slow.epochs == pytest.approx([6, 6, 6, 5, 5])
