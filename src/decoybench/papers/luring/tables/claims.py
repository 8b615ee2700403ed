"""The luring paper's qualitative claims (Sec. 3.1, 3.3, 4.3, Appendix G; Bernhard et al.
2021), each checked against an explicit threshold on Tables 8, 1/14 and Figure 2's data.

Verdicts are holds / fails / undecided from 95% intervals (`decoybench.verdicts`): a margin
between two approaches' rates carries its Newcombe/MOVER interval, and a claim the paper
makes "for every ε" (Sec. 3.3: "the highest performances reached with our loss (for every
ϵ)") holds only when it holds at every ε run and against every other approach, fails when
one of them fails, and is undecided otherwise: the middle ε alone decides nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from decoybench.papers.luring.tables.inputs import LURING
from decoybench.tables.paper import difference_text
from decoybench.verdicts import (
    NO_DATA,
    combine_every,
    difference_interval,
    interval_verdict,
    rate_from_columns,
    within_verdict,
)

__all__ = ["AGREEMENT_GAP", "APPROACH_LABELS", "CLAIMS_COLUMNS", "OTHER_APPROACHES", "claims_table"]

# Claim (1): "our approach has a limited impact" (Sec. 3.1): Luring's AGREE within this many
# points (as a fraction) of C.E's, the approach whose P also only mimics M.
AGREEMENT_GAP = 0.03
OTHER_APPROACHES: tuple[str, ...] = ("stack", "auto", "cross_entropy")
APPROACH_LABELS = {"luring": "Luring", "stack": "Stack", "auto": "Auto", "cross_entropy": "C.E"}

CLAIMS_COLUMNS: tuple[str, ...] = (
    "key",
    "claim",
    "measured",
    "measured_low",
    "measured_high",
    "comparison",
    "threshold",
    "verdict",
    "detail",
)


def _approach_groups(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(Luring rows, {other approach: its rows}) of a frame with an `approach` column."""
    return frame[frame["approach"] == LURING], {
        approach: frame[frame["approach"] == approach] for approach in OTHER_APPROACHES
    }


def _missing(others: Mapping[str, pd.DataFrame]) -> list[str]:
    return [APPROACH_LABELS[name] for name, rows in others.items() if rows.empty]


def _above_others_over_epsilon(
    *,
    key: str,
    claim: str,
    by_epsilon: Mapping[tuple[float, str | None], tuple[pd.Series, Mapping[str, pd.DataFrame]]],
    column: str,
    context: str,
) -> dict[str, Any] | None:
    """One "Luring's `column` is above every other approach's at every ε" row. Per (ε, config
    label) and other approach row: Luring − other with its interval, which must lie above 0;
    the verdict combines them all (`combine_every`); measured = the smallest margin over ε of
    Luring minus the highest other. None when no ε has another approach to compare with."""
    verdicts: list[str] = []
    worst_margins: list[tuple[float, float, float]] = []
    parts: list[str] = []
    missing: set[str] = set()
    for (epsilon, label), (luring, others) in sorted(
        by_epsilon.items(), key=lambda item: (item[0][0], item[0][1] or "")
    ):
        present = {name: rows for name, rows in others.items() if not rows.empty}
        missing.update(APPROACH_LABELS[name] for name, rows in others.items() if rows.empty)
        if not present:
            continue
        ours = rate_from_columns(luring, column)
        margins: list[tuple[float, float, float, str]] = []
        for name, rows in present.items():
            for _, other in rows.iterrows():
                d, low, high = difference_interval(ours, rate_from_columns(other, column))
                if math.isnan(d):
                    d = float(luring[column]) - float(other[column])
                verdicts.append(interval_verdict(low, high, 0.0, ">"))
                margins.append((d, low, high, f"{APPROACH_LABELS[name]} ({other['defense']})"))
        d, low, high, closest = min(margins, key=lambda margin: margin[0])
        worst_margins.append((d, low, high))
        where = f"ε = {epsilon:g}" + ("" if label is None else f" [{label}]")
        parts.append(
            f"{where}: Luring {_percent(float(luring[column]))}, closest {closest} "
            f"margin {difference_text(d, low, high, 'n/a')} points"
        )
    if not verdicts:
        return None
    defined = [margin for margin in worst_margins if not math.isnan(margin[0])]
    worst = min(defined) if defined else (math.nan, math.nan, math.nan)
    detail = f"{context}: " + "; ".join(parts)
    if missing:
        detail += f"; not compared (no data): {', '.join(sorted(missing))}"
    return {
        "key": key,
        "claim": claim,
        "measured": worst[0],
        "measured_low": worst[1],
        "measured_high": worst[2],
        "comparison": ">",
        "threshold": 0.0,
        "verdict": combine_every(verdicts),
        "detail": detail,
    }


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"


