"""The attractors paper's qualitative claims, checked against our tables (one row per check).

Each claim is made measurable by a stated threshold (the paper gives none):

* clean accuracy of M within 1 point of C's (Table II);
* ASR on M "far lower" than on C for FGSM, PGD and BIM: at most `FAR_LOWER_FACTOR` × ASR on
  C (the paper's MNIST rows reach 0.003–0.07 ×);
* detection TPR "near 100%" at the first operating point: ≥ `NEAR_PERFECT_TPR`, for the
  gradient-sign attacks and, separately, for the optimization-based ones (DeepFool, C&W, EAD,
  BLB, JSMA), which the paper reports at 90–100% too.

Verdicts are holds / fails / undecided from 95% intervals (`decoybench.verdicts`): the
clean-accuracy gap and ASR_M − ¼·ASR_C carry MOVER intervals, a TPR its Wilson interval.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from decoybench.papers.attractors.paper_numbers import ATTRACTORS_TABLE_II, PAPER_DATASET
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
OPTIMIZATION_ROWS = ("DeepFool", "CW2", "CW2*", "EAD", "EAD*", "BLB", "JSMA")


def _percent(value: float) -> str:
    return "—" if math.isnan(value) else f"{100 * value:.1f}%"


def _points(d: float, low: float, high: float) -> str:
    return "—" if math.isnan(d) else f"{100 * d:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


def _paper_clean_accuracy(dataset: str) -> str:
    """Table II's numbers for the paper's counterpart of `dataset`, or "—" (none)."""
    paper_dataset = PAPER_DATASET.get(dataset, dataset)
    paper = ATTRACTORS_TABLE_II.get(paper_dataset)
    if paper is None:
        return "—"
    shown = {"mnist": "MNIST", "cifar10": "CIFAR-10"}.get(paper_dataset, paper_dataset)
    return f"C {_percent(paper['victim'])}, M {_percent(paper['defended'])} ({shown})"


def attractor_claims(forensic: pd.DataFrame, clean: dict[str, Any], dataset: str) -> pd.DataFrame:
    """Claim checks from Table I's CSV frame (`attractor_tables(...)["attractor_forensic"][0]`)
    and the defense build's clean measurements (`defense.json["clean"]`); `dataset` picks
    the paper's Table II numbers (`mnist5k` -> MNIST)."""
    victim = clean["clean_accuracy_victim"]["value"]
    defended = clean["clean_accuracy_defended"]["value"]
    gap, low, high = difference_interval(
        rate_from_dict(clean["clean_accuracy_defended"]),
        rate_from_dict(clean["clean_accuracy_victim"]),
    )
    rows = [
        {
            "claim": f"clean accuracy of M within {100 * CLEAN_ACCURACY_GAP:g} point of C",
            "attack": "",
            "ours": f"C {_percent(victim)}, M {_percent(defended)} "
            f"(M − C {_points(gap, low, high)} points)",
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
                    "claim": f"ASR on M at most {FAR_LOWER_FACTOR:g} × ASR on C",
                    "attack": row["attack"],
                    "ours": f"C {_percent(on_victim)}, M {_percent(on_defended)} "
                    f"(M − {FAR_LOWER_FACTOR:g}·C {_points(margin, low, high)} points)",
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
    return pd.DataFrame(rows)
