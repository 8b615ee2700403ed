"""The multi-task paper's qualitative claims (Sec. IV-B to IV-E) against explicit
thresholds (the paper states none), ours and the paper's own numbers.

Each verdict is read from a 95% interval (`decoybench.verdicts`): holds, fails, or
undecided when the interval straddles the threshold; a difference of two rates uses the
Newcombe/MOVER interval. The paper's own numbers have no interval: `paper_holds` compares
its point values."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from decoybench.papers.multitask.paper_numbers import (
    MULTITASK_TABLE_V,
    TABLE_III_FGSM_EPSILON,
    TABLE_IV_FGSM_EPSILON,
    paper_benign,
    paper_blackbox,
    paper_dataset_name,
    paper_greybox,
    paper_misdetection,
)
from decoybench.papers.multitask.tables.inputs import Inputs, MultitaskCell, paper_percent
from decoybench.tables.paper import as_float, format_rate, is_nan, percent_text
from decoybench.verdicts import (
    NO_DATA,
    combine_every,
    difference_interval,
    interval_verdict,
    rate_from_columns,
    rate_from_dict,
    rate_verdict,
    within_verdict,
)

__all__ = [
    "BENIGN_ACCURACY_GAP",
    "GREYBOX_DETECTION_THRESHOLD",
    "MISDETECTION_THRESHOLD",
    "claims_table",
]

# Claim thresholds (the paper states none): (a) Table VI, "no decrease" (MNIST) / "decreases
# the accuracy by 2.1%" (CIFAR10) read as within 2 points; (b) Table IV "can tackle all the
# attacks very well" read as ≥ 90%; (e) Sec. IV-E "a very limited mis-detection rate" ≤ 1%.
BENIGN_ACCURACY_GAP = 0.02
GREYBOX_DETECTION_THRESHOLD = 0.90
MISDETECTION_THRESHOLD = 0.01

# --- rates -------------------------------------------------------------------------------
# A stored rate (`Rate.as_dict`) as a number, or as `format_rate` prints it.


def _value(rate: Mapping[str, Any] | None) -> float:
    return math.nan if rate is None else as_float(rate.get("value"))


def _bound(rate: Mapping[str, Any] | None, key: str) -> float:
    return math.nan if rate is None else as_float(rate.get(key))


def _shown(rate: Mapping[str, Any] | None) -> str:
    """A stored rate as `format_rate` prints it; "—" when absent."""
    if rate is None or is_nan(rate.get("total")):
        return "—"
    return format_rate(
        as_float(rate.get("value")),
        as_float(rate.get("ci_low")),
        as_float(rate.get("ci_high")),
        int(rate["count"]),
        int(rate["total"]),
    )


def _points(value: float) -> str:
    return "—" if is_nan(value) else f"{100 * value:+.1f} points"


def _points_interval(d: float, low: float, high: float) -> str:
    """A difference with its 95% interval, e.g. "+2.8 points [−1.0, +6.5]"."""
    if is_nan(d):
        return "—"
    return f"{100 * d:+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}]"


# --- claims ------------------------------------------------------------------------------

CLAIMS_COLUMNS: tuple[str, ...] = (
    "key",
    "claim",
    "measured",
    "measured_low",
    "measured_high",
    "comparison",
    "threshold",
    "verdict",
    "ours",
    "paper",
    "paper_holds",
    "detail",
)


def _closest(cells: Iterable[MultitaskCell], attack: str, epsilon: float) -> MultitaskCell | None:
    """The non-targeted `attack` cell whose ε is closest to `epsilon` (first in row order)."""
    candidates = [
        cell
        for cell in cells
        if cell.attack == attack and cell.target_mode == "none" and cell.epsilon is not None
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda cell: abs(cell.epsilon - epsilon))  # type: ignore[operator]


def _claim(
    key: str,
    claim: str,
    *,
    measured: float = math.nan,
    low: float = math.nan,
    high: float = math.nan,
    comparison: str,
    threshold: float,
    verdict: str,
    ours: str = "—",
    paper: str = "—",
    paper_holds: bool | None = None,
    detail: str = "",
) -> dict[str, Any]:
    return {
        "key": key,
        "claim": claim,
        "measured": measured,
        "measured_low": low,
        "measured_high": high,
        "comparison": comparison,
        "threshold": threshold,
        "verdict": verdict,
        "ours": ours,
        "paper": paper,
        "paper_holds": paper_holds,
        "detail": detail,
    }


def _benign_claim(table6: Mapping[str, Any], paper_dataset: str | None) -> dict[str, Any]:
    claim = (
        "Table VI: the defended model's benign accuracy within "
        f"{100 * BENIGN_ACCURACY_GAP:g} points of the oracle's"
    )
    oracle, defended = table6.get("accuracy_oracle"), table6.get("accuracy_defended")
    paper_oracle, paper_defended = paper_benign(paper_dataset)
    paper_text, paper_holds = "—", None
    if paper_oracle is not None and paper_defended is not None:
        paper_gap = paper_defended - paper_oracle
        paper_text = (
            f"{paper_percent(paper_defended)} vs {paper_percent(paper_oracle)} "
            f"({_points(paper_gap)})"
        )
        paper_holds = abs(paper_gap) <= BENIGN_ACCURACY_GAP + 1e-12
    common = {
        "threshold": BENIGN_ACCURACY_GAP,
        "comparison": "within",
        "paper": paper_text,
        "paper_holds": paper_holds,
    }
    if oracle is None or defended is None:
        return _claim(
            "benign_accuracy_gap",
            claim,
            verdict=NO_DATA,
            detail="missing: the sidecar's table6 accuracy_oracle / accuracy_defended",
            **common,
        )
    gap, low, high = difference_interval(rate_from_dict(defended), rate_from_dict(oracle))
    undetected = table6.get("accuracy_defended_undetected")
    return _claim(
        "benign_accuracy_gap",
        claim,
        measured=gap,
        low=low,
        high=high,
        verdict=within_verdict(low, high, BENIGN_ACCURACY_GAP),
        ours=f"defended {_shown(defended)} vs oracle {_shown(oracle)} "
        f"({_points_interval(gap, low, high)})",
        detail="measured: defended − oracle over every benign test image, its interval "
        "inside ±the threshold to hold; over the accepted images only (the paper's Defended) "
        f"the defended accuracy is {_shown(undetected)}",
        **common,
    )


def _greybox_claim(inputs: Inputs, paper_dataset: str | None) -> dict[str, Any]:
    claim = (
        f"Table IV: grey-box FGSM detection rate high (≥ {100 * GREYBOX_DETECTION_THRESHOLD:g}%)"
    )
    paper = paper_greybox(paper_dataset, "FGSM")
    common = {
        "threshold": GREYBOX_DETECTION_THRESHOLD,
        "comparison": ">=",
        "paper": paper_percent(paper),
        "paper_holds": None if paper is None else paper >= GREYBOX_DETECTION_THRESHOLD,
    }
    cell = _closest(inputs.greybox, "fgsm", TABLE_IV_FGSM_EPSILON)
    if cell is None or cell.rate("detection_rate_all") is None:
        return _claim(
            "greybox_fgsm_detection",
            claim,
            verdict=NO_DATA,
            detail="missing: no non-targeted grey-box FGSM cell of the defense with a "
            "multitask detection rate",
            **common,
        )
    rate = cell.rate("detection_rate_all")
    return _claim(
        "greybox_fgsm_detection",
        claim,
        measured=_value(rate),
        low=_bound(rate, "ci_low"),
        high=_bound(rate, "ci_high"),
        verdict=rate_verdict(rate_from_dict(rate), GREYBOX_DETECTION_THRESHOLD, ">="),
        ours=_shown(rate),
        detail=f"{cell.setting}/{cell.key} (ε = {cell.epsilon:g}; the paper's 0.05): detection "
        "rate over the whole adversarial test set, the paper's definition (Sec. IV-C); over "
        f"the examples that fool Z* only {_shown(cell.rate('detection_rate'))}",
        **common,
    )


def _blackbox_claim(inputs: Inputs, paper_dataset: str | None) -> dict[str, Any]:
    claim = "Table III: black-box FGSM accuracy of the defended oracle above the original's"
    paper_original, paper_defended = paper_blackbox(paper_dataset, "FGSM")
    paper_text, paper_holds = "—", None
    if paper_original is not None and paper_defended is not None:
        paper_text = (
            f"defended {paper_percent(paper_defended)} vs original {paper_percent(paper_original)}"
        )
        paper_holds = paper_defended > paper_original
    common = {"threshold": 0.0, "comparison": ">", "paper": paper_text, "paper_holds": paper_holds}
    cell = _closest(inputs.transfer, "fgsm", TABLE_III_FGSM_EPSILON)
    original = None if cell is None else cell.rate("accuracy_original")
    defended = None if cell is None else cell.rate("accuracy_defended")
    if cell is None or original is None or defended is None:
        return _claim(
            "blackbox_fgsm_accuracy",
            claim,
            verdict=NO_DATA,
            detail="missing: no non-targeted black-box FGSM cell of the defense with "
            "multitask accuracies",
            **common,
        )
    margin, low, high = difference_interval(rate_from_dict(defended), rate_from_dict(original))
    return _claim(
        "blackbox_fgsm_accuracy",
        claim,
        measured=margin,
        low=low,
        high=high,
        verdict=interval_verdict(low, high, 0.0, ">"),
        ours=f"defended {_shown(defended)} vs original {_shown(original)} "
        f"({_points_interval(margin, low, high)})",
        detail=f"{cell.setting}/{cell.key} (ε = {cell.epsilon:g}; the paper's 0.1), both "
        "models scored on the same transferred set; measured: defended − original",
        **common,
    )


def _near_whitebox_claim(near_whitebox: pd.DataFrame, paper_dataset: str | None) -> dict[str, Any]:
    claim = (
        "Table V: near-white-box generation rate of the defended model below the "
        "original's at every κ"
    )
    paper_rows = MULTITASK_TABLE_V.get(paper_dataset_name(paper_dataset) or "")
    paper_text, paper_holds = "—", None
    if paper_rows is not None:
        margins = [
            rows["defended"][kappa] - rows["original"][kappa]
            for rows in paper_rows.values()
            for kappa in rows["original"]
        ]
        paper_holds = max(margins) < 0
        paper_text = f"largest defended − original {_points(max(margins))} ({len(margins)} rows)"
    common = {"threshold": 0.0, "comparison": "<", "paper": paper_text, "paper_holds": paper_holds}
    both = near_whitebox.dropna(subset=["original_generation_rate", "defended_generation_rate"])
    skipped = [
        f"{row.mode} κ={row.kappa:g} ({row.attack_key})"
        for row in near_whitebox.itertuples()
        if row.Index not in both.index
    ]
    if both.empty:
        return _claim(
            "near_whitebox_generation",
            claim,
            verdict=NO_DATA,
            detail="missing: no κ with both a near-white-box cell of the defense and a "
            "white-box cell on the undefended oracle"
            + (f" (incomplete: {', '.join(skipped)})" if skipped else ""),
            **common,
        )
    margins = both["defended_generation_rate"] - both["original_generation_rate"]
    worst = both.loc[margins.idxmax()]
    parts = [
        f"{row.mode} κ={row.kappa:g}: {percent_text(row.defended_generation_rate)} vs "
        f"{percent_text(row.original_generation_rate)}"
        for row in both.itertuples()
    ]
    verdicts, intervals = [], []
    for _, row in both.iterrows():
        d, low, high = difference_interval(
            rate_from_columns(row, "defended_generation_rate"),
            rate_from_columns(row, "original_generation_rate"),
        )
        verdicts.append(interval_verdict(low, high, 0.0, "<"))
        intervals.append((d, low, high))
    worst_interval = max(intervals, key=lambda interval: interval[0])
    detail = (
        "measured: the largest defended − original; holds when every row's interval lies "
        "below 0; " + "; ".join(parts)
    )
    if skipped:
        detail += f"; not compared (a cell missing): {', '.join(skipped)}"
    return _claim(
        "near_whitebox_generation",
        claim,
        measured=float(margins.max()),
        low=worst_interval[1],
        high=worst_interval[2],
        verdict=combine_every(verdicts),
        ours=f"worst {worst['mode']} κ={worst['kappa']:g}: defended "
        f"{percent_text(worst['defended_generation_rate'])} vs original "
        f"{percent_text(worst['original_generation_rate'])} ({len(both)} rows compared)",
        detail=detail,
        **common,
    )


def _misdetection_claim(table6: Mapping[str, Any], paper_dataset: str | None) -> dict[str, Any]:
    claim = f"Sec. IV-E: benign mis-detection rate ≤ {100 * MISDETECTION_THRESHOLD:g}%"
    paper = paper_misdetection(paper_dataset)
    common = {
        "threshold": MISDETECTION_THRESHOLD,
        "comparison": "<=",
        "paper": paper_percent(paper),
        "paper_holds": None if paper is None else paper <= MISDETECTION_THRESHOLD,
    }
    rate = table6.get("misdetection_rate")
    if rate is None:
        return _claim(
            "benign_misdetection",
            claim,
            verdict=NO_DATA,
            detail="missing: the sidecar's table6 misdetection_rate",
            **common,
        )
    return _claim(
        "benign_misdetection",
        claim,
        measured=_value(rate),
        low=_bound(rate, "ci_low"),
        high=_bound(rate, "ci_high"),
        verdict=rate_verdict(rate_from_dict(rate), MISDETECTION_THRESHOLD, "<="),
        ours=_shown(rate),
        detail="over the benign test split (the sidecar's table6)",
        **common,
    )


def claims_table(
    inputs: Inputs, near_whitebox: pd.DataFrame, paper_dataset: str | None
) -> pd.DataFrame:
    """The paper's claims, each against an explicit threshold (the paper states none):

    (a) Table VI: |defended − oracle| benign accuracy ≤ `BENIGN_ACCURACY_GAP`;
    (b) Table IV: grey-box FGSM (ε closest to 0.05) detection rate over the whole
        adversarial set (the paper's population) ≥ `GREYBOX_DETECTION_THRESHOLD`;
    (c) Table III: black-box FGSM (ε closest to 0.1) accuracy, defended − original > 0;
    (d) Table V: defended generation rate below the original's in every row with both
        (measured: the largest difference; holds when < 0);
    (e) Sec. IV-E: benign mis-detection ≤ `MISDETECTION_THRESHOLD`.

    `verdict` is holds / fails / undecided from the 95% intervals (module docstring); a
    claim whose inputs are missing keeps its row with verdict "no data" and says what is
    missing; `paper_holds` says whether the paper's own numbers meet the threshold.
    """
    table6 = inputs.sidecar.get("table6") or {}
    rows = [
        _benign_claim(table6, paper_dataset),
        _greybox_claim(inputs, paper_dataset),
        _blackbox_claim(inputs, paper_dataset),
        _near_whitebox_claim(near_whitebox, paper_dataset),
        _misdetection_claim(table6, paper_dataset),
    ]
    frame = pd.DataFrame(rows, columns=list(CLAIMS_COLUMNS))
    frame["paper_holds"] = frame["paper_holds"].astype(object)
    return frame
