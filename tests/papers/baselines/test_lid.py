"""LID baseline (Ma et al. 2018): the MLE estimator, per-layer minibatch features, the
logistic-regression detector and its calibration, on small synthetic data (CPU)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from decoybench.models.architectures import Classifier
from decoybench.papers.baselines.lid import (
    PAPER_SETTINGS,
    LIDDetector,
    gaussian_noise_like,
    lid_features,
    lid_layer_names,
    lid_mle,
)

pytestmark = pytest.mark.usefixtures("single_thread")


class _TinyNet(Classifier):
    name = "tiny_lid_net"

    def __init__(self) -> None:
        super().__init__(in_channels=1, image_size=8, num_classes=3)
        self.feature_dim = 16
        self.trunk = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(4 * 4 * 4, 16),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(16, 3)


def _tiny_model() -> _TinyNet:
    torch.manual_seed(0)
    return _TinyNet().eval()


def _on_manifold(n: int, generator: torch.Generator) -> torch.Tensor:
    """Clean toy images: a 2-d family 0.5 + 0.2 (a u + b v) of 1x8x8 patterns."""
    u = torch.linspace(-1, 1, 64).reshape(1, 8, 8)
    v = torch.cos(torch.arange(64.0) / 3.0).reshape(1, 8, 8)
    a, b = (torch.rand(2, n, 1, 1, 1, generator=generator) * 2 - 1).unbind(0)
    return (0.5 + 0.2 * (a * u + b * v)).clamp(0, 1)


def _embedded_cube(d: int, generator: torch.Generator, n: int = 2000) -> torch.Tensor:
    basis, _ = torch.linalg.qr(torch.randn(50, d, generator=generator, dtype=torch.float64))
    return torch.rand(n, d, generator=generator, dtype=torch.float64) @ basis.T


def test_lid_mle_recovers_the_dimension_of_an_embedded_cube() -> None:
    generator = torch.Generator().manual_seed(0)
    means = {}
    for d in (2, 8):
        points = _embedded_cube(d, generator)
        lid = lid_mle(points[:300], points, k=20, exclude_self=True)
        assert lid.shape == (300,)
        assert torch.isfinite(lid).all()
        means[d] = float(lid.mean())
        assert 0.75 * d <= means[d] <= 1.25 * d, means
    assert means[8] > 2 * means[2]


def test_lid_mle_hand_computed() -> None:
    # Neighbour distances 1, 2, 4 and k = 3:
    # (1/3) [log(1/4) + log(2/4) + log(4/4)] = (1/3)(-2 log 2 - log 2 + 0) = -log 2,
    # so LID = -1 / (-log 2) = 1 / log 2 ≈ 1.4427.
    query = torch.zeros(1, 2)
    reference = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-4.0, 0.0], [10.0, 10.0]])
    lid = lid_mle(query, reference, k=3, exclude_self=False)
    assert lid.dtype == torch.float64
    assert float(lid[0]) == pytest.approx(1.0 / math.log(2.0))


def test_exclude_self_skips_the_self_distance_and_duplicates_are_skipped() -> None:
    generator = torch.Generator().manual_seed(1)
    points = torch.randn(30, 5, generator=generator, dtype=torch.float64)
    with_self = lid_mle(points, points, k=5, exclude_self=True)
    for i in (0, 7, 29):
        others = torch.cat([points[:i], points[i + 1 :]])
        distances = (others - points[i]).norm(dim=1).sort().values[:5]
        expected = -1.0 / torch.log(distances / distances[-1]).mean()
        assert float(with_self[i]) == pytest.approx(float(expected))
    # exclude_self masks reference[i] for query[i] even when it is not at distance 0 (the
    # clean source of a perturbed query): the same as leaving that point out.
    shifted = points + 0.01
    masked = lid_mle(shifted[:1], points, k=5, exclude_self=True)
    assert float(masked[0]) == pytest.approx(float(lid_mle(shifted[:1], points[1:], k=5)[0]))
    # Zero distances (a duplicate of the query in the reference) are skipped.
    duplicated = torch.cat([points[:1], points])  # query at distance 0 twice
    assert float(lid_mle(points[:1], duplicated, k=5)[0]) == pytest.approx(float(with_self[0]))
    # Fewer than k positive distances: the reference collapses onto the query -> LID 0.
    collapsed = lid_mle(torch.zeros(1, 5), torch.zeros(10, 5), k=3)
    assert float(collapsed[0]) == 0.0


def test_lid_mle_rejects_bad_k() -> None:
    points = torch.randn(10, 3)
    for k in (0, -1):
        with pytest.raises(ValueError, match="k"):
            lid_mle(points, points, k=k)
    with pytest.raises(ValueError, match="k=10"):
        lid_mle(points, points, k=10, exclude_self=True)  # only 9 others
    with pytest.raises(ValueError, match="k=11"):
        lid_mle(points, points, k=11)


def test_lid_features_shape_and_layers() -> None:
    model = _tiny_model()
    generator = torch.Generator().manual_seed(2)
    batch = torch.rand(40, 1, 8, 8, generator=generator)
    names = lid_layer_names(model)
    # ReLU, MaxPool, Linear, ReLU of the trunk, then the logits.
    assert names == [
        "trunk.1:ReLU",
        "trunk.2:MaxPool2d",
        "trunk.4:Linear",
        "trunk.5:ReLU",
        "logits",
    ]
    features = lid_features(model, batch, batch, k=10, layers="default")
    assert features.shape == (40, len(names))
    assert torch.isfinite(features).all() and (features > 0).all()
    all_layers = lid_features(model, batch, batch, k=10, layers="all")
    assert all_layers.shape == (40, len(model.trunk) + 1)
    # The Linear output is taken before the in-place ReLU that follows it.
    assert not torch.allclose(features[:, 2], features[:, 3])
    noisy = gaussian_noise_like(batch, generator, 0.5)
    assert lid_features(model, noisy, batch, k=10).shape == (40, len(names))
    assert model.training is False


def test_gaussian_noise_like_matches_the_perturbation_norm() -> None:
    generator = torch.Generator().manual_seed(3)
    x = torch.full((6, 1, 8, 8), 0.5)
    x_adv = x + 0.01 * torch.arange(1.0, 7.0).reshape(6, 1, 1, 1)
    norms = (x_adv - x).flatten(1).norm(dim=1)
    noisy = gaussian_noise_like(x, generator, norms)
    assert (noisy - x).flatten(1).norm(dim=1) == pytest.approx(norms.tolist(), rel=1e-5)
    big = gaussian_noise_like(x, generator, 100.0)
    assert big.min() >= 0.0 and big.max() <= 1.0
    with pytest.raises(ValueError, match="scale"):
        gaussian_noise_like(x, generator, torch.ones(3))


def test_detector_separates_off_manifold_inputs_and_calibrates() -> None:
    model = _tiny_model()
    generator = torch.Generator().manual_seed(4)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        clean = _on_manifold(n, generator)
        noisy = gaussian_noise_like(clean, generator, 0.05)
        adv = gaussian_noise_like(clean, generator, 3.0)  # far off the 2-d family
        return clean, noisy, adv

    clean, noisy, adv = split(300)
    reference = _on_manifold(50, generator)
    detector = LIDDetector(model, k=10, batch_size=50).fit(clean, noisy, adv, reference)
    assert detector.name == "lid"
    assert detector.reference is not None and detector.reference.shape[0] == 50

    test_clean, _, test_adv = split(100)
    clean_scores, adv_scores = detector.score(test_clean), detector.score(test_adv)
    assert clean_scores.shape == (100,) and clean_scores.dtype == torch.float64
    assert ((clean_scores >= 0) & (clean_scores <= 1)).all()
    assert float(adv_scores.mean()) > float(clean_scores.mean()) + 0.5

    val = _on_manifold(200, generator)
    points = detector.calibrate(val, [0.05])
    assert points[0].fpr_realized <= 0.05
    flagged = detector.is_adversarial(test_adv, 0.05)
    assert flagged.dtype == torch.bool and float(flagged.float().mean()) > 0.8
    # An explicit reference overrides the stored one.
    assert detector.score(test_adv[:5], reference).shape == (5,)


def test_detector_rejects_bad_k_and_unfitted_use() -> None:
    model = _tiny_model()
    for k in (0, -3):
        with pytest.raises(ValueError, match="k"):
            LIDDetector(model, k=k, batch_size=50)
    for k in (50, 60):
        with pytest.raises(ValueError, match=f"k={k}"):
            LIDDetector(model, k=k, batch_size=50)
    with pytest.raises(ValueError, match="fit"):
        LIDDetector(model, k=5, batch_size=20).score(torch.rand(3, 1, 8, 8))
    assert PAPER_SETTINGS["mnist"] == {"k": 20, "batch_size": 100}
    assert PAPER_SETTINGS["cifar10"]["k"] == 20
