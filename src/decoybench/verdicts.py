"""Three-valued claim verdicts from 95% intervals: holds, fails, or undecided at this scale.

A paper's claim is checked against an explicit threshold. A point estimate on either side of
it says little when the interval straddles it (a 0.5-point margin between two rates of 100
images is noise), so a verdict is read from the interval, never from the point:

* **holds**: the whole 95% interval satisfies the claim;
* **fails**: the whole interval violates it;
* **undecided**: the interval straddles the threshold: this run is too small to tell, and
  a larger one (more images, k-fold) is what would decide it;
* **no data**: an input is missing or undefined.

Rates carry Wilson intervals (`decoybench.metrics.Rate`). A difference a − c·b of two rates
gets the MOVER interval of Zou & Donner (2008), which for c = 1 is Newcombe's (1998) hybrid
score interval (his method 10): with Wilson limits (lₐ, uₐ), (l_b, u_b),

    L = d − √((a − lₐ)² + c²(u_b − b)²),   U = d + √((uₐ − a)² + c²(b − l_b)²),   d = a − c·b.

It treats the two rates as independent; on paired data (both scored on the same images) a
positive correlation makes it conservative (wider), so "holds" and "fails" stay trustworthy.
No library we use offers it (statsmodels is not a dependency; its `confint_proportions_2indep`
is the same formula), so it is written here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from decoybench.metrics import Rate

__all__ = [
    "FAILS",
    "HOLDS",
    "NO_DATA",
    "UNDECIDED",
    "VERDICTS",
    "Comparison",
    "combine_every",
    "difference_interval",
    "interval_verdict",
    "rate_from_columns",
    "rate_from_dict",
    "rate_verdict",
    "verdict_metrics",
    "within_verdict",
]

HOLDS, FAILS, UNDECIDED, NO_DATA = "holds", "fails", "undecided", "no data"
VERDICTS: tuple[str, ...] = (HOLDS, FAILS, UNDECIDED, NO_DATA)
Comparison = Literal[">=", ">", "<=", "<"]
_EPS = 1e-12  # rounding slack on a threshold the interval touches exactly


def _defined(*values: float) -> bool:
    return all(value is not None and not math.isnan(value) for value in values)


def interval_verdict(low: float, high: float, threshold: float, comparison: Comparison) -> str:
    """The verdict on "value `comparison` threshold" from the value's interval [low, high].

    ≥: holds when low ≥ t, fails when high < t; >: holds when low > t, fails when high ≤ t;
    ≤ and < mirror them; undecided otherwise; no data when a bound is undefined.
    """
    if not _defined(low, high, threshold):
        return NO_DATA
    if comparison == ">=":
        satisfied, violated = low >= threshold - _EPS, high < threshold - _EPS
    elif comparison == ">":
        satisfied, violated = low > threshold + _EPS, high <= threshold + _EPS
    elif comparison == "<=":
        satisfied, violated = high <= threshold + _EPS, low > threshold + _EPS
    elif comparison == "<":
        satisfied, violated = high < threshold - _EPS, low >= threshold - _EPS
    else:
        raise ValueError(f"comparison must be one of >=, >, <=, <; got {comparison!r}")
    return HOLDS if satisfied else FAILS if violated else UNDECIDED


def rate_verdict(rate: Rate | None, threshold: float, comparison: Comparison) -> str:
    """`interval_verdict` on a rate's Wilson interval; no data for None or an empty rate."""
    if rate is None or rate.total == 0:
        return NO_DATA
    low, high = rate.interval
    return interval_verdict(low, high, threshold, comparison)


def difference_interval(
    first: Rate | None, second: Rate | None, factor: float = 1.0
) -> tuple[float, float, float]:
    """(d, L, U): d = first − factor·second with its 95% MOVER interval (module docstring);
    all nan when either rate is missing or empty."""
    if first is None or second is None or first.total == 0 or second.total == 0:
        return math.nan, math.nan, math.nan
    if factor < 0:
        raise ValueError(f"factor must be ≥ 0, got {factor}")
    a, b = first.value, second.value
    (low_a, high_a), (low_b, high_b) = first.interval, second.interval
    d = a - factor * b
    low = d - math.sqrt((a - low_a) ** 2 + factor**2 * (high_b - b) ** 2)
    high = d + math.sqrt((high_a - a) ** 2 + factor**2 * (b - low_b) ** 2)
    return d, low, high


def within_verdict(low: float, high: float, tolerance: float) -> str:
    """The verdict on "|value| ≤ tolerance" (an equivalence claim, e.g. two accuracies within
    2 points): holds when [low, high] ⊆ [−tol, tol], fails when it lies wholly outside
    (low > tol or high < −tol), undecided otherwise."""
    if not _defined(low, high, tolerance):
        return NO_DATA
    if low >= -tolerance - _EPS and high <= tolerance + _EPS:
        return HOLDS
    if low > tolerance + _EPS or high < -tolerance - _EPS:
        return FAILS
    return UNDECIDED


def combine_every(verdicts: Iterable[str]) -> str:
    """The verdict on "the claim holds in every case" (every ε, every κ, every attack): fails
    when one case fails, holds when all hold, no data when none has data, else undecided."""
    values = list(verdicts)
    for verdict in values:
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}; expected one of {VERDICTS}")
    if FAILS in values:
        return FAILS
    if not values or all(verdict == NO_DATA for verdict in values):
        return NO_DATA
    if all(verdict == HOLDS for verdict in values):
        return HOLDS
    return UNDECIDED


def rate_from_dict(stored: Mapping[str, Any] | None) -> Rate | None:
    """A stored rate (`Rate.as_dict`: count, total) back as a `Rate`; None when absent."""
    if stored is None or not _defined(float(stored.get("total", math.nan))):
        return None
    return Rate(count=int(stored["count"]), total=int(stored["total"]))


def rate_from_columns(row: Mapping[str, Any], prefix: str) -> Rate | None:
    """The rate of a table row's `{prefix}_count` / `{prefix}_total` columns
    (`decoybench.tables.paper.rate_columns`); None when absent."""
    count, total = row.get(f"{prefix}_count"), row.get(f"{prefix}_total")
    try:
        count, total = float(count), float(total)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not _defined(count, total):
        return None
    return Rate(count=int(count), total=int(total))


VERDICT_SCORES = {HOLDS: 1.0, UNDECIDED: 0.5, FAILS: 0.0}


def verdict_metrics(keys: Iterable[Any], verdicts: Iterable[str]) -> dict[str, float]:
    """MLflow metrics of a claims table: `claim.{key}` = 1 holds, 0.5 undecided, 0 fails (no
    data left out), and the counts `claims.holds`, `claims.fails`, `claims.undecided`."""
    metrics: dict[str, float] = {f"claims.{name}": 0.0 for name in ("holds", "fails", "undecided")}
    for key, verdict in zip(keys, verdicts, strict=True):
        if verdict not in VERDICT_SCORES:
            continue
        metrics[f"claim.{re.sub(r'[^A-Za-z0-9_.-]', '_', str(key))}"] = VERDICT_SCORES[verdict]
        metrics[f"claims.{verdict}"] += 1.0
    return metrics
