"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from decoybench.evaluation.metrics import (
    Rate,
    accuracy,
    attack_success_rate,
    conditional_transfer_rate,
    mean_distortion,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("count", "total", "low", "high"),
    [
        # Hand-computed with z = 1.96: p=0.5, n=10 -> (0.5 + 0.19208 ± 0.30990)/1.38416.
        (5, 10, 0.236593, 0.763407),
        # p=0: upper = (0 + 0.19208 + 0.19208)/1.38416 = 0.277533.
        (0, 10, 0.0, 0.277533),
        (10, 10, 0.722467, 1.0),
        # p=0.9, n=100: sqrt(0.0009 + 0.0000960) = 0.0315600, times z = 0.0618564;
        # (0.9192073 ± 0.0618564)/1.0384146.
        (90, 100, 0.825634, 0.944771),
    ],
)
def test_wilson_interval_hand_computed(count, total, low, high) -> None:
    computed = wilson_interval(count, total)
    assert computed == pytest.approx((low, high), abs=2e-6)


def test_empty_rate_is_nan() -> None:
    rate = Rate(0, 0)
    assert math.isnan(rate.value) and all(math.isnan(v) for v in rate.interval)


def test_attack_success_rate_counts_only_inputs_classified_right() -> None:
    # 6 inputs: the model gets 0, 1, 2, 4 right; the attack fools 1, 3, 4, 5.
    clean_correct = np.array([True, True, True, False, True, False])
    fooled = np.array([False, True, False, True, True, True])
    rate = attack_success_rate(fooled, clean_correct)
    assert (rate.count, rate.total, rate.value) == (2, 4, 0.5)


def test_accuracy_and_tensor_inputs() -> None:
    rate = accuracy(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 4]))
    assert (rate.count, rate.total) == (3, 4)
    assert attack_success_rate(torch.tensor([True, False]), torch.tensor([True, True])).value == 0.5


def test_conditional_transfer_rate() -> None:
    source_fooled = np.array([True, True, True, False, True])
    target_fooled = np.array([True, False, True, True, True])
    both_correct = np.array([True, True, True, True, False])
    # population: indices 0, 1, 2 (source fooled and both right); target fooled on 0 and 2.
    rate = conditional_transfer_rate(target_fooled, source_fooled, both_correct)
    assert (rate.count, rate.total) == (2, 3)


def test_mean_distortion_over_successful_samples_only() -> None:
    values = np.array([0.1, 0.5, 0.3, 9.0])
    assert mean_distortion(values, np.array([True, False, True, False])) == pytest.approx(0.2)
    assert math.isnan(mean_distortion(values, np.zeros(4, dtype=bool)))


def test_rate_rejects_non_boolean_and_mismatched_inputs() -> None:
    with pytest.raises(TypeError, match="boolean"):
        Rate.of(np.array([0, 1]))
    with pytest.raises(ValueError, match="shape mismatch"):
        Rate.of(np.array([True]), np.array([True, False]))
    assert Rate(3, 4).as_dict()["value"] == 0.75


def test_detection_metrics_hand_computed() -> None:
    from decoybench.evaluation.metrics import (
        detection_rate,
        false_positive_rate,
        overall_attack_success_rate,
        recovery_rate,
        roc_auc,
    )

    # 6 attempted inputs; the attack succeeds on 0, 1, 2, 3; the detector fires on 1, 2, 5.
    attempted = np.ones(6, dtype=bool)
    successful = np.array([True, True, True, True, False, False])
    detected = np.array([False, True, True, False, False, True])
    rate = detection_rate(detected, successful)
    assert (rate.count, rate.total) == (2, 4)  # TPR = |{1, 2}| / |{0, 1, 2, 3}|
    # Overall ASR = successful and undetected {0, 3} over all 6 = ASR (4/6) x (1 - 2/4).
    overall = overall_attack_success_rate(successful, detected, attempted)
    assert (overall.count, overall.total) == (2, 6)
    assert overall.value == pytest.approx((4 / 6) * (1 - 2 / 4))
    # Recovery over the detected inputs {1, 2, 5}: recovered labels right on 1 and 5.
    labels = np.array([0, 1, 2, 3, 4, 5])
    recovered = np.array([9, 1, 7, 9, 9, 5])
    recovery = recovery_rate(recovered, labels, detected)
    assert (recovery.count, recovery.total) == (2, 3)
    fpr = false_positive_rate(np.array([False, True, False, False]))
    assert (fpr.count, fpr.total) == (1, 4)
    # AUC by hand: clean {0.1, 0.4, 0.35}, adversarial {0.8, 0.4}: of the 6 pairs the
    # adversarial score is higher in 5, tied in 1 (0.4 vs 0.4): (5 + 0.5) / 6.
    assert roc_auc([0.1, 0.4, 0.35], [0.8, 0.4]) == pytest.approx(5.5 / 6)
    assert math.isnan(roc_auc([], [0.5]))
