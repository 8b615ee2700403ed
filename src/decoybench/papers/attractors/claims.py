"""The attractors paper's qualitative claims, checked against our tables (one row per check).

Each claim is made measurable by a stated threshold (the paper gives none):

* clean accuracy of M within 1 point of C's (Table II);
* ASR on M "far lower" than on C for FGSM, PGD and BIM: at most `FAR_LOWER_FACTOR` × ASR on
  C (the paper's MNIST rows reach 0.003–0.07 ×);
* detection TPR "near 100%" at the first operating point: ≥ `NEAR_PERFECT_TPR`, for the
  gradient-sign attacks and, separately, for the optimization-based ones (DeepFool, C&W, EAD,
  BLB, JSMA), which the paper reports at 90–100% too.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from decoybench.papers.attractors.paper_numbers import ATTRACTORS_TABLE_II, PAPER_DATASET

CLEAN_ACCURACY_GAP = 0.01
FAR_LOWER_FACTOR = 0.25
NEAR_PERFECT_TPR = 0.95
LOWER_ON_M_ROWS = ("FGSM", "PGD", "BIM")
GRADIENT_SIGN_ROWS = ("FGSM", "RFGSM", "BIM", "PGD", "PGD*", "UMIFGSM", "TMIFGSM", "ILLC")
OPTIMIZATION_ROWS = ("DeepFool", "CW2", "CW2*", "EAD", "EAD*", "BLB", "JSMA")


def _verdict(holds: bool | None) -> str:
    return "no data" if holds is None else ("holds" if holds else "does not hold")


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


def attractor_claims(forensic: pd.DataFrame, clean: dict[str, Any], dataset: str) -> pd.DataFrame:
    """Claim checks from Table I's CSV frame (`attractor_tables(...)["attractor_forensic"][0]`)
    and the defense build's clean measurements (`defense.json["clean"]`); `dataset` picks
    the paper's Table II numbers (`mnist5k` -> MNIST)."""
    victim = clean["clean_accuracy_victim"]["value"]
    defended = clean["clean_accuracy_defended"]["value"]
    gap = abs(defended - victim)
    rows = [
        {
            "claim": f"clean accuracy of M within {100 * CLEAN_ACCURACY_GAP:g} point of C",
            "attack": "",
            "ours": f"C {_percent(victim)}, M {_percent(defended)} (gap {100 * gap:.1f} points)",
            "paper": _paper_clean_accuracy(dataset),
            "verdict": _verdict(gap <= CLEAN_ACCURACY_GAP + 1e-12),
        }
    ]
    for _, row in forensic.iterrows():
        name = row["paper_row"]
        if name in LOWER_ON_M_ROWS:
            on_victim, on_defended = float(row["asr_victim"]), float(row["asr_attractor"])
            known = not (math.isnan(on_victim) or math.isnan(on_defended))
            rows.append(
                {
                    "claim": f"ASR on M at most {FAR_LOWER_FACTOR:g} × ASR on C",
                    "attack": row["attack"],
                    "ours": f"C {_percent(on_victim)}, M {_percent(on_defended)}",
                    "paper": f"C {_percent(row['paper_asr_victim'])}, "
                    f"M {_percent(row['paper_asr_attractor'])}",
                    "verdict": _verdict(
                        on_defended <= FAR_LOWER_FACTOR * on_victim + 1e-12 if known else None
                    ),
                }
            )
        for family, names in (("gradient-sign", GRADIENT_SIGN_ROWS),
                              ("optimization-based", OPTIMIZATION_ROWS)):  # fmt: skip
            if name not in names:
                continue
            tpr, successes = float(row["detection"]), row["detection_total"]
            known = not math.isnan(tpr) and successes > 0
            rows.append(
                {
                    "claim": f"TPR ≥ {100 * NEAR_PERFECT_TPR:g}% ({family} attacks)",
                    "attack": row["attack"],
                    "ours": f"{_percent(tpr)} of {int(successes)}" if known else "no success",
                    "paper": _percent(row["paper_detection"]),
                    "verdict": _verdict(tpr >= NEAR_PERFECT_TPR if known else None),
                }
            )
    return pd.DataFrame(rows)
