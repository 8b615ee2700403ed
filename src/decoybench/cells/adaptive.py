"""Who wins on each test input against a deployed classifier with its detector.

One definition for every adversarial set scored against an `adaptive` deployment
(`decoybench.defenses.system.adaptive_system`), whether an adaptive attacker crafted it or an
oblivious one: per operating point, the attacker wins on input i when the detector rejects
the clean x_i, when x_i is already misclassified and accepted, or when x'_i is misclassified
and accepted (`decoybench.metrics.defender_failures`). The per-sample flags are kept, so the
leaderboard takes the per-sample worst case over attacks. Whether x_i and x'_i are classified
right comes from the cell's outcome (`decoybench.cells.score.cell_outcome`); the clean
rejections, the same for every set of one defense, are computed once (`clean_rejections`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from decoybench.cells.forensic import batched
from decoybench.defenses.system import DeployedSystem
from decoybench.metrics import Rate, defender_failures

NO_DETECTOR = "no_detector"


def _flags(system: DeployedSystem, x: Tensor, batch_size: int) -> dict[str, np.ndarray]:
    """Each operating point's flags on x (none raised where the system has no detector)."""
    if not system.operating_points:
        return {NO_DETECTOR: np.zeros(len(x), dtype=bool)}
    with torch.no_grad():
        return {
            name: batched(detector.is_adversarial, x, batch_size).astype(bool)
            for name, detector in system.operating_points.items()
        }


def clean_rejections(
    system: DeployedSystem, x_clean: Tensor, batch_size: int = 250
) -> dict[str, np.ndarray]:
    """Per operating point, whether the detector rejects each clean input."""
    return _flags(system, x_clean, batch_size)


def defender_outcome(
    system: DeployedSystem,
    *,
    clean_correct: np.ndarray,
    clean_rejected: Mapping[str, np.ndarray],
    fooled: np.ndarray,
    x_adv: Tensor,
    batch_size: int = 250,
    budgets: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Per operating point of `system` (one `no_detector` point where it has none): the
    clean rejection rate, the detection rate of the fooling x', the rejection-charged attack
    success and its per-input failure flags (0/1, in the order of the inputs). With
    `budgets` (threat model → whether each x' is within its norm budget,
    decoybench.metrics.within_budget), also the success and flags per threat model, an x'
    outside the budget counting as the clean x_i submitted instead."""
    points: dict[str, Any] = {}
    for name, detected in _flags(system, x_adv, batch_size).items():
        detector = system.operating_points.get(name)
        outcome = {
            "clean_correct": clean_correct,
            "clean_rejected": clean_rejected[name],
            "adversarial_detected": detected,
        }
        failures = defender_failures(**outcome, adversarial_fooled=fooled)
        within = {
            budget: defender_failures(**outcome, adversarial_fooled=fooled & mask)
            for budget, mask in (budgets or {}).items()
        }
        points[name] = {
            "fpr_target": None if detector is None else _finite(detector.fpr_target),
            "clean_rejection": Rate.of(clean_rejected[name]).as_dict(),
            "detection_of_fooling": Rate.of(detected, fooled).as_dict(),
            "charged_attack_success": Rate.of(failures).as_dict(),
            "failures": failures.astype(int).tolist(),
            "threat_models": {
                budget: {
                    "charged_attack_success": Rate.of(flags).as_dict(),
                    "failures": flags.astype(int).tolist(),
                }
                for budget, flags in within.items()
            },
        }
    return {
        "n": len(fooled),
        "clean_accuracy": Rate.of(clean_correct).as_dict(),
        "fooled": Rate.of(fooled).as_dict(),
        "operating_points": points,
    }


def _finite(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
