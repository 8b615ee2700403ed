"""Three-valued verdicts from intervals (decoybench.verdicts), on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from decoybench.metrics import Rate
from decoybench.verdicts import (
    FAILS,
    HOLDS,
    NO_DATA,
    UNDECIDED,
    combine_every,
    difference_interval,
    interval_verdict,
    rate_from_columns,
    rate_from_dict,
    rate_verdict,
    within_verdict,
)


def test_newcombe_examples() -> None:
    """Newcombe (1998), Table II, method 10: 56/70 − 48/80 and 9/10 − 3/10."""
    d, low, high = difference_interval(Rate(56, 70), Rate(48, 80))
    assert (round(d, 4), round(low, 4), round(high, 4)) == (0.2, 0.0524, 0.3339)
    d, low, high = difference_interval(Rate(9, 10), Rate(3, 10))
    assert (round(d, 4), round(low, 4), round(high, 4)) == (0.6, 0.1705, 0.8090)


def test_scaled_difference_widens_with_the_factor() -> None:
    """a − 0.25·b: the second rate's half-widths are scaled by 0.25 (Zou & Donner's MOVER)."""
    first, second = Rate(10, 100), Rate(60, 100)
    d, low, high = difference_interval(first, second, factor=0.25)
    (la, ua), (lb, ub) = first.interval, second.interval
    assert d == pytest.approx(0.10 - 0.15)
    assert low == pytest.approx(d - math.sqrt((0.10 - la) ** 2 + 0.0625 * (ub - 0.60) ** 2))
    assert high == pytest.approx(d + math.sqrt((ua - 0.10) ** 2 + 0.0625 * (0.60 - lb) ** 2))
    assert all(math.isnan(v) for v in difference_interval(first, None))
    assert all(math.isnan(v) for v in difference_interval(Rate(0, 0), second))


@pytest.mark.parametrize(
    ("low", "high", "comparison", "expected"),
    [
        (0.91, 0.99, ">=", HOLDS),
        (0.90, 0.99, ">=", HOLDS),  # touching the threshold satisfies ≥
        (0.85, 0.95, ">=", UNDECIDED),
        (0.70, 0.89, ">=", FAILS),
        (0.90, 0.99, ">", UNDECIDED),  # but not >
        (0.70, 0.90, ">", FAILS),
        (0.80, 0.90, "<=", HOLDS),
        (0.85, 0.95, "<=", UNDECIDED),
        (0.91, 0.99, "<=", FAILS),
        (0.80, 0.90, "<", UNDECIDED),
        (0.90, 0.95, "<", FAILS),
        (math.nan, 0.95, ">=", NO_DATA),
    ],
)
def test_interval_verdict(low: float, high: float, comparison: str, expected: str) -> None:
    assert interval_verdict(low, high, 0.90, comparison) == expected  # type: ignore[arg-type]


def test_interval_verdict_rejects_an_unknown_comparison() -> None:
    with pytest.raises(ValueError, match="comparison"):
        interval_verdict(0.1, 0.2, 0.5, "==")  # type: ignore[arg-type]


def test_rate_verdict_uses_the_wilson_interval() -> None:
    # 100/100: Wilson [0.963, 1] ≥ 0.95 holds; 95/100: [0.888, 0.978] straddles 0.95
    assert rate_verdict(Rate(100, 100), 0.95, ">=") == HOLDS
    assert rate_verdict(Rate(95, 100), 0.95, ">=") == UNDECIDED
    assert rate_verdict(Rate(80, 100), 0.95, ">=") == FAILS
    # 0/100 mis-detections: Wilson high 0.037 > 1%: cannot say ≤ 1% at this scale
    assert rate_verdict(Rate(0, 100), 0.01, "<=") == UNDECIDED
    assert rate_verdict(Rate(0, 1000), 0.01, "<=") == HOLDS  # high 0.0038
    assert rate_verdict(Rate(0, 0), 0.5, ">=") == NO_DATA
    assert rate_verdict(None, 0.5, ">=") == NO_DATA


def test_within_verdict() -> None:
    assert within_verdict(-0.01, 0.02, 0.03) == HOLDS
    assert within_verdict(-0.01, 0.05, 0.03) == UNDECIDED
    assert within_verdict(0.04, 0.09, 0.03) == FAILS
    assert within_verdict(-0.09, -0.04, 0.03) == FAILS
    assert within_verdict(math.nan, 0.0, 0.03) == NO_DATA


def test_combine_every() -> None:
    assert combine_every([HOLDS, HOLDS]) == HOLDS
    assert combine_every([HOLDS, UNDECIDED]) == UNDECIDED
    assert combine_every([HOLDS, UNDECIDED, FAILS]) == FAILS
    assert combine_every([HOLDS, NO_DATA]) == UNDECIDED
    assert combine_every([NO_DATA]) == NO_DATA
    assert combine_every([]) == NO_DATA
    with pytest.raises(ValueError, match="unknown verdict"):
        combine_every(["True"])


def test_rates_read_back_from_stored_forms() -> None:
    assert rate_from_dict(Rate(3, 8).as_dict()) == Rate(3, 8)
    assert rate_from_dict(None) is None
    row = {"dr_count": 30.0, "dr_total": 500.0, "iar_count": math.nan, "iar_total": 5}
    assert rate_from_columns(row, "dr") == Rate(30, 500)
    assert rate_from_columns(row, "iar") is None
    assert rate_from_columns(row, "dac") is None
