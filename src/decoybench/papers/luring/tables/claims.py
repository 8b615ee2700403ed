"""The luring paper's qualitative claims (Sec. 3.1, 3.3, 4.3, Appendix G; Bernhard et al.
2021), each checked against an explicit threshold on Tables 8, 1/14 and Figure 2's data.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from decoybench.papers.luring.tables.inputs import LURING, middle_epsilon

__all__ = ["AGREEMENT_GAP", "APPROACH_LABELS", "CLAIMS_COLUMNS", "OTHER_APPROACHES", "claims_table"]

# Claim (1): "our approach has a limited impact" (Sec. 3.1): Luring's AGREE within this many
# points (as a fraction) of C.E's, the approach whose P also only mimics M.
AGREEMENT_GAP = 0.03
OTHER_APPROACHES: tuple[str, ...] = ("stack", "auto", "cross_entropy")
APPROACH_LABELS = {"luring": "Luring", "stack": "Stack", "auto": "Auto", "cross_entropy": "C.E"}

CLAIMS_COLUMNS: tuple[str, ...] = ("key", "claim", "measured", "threshold", "holds", "detail")


def _approach_groups(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(Luring rows, {other approach: its rows}) of a frame with an `approach` column."""
    return frame[frame["approach"] == LURING], {
        approach: frame[frame["approach"] == approach] for approach in OTHER_APPROACHES
    }


def _missing(others: Mapping[str, pd.DataFrame]) -> list[str]:
    return [APPROACH_LABELS[name] for name, rows in others.items() if rows.empty]


def _above_others(
    *,
    key: str,
    claim: str,
    luring: pd.Series,
    others: Mapping[str, pd.DataFrame],
    column: str,
    context: str,
) -> dict[str, Any] | None:
    """One "Luring's `column` is above every other approach's" row: measured = Luring's value
    minus the highest other value, threshold 0, holds when strictly positive. None when no
    other approach has a row (nothing to compare with)."""
    present = {name: rows for name, rows in others.items() if not rows.empty}
    if not present:
        return None
    values = {
        f"{APPROACH_LABELS[name]} ({defense})": float(value)
        for name, rows in present.items()
        for defense, value in zip(rows["defense"], rows[column], strict=True)
    }
    ours = float(luring[column])
    margin = ours - max(values.values()) if values else math.nan
    known = not math.isnan(margin)
    parts = [f"Luring ({luring['defense']}) {_percent(ours)}"]
    parts += [f"{name} {_percent(value)}" for name, value in values.items()]
    missing = _missing(others)
    if missing:
        parts.append(f"not compared (no data): {', '.join(missing)}")
    if not known:
        parts.append("a value is undefined (empty X')")
    return {
        "key": key,
        "claim": claim,
        "measured": margin,
        "threshold": 0.0,
        "holds": bool(known and margin > 0),
        "detail": f"{context}: " + "; ".join(parts),
    }


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"


MEASURE_TITLES = {"iar": "IAR", "dr": "DR", "dac": "DAC", "ac_m": "AC_M"}


def _at_middle_epsilon(
    frame: pd.DataFrame, by: tuple[str, str]
) -> Iterator[tuple[tuple[str, str], float, str | None, pd.DataFrame]]:
    """((setting, attack or row), middle ε, config label or None, rows at that ε) per group
    of `frame` by `by`; the middle ε is `middle_epsilon` of the group's ε values. Figure 2's
    frame has one set of rows per config label (`attack_label`) at an ε; each is yielded."""
    if frame.empty:
        return
    for key, group in frame.groupby(list(by), sort=False):
        epsilons = group["epsilon"].dropna()
        if epsilons.empty:
            continue
        epsilon = middle_epsilon(epsilons)
        at_middle = group[np.isclose(group["epsilon"], epsilon, rtol=0.0, atol=1e-9)]
        if "attack_label" in at_middle:
            for label, rows in at_middle.groupby("attack_label", sort=False):
                yield (str(key[0]), str(key[1])), epsilon, str(label), rows
        else:
            yield (str(key[0]), str(key[1])), epsilon, None, at_middle


def claims_table(
    agreement: pd.DataFrame, characterization: pd.DataFrame, defense: pd.DataFrame
) -> pd.DataFrame:
    """The paper's claims, each against an explicit threshold (the paper states none):

    1. Sec. 3.1 / Table 8: Luring's AGREE (both correct) within `AGREEMENT_GAP` of C.E's
       (measured: |difference|; holds when ≤ the threshold).
    2. Sec. 3.3 / Figure 2: at the middle ε (`middle_epsilon`) of each Figure 2 attack,
       Luring's IAR over the common X' above Stack's, Auto's and C.E's (measured: Luring's
       minus the highest other; holds when > 0); the same for DR.
    3. Sec. 4.3 / Tables 1, 14: at the middle ε of each row (SPSA, ECO, MIM-W), Luring's DAC
       above the others'; 4. the same for AC_M.

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
            gap = abs(ours - theirs)
            rows.append(
                {
                    "key": f"agreement.{luring['defense']}.{other['defense']}",
                    "claim": "Table 8: Luring's agreement (both correct) within "
                    f"{100 * AGREEMENT_GAP:g} points of C.E's",
                    "measured": gap,
                    "threshold": AGREEMENT_GAP,
                    "holds": bool(not math.isnan(gap) and gap <= AGREEMENT_GAP + 1e-12),
                    "detail": f"Luring ({luring['defense']}) {_percent(ours)}, "
                    f"C.E ({other['defense']}) {_percent(theirs)}",
                }
            )
    for source, frame, by, measures in (
        ("Figure 2", characterization, ("setting", "attack"), ("iar", "dr")),
        ("Table 1/14", defense, ("setting", "row"), ("dac", "ac_m")),
    ):
        for (setting, name), epsilon, label, at_middle in _at_middle_epsilon(frame, by):
            luring_rows, others = _approach_groups(at_middle)
            what = name if label is None or label == name else f"{name} [{label}]"
            context = f"{source}, {what}, middle ε = {epsilon:g}, setting {setting}"
            if "n_common" in at_middle:
                context += f", common X' of {int(at_middle['n_common'].iloc[0])}"
            for measure in measures:
                title = MEASURE_TITLES[measure]
                for _, luring in luring_rows.iterrows():
                    row = _above_others(
                        key=".".join(
                            part
                            for part in (measure, setting, name, label, f"eps{epsilon:g}")
                            if part is not None
                        )
                        + f".{luring['defense']}",
                        claim=f"{source}: Luring's {title} above Stack's, Auto's and C.E's at "
                        f"the middle ε ({what})",
                        luring=luring,
                        others=others,
                        column=measure,
                        context=context,
                    )
                    if row is not None:
                        rows.append(row)
    return pd.DataFrame(rows, columns=list(CLAIMS_COLUMNS))
