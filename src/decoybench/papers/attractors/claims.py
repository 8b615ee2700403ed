"""The attractors paper's qualitative claims, checked against our tables (one row per check).

Each claim is made measurable by a stated threshold (the paper gives none):

* clean accuracy of M within 1 point of C's (Table II);
* ASR on M "far lower" than on C for FGSM, PGD and BIM: at most `FAR_LOWER_FACTOR` × ASR on
  C (the paper's MNIST rows reach 0.003–0.07 ×);
* detection TPR "near 100%" at the first operating point: ≥ `NEAR_PERFECT_TPR`, for the
  gradient-sign attacks and, separately, for the optimization-based ones (DeepFool, C&W, EAD,
  BLB, JSMA), which the paper reports at 90–100% too;
* Fig. 7a (Sec. VI-C2): on M, "cosine similarity is more than 0.8": the cosine between the
  direction to the nearest attractor, a valid image in [0, 1], and −∇J above
  `ATTRACTED_COSINE` for more than half of the images measured.

Verdicts are holds / fails / undecided from 95% intervals (`decoybench.verdicts`): the
clean-accuracy gap and ASR_M − ¼·ASR_C carry MOVER intervals, a TPR its Wilson interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from decoybench.metrics import Rate
from decoybench.papers.attractors.paper_numbers import ATTRACTORS_TABLE_II, PAPER_DATASET
from decoybench.tables.paper import difference_text
from decoybench.verdicts import (
    NO_DATA,
    difference_interval,
    interval_verdict,
    rate_from_columns,
    rate_from_dict,
    rate_verdict,
    within_verdict,
)

CLEAN_ACCURACY_GAP = 0.01
FAR_LOWER_FACTOR = 0.25
NEAR_PERFECT_TPR = 0.95
LOWER_ON_M_ROWS = ("FGSM", "PGD", "BIM")
GRADIENT_SIGN_ROWS = ("FGSM", "RFGSM", "BIM", "PGD", "PGD*", "UMIFGSM", "TMIFGSM", "ILLC")
ATTRACTED_COSINE = 0.8
ATTRACTED_SHARE = 0.5
OPTIMIZATION_ROWS = ("DeepFool", "CW2", "CW2*", "EAD", "EAD*", "BLB", "JSMA")


CLAIMS_COLUMNS: tuple[str, ...] = (
    "key",
    "claim",
    "attack",
    "ours",
    "paper",
    "verdict",
    "measured",
    "measured_low",
    "measured_high",
    "comparison",
    "threshold",
)


def _measured(
    value: float, low: float, high: float, comparison: str, threshold: float
) -> dict[str, Any]:
    """The columns a sweep plots: the measured value, its 95% interval and the threshold
    with its comparison (">=", "<=", or "within" ±threshold)."""
    return {
        "measured": value,
        "measured_low": low,
        "measured_high": high,
        "comparison": comparison,
        "threshold": threshold,
    }


def _percent(value: float) -> str:
    return "—" if math.isnan(value) else f"{100 * value:.1f}%"


def _paper_clean_accuracy(dataset: str) -> str:
    """Table II's numbers for the paper's counterpart of `dataset`, or "—" (none)."""
    paper_dataset = PAPER_DATASET.get(dataset, dataset)
    paper = ATTRACTORS_TABLE_II.get(paper_dataset)
    if paper is None:
        return "—"
    shown = {"mnist": "MNIST", "cifar10": "CIFAR-10"}.get(paper_dataset, paper_dataset)
    return f"C {_percent(paper['victim'])}, M {_percent(paper['defended'])} ({shown})"


def _attracted_claim(analysis: Mapping[str, Any] | None) -> dict[str, Any]:
    """Fig. 7a's row from the analysis summary (`summarize_attractor_analysis`)."""
    claim = (
        f"Fig. 7a: on M, cos(x_w − x, −∇J) > {ATTRACTED_COSINE:g} for most images "
        "(x_w the nearest valid attractor)"
    )
    common = {"key": "fig7_attracted", "claim": claim, "attack": "",
              "paper": f"> {ATTRACTED_COSINE:g} (Sec. VI-C2, 10,000 MNIST images)"}  # fmt: skip
    defined = None if analysis is None else analysis.get("defined_Z2")
    if not defined:
        return {
            **common,
            **_measured(math.nan, math.nan, math.nan, ">", ATTRACTED_SHARE),
            "ours": "no analysis",
            "verdict": NO_DATA,
        }
    assert analysis is not None
    share = Rate(int(analysis["count_Z2_above_0.8"]), int(defined))
    low, high = share.interval
    ours = (
        f"{share.count}/{share.total} above {ATTRACTED_COSINE:g} "
        f"(median {float(analysis['median_Z2']):.2f})"
    )
    if analysis.get("defined_Z2_lattice"):
        ours += (
            f"; to the lattice attractor outside [0, 1]: "
            f"{int(analysis['count_Z2_lattice_above_0.8'])}/{int(analysis['defined_Z2_lattice'])}"
            f" (median {float(analysis['median_Z2_lattice']):.2f})"
        )
    return {
        **common,
        **_measured(share.value, low, high, ">", ATTRACTED_SHARE),
        "ours": ours,
        "verdict": rate_verdict(share, ATTRACTED_SHARE, ">"),
    }


