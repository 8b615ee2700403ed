"""Forensic evaluation of an adversarial set on hand-built detector scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor

from decoybench.cells.forensic import forensic_metrics


class ThresholdDetector:
    """Score = the input's first value; adversarial iff score > threshold."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def score(self, x: Tensor) -> Tensor:
        return x[:, 0]

    def is_adversarial(self, x: Tensor) -> Tensor:
        return self.score(x) > self.threshold


def test_forensic_metrics_match_hand_counts() -> None:
    # Six adversarial inputs, scores 0.1..0.6; four clean test inputs, scores 0.05..0.35.
    x_adv = torch.tensor([[0.1], [0.2], [0.3], [0.4], [0.5], [0.6]])
    x_clean = torch.tensor([[0.05], [0.15], [0.25], [0.35]])
    labels = np.array([0, 1, 2, 3, 4, 5])
    attempted = np.array([True, True, True, True, True, False])  # the last was misclassified
    successful = np.array([False, True, False, True, True, False])  # scores 0.2, 0.4, 0.5
    recovered = torch.tensor([9, 1, 9, 9, 4, 9])  # right for inputs 1 and 4

    metrics = forensic_metrics(
        detectors={0.25: ThresholdDetector(0.3), 0.5: ThresholdDetector(0.1)},
        recover=lambda x: recovered[(x[:, 0] * 10).round().long() - 1],
        x_adv=x_adv,
        x_clean_test=x_clean,
        labels=labels,
        successful=successful,
        attempted=attempted,
        batch_size=4,  # two batches for the adversarial set
    )
    strict, loose = metrics["operating_points"]
    # Threshold 0.3: successful detected = {0.4, 0.5} -> TPR 2/3; clean detected {0.35} -> 1/4.
    assert (strict["tpr"]["count"], strict["tpr"]["total"]) == (2, 3)
    assert (strict["fpr"]["count"], strict["fpr"]["total"]) == (1, 4)
    # Overall ASR: successful and undetected (only 0.2) over the 5 attempted.
    assert (strict["overall_asr"]["count"], strict["overall_asr"]["total"]) == (1, 5)
    # Recovery on detected successful {input 3 -> 9 wrong, input 4 -> 4 right}: 1/2.
    assert (strict["recovery_rate"]["count"], strict["recovery_rate"]["total"]) == (1, 2)
    # Threshold 0.1: all three successful detected, three of four clean flagged.
    assert (loose["tpr"]["count"], loose["tpr"]["total"]) == (3, 3)
    assert (loose["fpr"]["count"], loose["fpr"]["total"]) == (3, 4)
    assert loose["overall_asr"]["count"] == 0
    assert (loose["recovery_rate"]["count"], loose["recovery_rate"]["total"]) == (2, 3)
    # AUC, clean {0.05, 0.15, 0.25, 0.35} vs successful {0.2, 0.4, 0.5}: of 12 pairs the
    # adversarial score wins 2 + 4 + 4 = 10.
    assert strict["auc"] == pytest.approx(10 / 12) and loose["auc"] == strict["auc"]
    assert [strict["fpr_target"], loose["fpr_target"]] == [0.25, 0.5]
    assert metrics["clean_score_median"] == pytest.approx(0.2)


def test_forensic_metrics_without_successes_or_recovery() -> None:
    metrics = forensic_metrics(
        detectors={0.05: ThresholdDetector(0.5)},
        recover=None,
        x_adv=torch.tensor([[0.9], [0.1]]),
        x_clean_test=torch.tensor([[0.2], [0.7]]),
        labels=np.array([0, 1]),
        successful=np.array([False, False]),
        attempted=np.array([True, True]),
    )
    (point,) = metrics["operating_points"]
    assert point["tpr"]["total"] == 0 and math.isnan(point["tpr"]["value"])
    assert math.isnan(point["auc"]) and "recovery_rate" not in point
    assert point["overall_asr"]["count"] == 0 and point["overall_asr"]["total"] == 2
