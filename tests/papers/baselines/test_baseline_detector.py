"""The shared baseline-detector interface: FPR calibration on hand-built scores."""

from __future__ import annotations

import pytest
import torch

from decoybench.papers.baselines.detector import ScoreDetector, threshold_at_fpr


def test_threshold_at_fpr_hand_computed() -> None:
    scores = [0.1, 0.9, 0.3, 0.7, 0.5, 0.2, 0.8, 0.4, 0.6, 1.0]  # N = 10
    # fpr 0.2 -> 2 may be flagged: the 3rd largest is 0.8, halfway to 0.9 -> 0.85.
    assert threshold_at_fpr(scores, 0.2) == pytest.approx(0.85)
    # fpr 0.05 -> 0 allowed: the largest score itself, nothing above it.
    assert threshold_at_fpr(scores, 0.05) == pytest.approx(1.0)
    # Ties: with all scores equal nothing can be flagged.
    assert threshold_at_fpr([0.5] * 10, 0.3) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="fpr must be in"):
        threshold_at_fpr(scores, 1.0)
    with pytest.raises(ValueError, match="at least two"):
        threshold_at_fpr([0.3], 0.1)


class _NormDetector(ScoreDetector):
    name = "norm"

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(start_dim=1).norm(dim=1)


def test_calibrated_detector_meets_its_fpr_on_the_calibration_set() -> None:
    torch.manual_seed(0)
    clean = torch.rand(400, 1, 4, 4)
    detector = _NormDetector()
    points = detector.calibrate(clean, [0.05, 0.005])
    for point in points:
        flagged = int(detector.is_adversarial(clean, point.fpr_target).sum())
        assert flagged == int(point.fpr_target * 400)  # 20 and 2: distinct random scores
        assert flagged / 400 == point.fpr_realized
    assert points[1].threshold >= points[0].threshold  # the stricter point
    assert detector.is_adversarial(clean * 10, 0.05).all()
    with pytest.raises(ValueError, match=r"no operating point at FPR 0\.1"):
        detector.is_adversarial(clean, 0.1)