def attractor_claims(
    forensic: pd.DataFrame,
    clean: dict[str, Any],
    dataset: str,
    analysis: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Claim checks from Table I's CSV frame (`attractor_tables(...)["attractor_forensic"][0]`),
    the defense build's clean measurements (`defense.json["clean"]`) and the Sec. VI-C
    analysis summary (Fig. 7a; its row says "no data" without one); `dataset` picks the
    paper's Table II numbers (`mnist5k` -> MNIST)."""
    victim = clean["clean_accuracy_victim"]["value"]
    defended = clean["clean_accuracy_defended"]["value"]
    gap, low, high = difference_interval(
        rate_from_dict(clean["clean_accuracy_defended"]),
        rate_from_dict(clean["clean_accuracy_victim"]),
    )
    rows = [
        {
            "key": "clean_accuracy_gap",
            **_measured(gap, low, high, "within", CLEAN_ACCURACY_GAP),
            "claim": f"clean accuracy of M within {100 * CLEAN_ACCURACY_GAP:g} point of C",
            "attack": "",
            "ours": f"C {_percent(victim)}, M {_percent(defended)} "
            f"(M − C {difference_text(gap, low, high)} points)",
            "paper": _paper_clean_accuracy(dataset),
            "verdict": within_verdict(low, high, CLEAN_ACCURACY_GAP),
        }
    ]
    for _, row in forensic.iterrows():
        name = row["paper_row"]
        if name in LOWER_ON_M_ROWS:
            on_victim, on_defended = float(row["asr_victim"]), float(row["asr_attractor"])
            margin, low, high = difference_interval(
                rate_from_columns(row, "asr_attractor"),
                rate_from_columns(row, "asr_victim"),
                factor=FAR_LOWER_FACTOR,
            )
            rows.append(
                {
                    "key": f"asr_on_m.{row['attack']}",
                    **_measured(margin, low, high, "<=", 0.0),
                    "claim": f"ASR on M at most {FAR_LOWER_FACTOR:g} × ASR on C",
                    "attack": row["attack"],
                    "ours": f"C {_percent(on_victim)}, M {_percent(on_defended)} "
                    f"(M − {FAR_LOWER_FACTOR:g}·C {difference_text(margin, low, high)} points)",
                    "paper": f"C {_percent(row['paper_asr_victim'])}, "
                    f"M {_percent(row['paper_asr_attractor'])}",
                    "verdict": interval_verdict(low, high, 0.0, "<="),
                }
            )
        for family, names in (("gradient-sign", GRADIENT_SIGN_ROWS),
                              ("optimization-based", OPTIMIZATION_ROWS)):  # fmt: skip
            if name not in names:
                continue
            detection = rate_from_columns(row, "detection")
            known = detection is not None and detection.total > 0
            low, high = detection.interval if known else (math.nan, math.nan)
            rows.append(
                {
                    "key": f"tpr.{row['attack']}",
                    **_measured(
                        detection.value if known else math.nan, low, high, ">=", NEAR_PERFECT_TPR
                    ),
                    "claim": f"TPR ≥ {100 * NEAR_PERFECT_TPR:g}% ({family} attacks)",
                    "attack": row["attack"],
                    "ours": f"{_percent(detection.value)} [{_percent(low)}, {_percent(high)}] "
                    f"of {detection.total}"
                    if known
                    else "no success",
                    "paper": _percent(row["paper_detection"]),
                    "verdict": rate_verdict(detection, NEAR_PERFECT_TPR, ">=")
                    if known
                    else NO_DATA,
                }
            )
    rows.append(_attracted_claim(analysis))
    return pd.DataFrame(rows, columns=list(CLAIMS_COLUMNS))
