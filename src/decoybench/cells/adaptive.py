"""Who wins on each test input against a deployed classifier with its detector.

One definition for every adversarial set scored against an `adaptive` deployment
(`decoybench.defenses.system.adaptive_system`), whether an adaptive attacker crafted it or an
oblivious one: per operating point, the attacker wins on input i when the detector rejects
the clean x_i, when x_i is already misclassified and accepted, or when x'_i is misclassified
and accepted (`decoybench.metrics.defender_failures`). The per-sample flags are kept, so the
leaderboard takes the per-sample worst case over attacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from decoybench.attacks.base import degenerate
from decoybench.defenses.system import DeployedSystem
from decoybench.metrics import Rate, defender_failures
from decoybench.models.training import predict

NO_DETECTOR = "no_detector"


def _batched(function: Callable[[Tensor], Tensor], x: Tensor, batch_size: int) -> np.ndarray:
    with torch.no_grad():
        parts = [
            function(x[start : start + batch_size]).detach().cpu()
            for start in range(0, len(x), batch_size)
        ]
    return torch.cat(parts).numpy() if parts else np.zeros(0, dtype=bool)


def defender_outcome(
    system: DeployedSystem,
    *,
    x_clean: Tensor,
    x_adv: Tensor,
    labels: Tensor,
    targets: Tensor,
    batch_size: int = 250,
) -> dict[str, Any]:
    """Per operating point of `system` (one `no_detector` point where it has none): the
    clean rejection rate, the detection rate of the fooling x', the rejection-charged attack
    success and its per-input failure flags (0/1, in the order of `labels`)."""
    device = next(system.model.parameters()).device
    x_clean, x_adv = x_clean.to(device), x_adv.to(device)
    clean_correct = (predict(system.model, x_clean, batch_size) == labels.cpu()).numpy()
    predicted = predict(system.model, x_adv, batch_size)
    targets = targets.cpu()
    fooled = torch.where(targets >= 0, predicted == targets, predicted != labels.cpu())
    fooled = (fooled & ~degenerate(x_adv).cpu()).numpy()
    points: dict[str, Any] = {}
    detectors = system.operating_points or {NO_DETECTOR: None}
    for name, detector in detectors.items():
        if detector is None:
            rejected = detected = np.zeros(len(labels), dtype=bool)
        else:
            rejected = _batched(detector.is_adversarial, x_clean, batch_size).astype(bool)
            detected = _batched(detector.is_adversarial, x_adv, batch_size).astype(bool)
        failures = defender_failures(
            clean_correct=clean_correct,
            clean_rejected=rejected,
            adversarial_fooled=fooled,
            adversarial_detected=detected,
        )
        points[name] = {
            "fpr_target": None if detector is None else _finite(detector.fpr_target),
            "clean_rejection": Rate.of(rejected).as_dict(),
            "detection_of_fooling": Rate.of(detected, fooled).as_dict(),
            "charged_attack_success": Rate.of(failures).as_dict(),
            "failures": failures.astype(int).tolist(),
        }
    return {
        "n": len(labels),
        "clean_accuracy": Rate.of(clean_correct).as_dict(),
        "fooled": Rate.of(fooled).as_dict(),
        "operating_points": points,
    }


def _finite(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