MEASURE_TITLES = {"iar": "IAR", "dr": "DR", "dac": "DAC", "ac_m": "AC_M"}


def _by_epsilon(
    frame: pd.DataFrame, by: tuple[str, str]
) -> Iterator[tuple[tuple[str, str], dict[tuple[float, str | None], pd.DataFrame]]]:
    """((setting, attack or row), {(ε, config label or None): rows}) per group of `frame` by
    `by`, the groups' ε in order; Figure 2's frame has one set of rows per config label
    (`attack_label`) at an ε, each its own entry."""
    if frame.empty:
        return
    for key, group in frame.groupby(list(by), sort=False):
        group = group.dropna(subset=["epsilon"])
        entries: dict[tuple[float, str | None], pd.DataFrame] = {}
        for epsilon in sorted({round(float(value), 9) for value in group["epsilon"]}):
            at = group[np.isclose(group["epsilon"], epsilon, rtol=0.0, atol=1e-9)]
            if "attack_label" in at:
                for label, rows in at.groupby("attack_label", sort=False):
                    entries[(epsilon, str(label))] = rows
            else:
                entries[(epsilon, None)] = at
        if entries:
            yield (str(key[0]), str(key[1])), entries


def claims_table(
    agreement: pd.DataFrame, characterization: pd.DataFrame, defense: pd.DataFrame
) -> pd.DataFrame:
    """The paper's claims, each against an explicit threshold (the paper states none):

    1. Sec. 3.1 / Table 8: Luring's AGREE (both correct) within `AGREEMENT_GAP` of C.E's
       (measured: Luring − C.E; holds when its interval lies inside ±the threshold).
    2. Sec. 3.3 / Figure 2: for each Figure 2 attack, Luring's IAR over the common X' above
       Stack's, Auto's and C.E's at every ε (measured: the smallest margin over ε of Luring
       minus the highest other); the same for DR.
    3. Sec. 4.3 / Tables 1, 14: for each row (SPSA, ECO, MIM-W), Luring's DAC above the
       others' at every ε; 4. the same for AC_M.

    A row is left out only when its inputs are absent (no Luring row, or no other approach
    to compare with); approaches missing from a comparison are named in `detail`.
    """
    rows: list[dict[str, Any]] = []
    luring_rows, others = _approach_groups(agreement)
    ce = others["cross_entropy"]
    for _, luring in luring_rows.iterrows():
        for _, other in ce.iterrows():
            ours, theirs = (
                float(luring["agreement_both_correct"]),
                float(other["agreement_both_correct"]),
            )
            d, low, high = difference_interval(
                rate_from_columns(luring, "agreement_both_correct"),
                rate_from_columns(other, "agreement_both_correct"),
            )
            rows.append(
                {
                    "key": f"agreement.{luring['defense']}.{other['defense']}",
                    "claim": "Table 8: Luring's agreement (both correct) within "
                    f"{100 * AGREEMENT_GAP:g} points of C.E's",
                    "measured": d,
                    "measured_low": low,
                    "measured_high": high,
                    "comparison": "within",
                    "threshold": AGREEMENT_GAP,
                    "verdict": within_verdict(low, high, AGREEMENT_GAP)
                    if not math.isnan(d)
                    else NO_DATA,
                    "detail": f"Luring ({luring['defense']}) {_percent(ours)}, "
                    f"C.E ({other['defense']}) {_percent(theirs)}, difference "
                    f"{difference_text(d, low, high, 'n/a')} points",
                }
            )
    for source, frame, by, measures in (
        ("Figure 2", characterization, ("setting", "attack"), ("iar", "dr")),
        ("Table 1/14", defense, ("setting", "row"), ("dac", "ac_m")),
    ):
        for (setting, name), entries in _by_epsilon(frame, by):
            epsilons = ", ".join(f"{epsilon:g}" for epsilon in sorted({e for e, _ in entries}))
            context = f"{source}, {name}, ε ∈ {{{epsilons}}}, setting {setting}"
            per_defense: dict[str, dict[tuple[float, str | None], Any]] = {}
            for entry, at in entries.items():
                luring_rows, others = _approach_groups(at)
                for _, luring in luring_rows.iterrows():
                    per_defense.setdefault(str(luring["defense"]), {})[entry] = (luring, others)
            for measure in measures:
                title = MEASURE_TITLES[measure]
                for defense_name, by_epsilon in per_defense.items():
                    row = _above_others_over_epsilon(
                        key=f"{measure}.{setting}.{name}.{defense_name}",
                        claim=f"{source}: Luring's {title} above Stack's, Auto's and C.E's at "
                        f"every ε ({name})",
                        by_epsilon=by_epsilon,
                        column=measure,
                        context=context,
                    )
                    if row is not None:
                        rows.append(row)
    return pd.DataFrame(rows, columns=list(CLAIMS_COLUMNS))
