"""Forensic evaluation of one adversarial set: detection, recovery and overall success.

Used for every cell of a defense with a forensic analyzer (attractors: F_d and F_r). Each
operating point (a detector calibrated on the clean validation split at a target FPR) gets
the attractors paper's Table I/III/IV measurements; the clean side is the whole test split.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from decoybench.defenses.system import ThresholdDetector
from decoybench.metrics import (
    detection_rate,
    false_positive_rate,
    overall_attack_success_rate,
    recovery_rate,
    reformed_attack_success_rate,
    roc_auc,
)


def batched(function: Callable[[Tensor], Tensor], x: Tensor, batch_size: int) -> np.ndarray:
    """`function` over x in batches of `batch_size`, concatenated as a NumPy array."""
    device_outputs = [
        function(x[start : start + batch_size]).detach().cpu()
        for start in range(0, len(x), batch_size)
    ]
    return torch.cat(device_outputs).numpy() if device_outputs else np.empty(0)


@torch.no_grad()
def forensic_metrics(
    *,
    detectors: Mapping[float, ThresholdDetector],
    recover: Callable[[Tensor], Tensor] | None,
    x_adv: Tensor,
    x_clean_test: Tensor,
    labels: Any,
    successful: Any,
    attempted: Any,
    batch_size: int = 500,
    clean_scores: np.ndarray | None = None,
    reformed_labels: Any = None,
) -> dict[str, Any]:
    """Per operating point: TPR (detection on successful x'), FPR (clean test), AUC (clean test
    vs successful x'), overall ASR (successful and undetected, over attempted) and the
    recovery rate on detected successful x'. Detector scores do not depend on the operating
    point, so they are computed once (by the first detector); a detector whose flags are
    exactly score > `score_threshold` (the baselines') gets its flags from those scores.
    `clean_scores`: the first detector's scores on `x_clean_test` when already known; the
    result's `clean_scores` holds them for the next call. `reformed_labels`: the
    classifier's labels on the reformed x' (MagNet), adding the end-to-end overall ASR."""
    successful = np.asarray(successful, dtype=bool)
    attempted = np.asarray(attempted, dtype=bool)
    labels = np.asarray(labels)
    if not detectors:
        return {"operating_points": []}
    first = next(iter(detectors.values()))
    adversarial_scores = batched(first.score, x_adv, batch_size)
    if clean_scores is None:
        clean_scores = batched(first.score, x_clean_test, batch_size)
    auc = roc_auc(clean_scores, adversarial_scores[successful])
    recovered = None if recover is None else batched(recover, x_adv, batch_size)
    points = []
    for fpr, detector in detectors.items():
        threshold = getattr(detector, "score_threshold", None)
        if threshold is not None:  # flags are score > threshold: reuse the scores above
            detected = adversarial_scores > threshold
            detected_clean = clean_scores > threshold
        else:
            detected = batched(detector.is_adversarial, x_adv, batch_size).astype(bool)
            detected_clean = batched(detector.is_adversarial, x_clean_test, batch_size)
            detected_clean = detected_clean.astype(bool)
        point: dict[str, Any] = {
            "fpr_target": float(fpr),
            "tpr": detection_rate(detected, successful).as_dict(),
            "fpr": false_positive_rate(detected_clean).as_dict(),
            "auc": auc,
            "overall_asr": overall_attack_success_rate(successful, detected, attempted).as_dict(),
        }
        if reformed_labels is not None:
            point["overall_asr_reformed"] = reformed_attack_success_rate(
                successful, detected, reformed_labels, labels, attempted
            ).as_dict()
        if recovered is not None:
            point["recovery_rate"] = recovery_rate(
                recovered, labels, detected & successful
            ).as_dict()
        points.append(point)
    return {
        "operating_points": points,
        "adversarial_score_median": float(np.median(adversarial_scores))
        if len(adversarial_scores)
        else float("nan"),
        "clean_score_median": float(np.median(clean_scores)),
        "clean_scores": clean_scores,
    }
