"""Feature Squeezing: squeezers against hand-computed values, ART and SciPy; the joint score on
a hand-built linear model; calibration inherited from ScoreDetector."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import median_filter
from torch import nn

from decoybench.papers.baselines.squeeze import (
    PAPER_SQUEEZERS,
    FeatureSqueezingDetector,
    bit_depth_reduction,
    make_squeezer,
    median_smoothing,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def test_bit_depth_hand_computed() -> None:
    x = torch.tensor([0.0, 0.49, 0.51, 1.0])
    assert bit_depth_reduction(x, 1).tolist() == [0.0, 0.0, 1.0, 1.0]
    # 3 bits: levels k/7; 0.2*7 = 1.4 -> 1, 0.5*7 = 3.5 -> 4 (half to even), 0.93*7 = 6.51 -> 7.
    x = torch.tensor([0.2, 0.5, 0.93, 0.64], dtype=torch.float64)
    expected = torch.tensor([1 / 7, 4 / 7, 1.0, 4 / 7], dtype=torch.float64)  # 0.64*7 = 4.48
    torch.testing.assert_close(bit_depth_reduction(x, 3), expected, rtol=0, atol=1e-15)
    # 8 bits leaves 8-bit images unchanged.
    levels = torch.arange(256, dtype=torch.float32) / 255
    assert torch.equal(bit_depth_reduction(levels, 8), levels)


@pytest.mark.parametrize("bits", [1, 3, 4, 5, 8])
def test_bit_depth_equals_art(bits: int) -> None:
    from art.defences.preprocessor import FeatureSqueezing

    squeeze = FeatureSqueezing(clip_values=(0.0, 1.0), bit_depth=bits)
    x = torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(bits), dtype=torch.float64)
    art_out, _ = squeeze(x.numpy())
    np.testing.assert_array_equal(bit_depth_reduction(x, bits).numpy(), art_out)
    # ART computes in float64 (its clip_values are a float64 array); in float32 the torch
    # squeezer gives the same levels, rounded to float32.
    art_out32, _ = squeeze(x.float().numpy())
    np.testing.assert_array_equal(
        bit_depth_reduction(x.float(), bits).numpy(), art_out32.astype(np.float32)
    )


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_median_equals_scipy(size: int) -> None:
    x = torch.rand(2, 3, 7, 7, generator=torch.Generator().manual_seed(size))
    expected = median_filter(x.numpy(), size=(1, 1, size, size), mode="reflect")
    np.testing.assert_array_equal(median_smoothing(x, size).numpy(), expected)


def test_median_equals_scipy_non_square_and_equals_art() -> None:
    from art.defences.preprocessor import SpatialSmoothing

    x = torch.rand(3, 1, 5, 9, generator=torch.Generator().manual_seed(7))
    expected = median_filter(x.numpy(), size=(1, 1, 2, 2), mode="reflect")
    np.testing.assert_array_equal(median_smoothing(x, 2).numpy(), expected)
    art_out, _ = SpatialSmoothing(window_size=2, channels_first=True, clip_values=(0.0, 1.0))(
        x.numpy()
    )
    np.testing.assert_array_equal(median_smoothing(x, 2).numpy(), art_out)


def test_median_window_larger_than_image_equals_scipy() -> None:
    x = torch.rand(2, 2, 3, 4, generator=torch.Generator().manual_seed(3))
    expected = median_filter(x.numpy(), size=(1, 1, 8, 8), mode="reflect")
    np.testing.assert_array_equal(median_smoothing(x, 8).numpy(), expected)


def test_median_2x2_hand_computed() -> None:
    # Output (i, j) is the upper median of rows {i-1, i} x cols {j-1, j}, the edge repeated.
    x = torch.tensor([[[[0.2, 0.6], [0.3, 0.7]]]])
    expected = torch.tensor([[[[0.2, 0.6], [0.3, 0.6]]]])
    assert torch.equal(median_smoothing(x, 2), expected)


def _sum_model() -> nn.Module:
    """Logits (sum of the 4 pixels, 0) for 1x2x2 inputs: softmax = (σ(sum), 1 - σ(sum))."""
    linear = nn.Linear(4, 2).double()
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]))
        linear.bias.zero_()
    return nn.Sequential(nn.Flatten(), linear)


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


def test_score_hand_computed() -> None:
    x = torch.tensor([[[[0.2, 0.6], [0.3, 0.7]]]])  # sum 1.8
    # 1 bit -> [0, 1; 0, 1], sum 2.0; median 2x2 -> [0.2, 0.6; 0.3, 0.6], sum 1.7.
    # L1 between (σ(a), 1-σ(a)) and (σ(b), 1-σ(b)) is 2|σ(a) - σ(b)|.
    bit_l1 = 2 * abs(_sigmoid(1.8) - _sigmoid(2.0))
    median_l1 = 2 * abs(_sigmoid(1.8) - _sigmoid(1.7))
    assert bit_l1 > median_l1
    model = _sum_model()
    cases = [
        ([("bit_depth", {"bits": 1})], bit_l1),
        ([("median", {"size": 2})], median_l1),
        (PAPER_SQUEEZERS["mnist"], bit_l1),
        ([("median", {"size": 2}), ("bit_depth", {"bits": 8})], median_l1),
    ]
    for squeezers, expected in cases:
        score = FeatureSqueezingDetector(model, squeezers).score(x)
        assert score.shape == (1,)
        assert score.dtype == torch.float64
        assert score.item() == pytest.approx(expected, rel=1e-6)


def _conv_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 10),
    )


def test_input_unchanged_by_every_squeezer_scores_zero() -> None:
    # Constant channels of 0 and 1: fixed by bit-depth reduction and by median smoothing.
    x = torch.zeros(2, 3, 8, 8)
    x[0, 1] = 1.0
    x[1, 0] = 1.0
    x[1, 2] = 1.0
    squeezers = [*PAPER_SQUEEZERS["cifar10"], ("median", {"size": 3})]
    score = FeatureSqueezingDetector(_conv_model(), squeezers).score(x)
    assert torch.equal(score, torch.zeros(2, dtype=torch.float64))


def test_batches_do_not_change_scores_and_model_is_eval() -> None:
    model = nn.Sequential(_conv_model(), nn.Dropout(0.5)).train()
    x = torch.rand(23, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    full = FeatureSqueezingDetector(model, PAPER_SQUEEZERS["cifar10"]).score(x)
    assert not model.training
    batched = FeatureSqueezingDetector(model, PAPER_SQUEEZERS["cifar10"], batch_size=5).score(x)
    torch.testing.assert_close(full, batched)
    assert ((full >= 0) & (full <= 2)).all()


def test_calibrate_and_is_adversarial() -> None:
    detector = FeatureSqueezingDetector(_conv_model(), PAPER_SQUEEZERS["mnist"])
    assert detector.name == "feature_squeezing"
    clean = torch.rand(200, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    points = detector.calibrate(clean, [0.05, 0.005])
    assert [int(detector.is_adversarial(clean, p.fpr_target).sum()) for p in points] == [10, 1]
    assert [p.fpr_realized for p in points] == [0.05, 0.005]
    with pytest.raises(ValueError, match=r"no operating point at FPR 0\.1"):
        detector.is_adversarial(clean, 0.1)


def test_bad_squeezers_raise() -> None:
    model = _sum_model()
    bad = [
        ([("jpeg", {"quality": 70})], "unknown squeezer 'jpeg'"),
        ([("bit_depth", {"bits": 0})], "bits must be"),
        ([("bit_depth", {"bits": 9})], "bits must be"),
        ([("bit_depth", {"bits": 2.0})], "bits must be"),
        ([("median", {"size": 0})], "size must be"),
        ([("median", {"width": 2})], r"'median'.*unknown: \['width'\], missing: \['size'\]"),
        ([], "at least one squeezer"),
    ]
    for squeezers, message in bad:
        with pytest.raises(ValueError, match=message):
            FeatureSqueezingDetector(model, squeezers)
    with pytest.raises(ValueError, match="batch_size"):
        FeatureSqueezingDetector(model, PAPER_SQUEEZERS["mnist"], batch_size=0)
    with pytest.raises(ValueError, match="bits must be"):
        bit_depth_reduction(torch.zeros(1), 9)
    with pytest.raises(ValueError, match="size must be"):
        median_smoothing(torch.zeros(1, 1, 2, 2), -1)
    with pytest.raises(ValueError, match="NCHW"):
        median_smoothing(torch.zeros(2, 2), 2)
    assert torch.equal(
        make_squeezer("median", {"size": 2})(torch.ones(1, 1, 3, 3)), torch.ones(1, 1, 3, 3)
    )
