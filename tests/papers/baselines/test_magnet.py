"""MagNet baseline: JSD, autoencoders, detector scores, training, FPR-split calibration."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from decoybench.papers.baselines.autoencoders import build_autoencoder, train_autoencoder
from decoybench.papers.baselines.magnet import (
    DivergenceDetector,
    MagNet,
    ReconstructionErrorDetector,
    jensen_shannon_divergence,
)


class _Zeros(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def _classifier(channels: int, size: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * size * size, 10)).eval()


def _smooth_images(n: int, generator: torch.Generator) -> torch.Tensor:
    """Random low-frequency images in [0, 1]: upsampled 7x7 noise through a sigmoid."""
    coarse = torch.randn(n, 1, 7, 7, generator=generator)
    return torch.sigmoid(2 * F.interpolate(coarse, size=(28, 28), mode="bilinear"))


def test_jsd_hand_computed_and_symmetric():
    p = torch.tensor([[1.0, 0.0], [0.3, 0.7], [0.5, 0.5]], dtype=torch.float64)
    q = torch.tensor([[0.0, 1.0], [0.3, 0.7], [1.0, 0.0]], dtype=torch.float64)
    # Row 3: m = [0.75, 0.25]; KL(p‖m) = ½log(0.5/0.75) + ½log(0.5/0.25) = ½log(4/3),
    # KL(q‖m) = 1·log(1/0.75) = log(4/3); JSD = ½(½ + 1)·log(4/3) = ¾·log(4/3).
    expected = torch.tensor([math.log(2.0), 0.0, 0.75 * math.log(4 / 3)], dtype=torch.float64)
    torch.testing.assert_close(jensen_shannon_divergence(p, q), expected)
    torch.testing.assert_close(jensen_shannon_divergence(q, p), expected)
    with pytest.raises(ValueError):
        jensen_shannon_divergence(p, q[:, :1])


@pytest.mark.parametrize(
    ("name", "shape"),
    [("mnist_i", (4, 1, 28, 28)), ("mnist_ii", (4, 1, 28, 28)), ("cifar10", (4, 3, 32, 32))],
)
def test_autoencoders_preserve_shape_and_range(name, shape):
    torch.manual_seed(0)
    autoencoder = build_autoencoder(name, shape[1])
    x = torch.rand(shape)
    out = autoencoder(x)
    assert out.shape == x.shape
    assert out.min() >= 0 and out.max() <= 1
    convs = [m for m in autoencoder.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [*([3] * (len(convs) - 1)), shape[1]]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert len(convs) == (5 if name == "mnist_i" else 3)
    # Odd sizes also round-trip through the pooling / upsampling of mnist_i.
    assert autoencoder(torch.rand(2, shape[1], 15, 9)).shape == (2, shape[1], 15, 9)
    with pytest.raises(ValueError):
        build_autoencoder("nope", 1)


@pytest.mark.parametrize("p", [1, 2])
def test_reconstruction_score_with_zero_autoencoder(p):
    x = torch.rand(6, 1, 5, 5, generator=torch.Generator().manual_seed(1))
    detector = ReconstructionErrorDetector(_Zeros(), p=p, batch_size=4)
    expected = x.abs().pow(p).flatten(1).mean(dim=1).double()
    torch.testing.assert_close(detector.score(x), expected)
    with pytest.raises(ValueError):
        ReconstructionErrorDetector(_Zeros(), p=3)


def test_divergence_zero_for_identity_and_positive_otherwise():
    model = _classifier(1, 8)
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    identity = DivergenceDetector(model, nn.Identity(), temperature=10.0)
    torch.testing.assert_close(identity.score(x), torch.zeros(5, dtype=torch.float64))
    scores = DivergenceDetector(model, _Zeros(), temperature=1.0).score(x)
    assert (scores > 0).all() and (scores <= math.log(2.0)).all()


def test_training_reduces_loss_and_is_deterministic():
    images = _smooth_images(300, torch.Generator().manual_seed(3))

    def run() -> tuple[list[float], nn.Module]:
        torch.manual_seed(0)
        autoencoder = build_autoencoder("mnist_ii", 1)
        losses = train_autoencoder(
            autoencoder,
            images,
            epochs=5,
            batch_size=32,
            learning_rate=1e-2,
            noise=0.1,
            generator=torch.Generator().manual_seed(4),
        )
        return losses, autoencoder

    with torch.no_grad():
        torch.manual_seed(0)
        before = F.mse_loss(build_autoencoder("mnist_ii", 1)(images), images).item()
    losses, autoencoder = run()
    with torch.no_grad():
        after = F.mse_loss(autoencoder(images), images).item()
    assert after < 0.5 * before
    assert losses[-1] < losses[0]
    losses_again, again = run()
    assert losses_again == losses
    for a, b in zip(autoencoder.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)


def test_magnet_splits_fpr_and_bounds_combined_flags():
    generator = torch.Generator().manual_seed(5)
    x_val = torch.rand(400, 1, 8, 8, generator=generator)
    model = _classifier(1, 8)
    torch.manual_seed(1)
    autoencoder = build_autoencoder("mnist_i", 1).eval()
    detectors = [
        ReconstructionErrorDetector(autoencoder, p=2),
        ReconstructionErrorDetector(_Zeros(), p=1),
        DivergenceDetector(model, autoencoder, temperature=10.0),
    ]
    magnet = MagNet(detectors, autoencoder, model)
    points = magnet.calibrate(x_val, [0.05, 0.005])
    for point, fpr in zip(points, [0.05, 0.005], strict=True):
        assert point.fpr_target == fpr
        assert [p.fpr_target for p in point.detector_points] == pytest.approx([fpr / 3] * 3)
        flags = magnet.is_adversarial(x_val, fpr)
        assert flags.dtype == torch.bool and flags.shape == (400,)
        assert int(flags.sum()) <= math.floor(fpr * 400)
        assert point.fpr_realized == int(flags.sum()) / 400
        # The same as any detector flagging at its own calibrated threshold.
        union = torch.zeros(400, dtype=torch.bool)
        for detector in detectors:
            union |= detector.is_adversarial(x_val, fpr / 3)
        assert torch.equal(flags, union)
    with pytest.raises(ValueError, match="no operating point"):
        magnet.is_adversarial(x_val, 0.1)


def test_magnet_reform_and_predict_shapes():
    model = _classifier(3, 32)
    torch.manual_seed(2)
    reformer = build_autoencoder("cifar10", 3)
    magnet = MagNet([ReconstructionErrorDetector(reformer, p=1)], reformer, model, batch_size=3)
    x = torch.rand(7, 3, 32, 32)
    reformed = magnet.reform(x)
    assert reformed.shape == x.shape
    with torch.no_grad():
        torch.testing.assert_close(reformed, reformer(x))
        expected = model(reformer(x)).argmax(dim=1)
    labels = magnet.predict(x)
    assert labels.shape == (7,) and labels.dtype == torch.long
    assert torch.equal(labels, expected)
    assert magnet.classifier()(x).shape == (7, 10)
