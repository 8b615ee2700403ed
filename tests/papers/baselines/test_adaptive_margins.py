"""Adaptive attacks on the baseline detectors (issue 16): each detector's differentiable score
equals its `score`, and each operating point's `margin(x)` (BaselineDefense.detectors) is
> 0 exactly where it flags, in x's dtype, with a finite nonzero gradient; feature squeezing's
gradient passes straight through its squeezers (BPDA). Tiny untrained-or-briefly-trained
models on synthetic 8x8 / 12x12 images, CPU."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from decoybench.defenses.system import adaptive_system
from decoybench.models.architectures import Classifier
from decoybench.papers.baselines.autoencoders import build_autoencoder
from decoybench.papers.baselines.checkpoint import BaselineDefense, freeze_lid
from decoybench.papers.baselines.detector import ScoreDetector
from decoybench.papers.baselines.lid import LIDDetector, gaussian_noise_like
from decoybench.papers.baselines.magnet import (
    DivergenceDetector,
    MagNet,
    ReconstructionErrorDetector,
)
from decoybench.papers.baselines.squeeze import (
    PAPER_SQUEEZERS,
    FeatureSqueezingDetector,
    bit_depth_reduction,
    make_squeezer,
)
from decoybench.papers.baselines.trapdoor import (
    TrapdoorDetector,
    build_signatures,
    inject,
    make_triggers,
    train_trapdoored,
)

pytestmark = pytest.mark.usefixtures("single_thread")

FPRS = (0.05, 0.2)
CLASSES = 3


class _Net(Classifier):
    """Conv-ReLU-MaxPool-Flatten-Linear-ReLU trunk, Linear head, on 1 x size x size images."""

    name = "tiny_margin_net"

    def __init__(self, size: int) -> None:
        super().__init__(in_channels=1, image_size=size, num_classes=CLASSES)
        self.feature_dim = 16
        self.trunk = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(4 * (size // 2) ** 2, 16),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(16, CLASSES)


def _net(size: int = 8, seed: int = 0) -> _Net:
    torch.manual_seed(seed)
    return _Net(size).eval()


def _images(n: int, seed: int, size: int = 8) -> Tensor:
    """Clean toy images: a 2-d family 0.5 + 0.2 (a u + b v) of 1 x size x size patterns."""
    generator = torch.Generator().manual_seed(seed)
    u = torch.linspace(-1, 1, size * size).reshape(1, size, size)
    v = torch.cos(torch.arange(size * size, dtype=torch.float32) / 3.0).reshape(1, size, size)
    a, b = (torch.rand(2, n, 1, 1, 1, generator=generator) * 2 - 1).unbind(0)
    return (0.5 + 0.2 * (a * u + b * v)).clamp(0, 1)


def _inputs(clean: Tensor, seed: int) -> dict[str, Tensor]:
    """Clean (the calibration set: flags at the calibrated rates), noisy and strongly
    perturbed versions of the same images."""
    generator = torch.Generator().manual_seed(seed)
    return {
        "clean": clean,
        "noisy": gaussian_noise_like(clean, generator, 0.3),
        "perturbed": gaussian_noise_like(clean, generator, 3.0),
    }


def _check_operating_points(defense: BaselineDefense, inputs: dict[str, Tensor]) -> None:
    """(a) margin > 0 ⇔ is_adversarial, margin in x's dtype, shape (N,), graph kept, on every
    input set and operating point; both outcomes occur. (c) the gradient is finite, nonzero."""
    detectors = defense.detectors()
    assert sorted(detectors) == sorted(FPRS)
    outcomes = set()
    for fpr, detector in detectors.items():
        assert detector.fpr_target == fpr
        for name, x in inputs.items():
            x = x.clone().requires_grad_(True)
            margin = detector.margin(x)
            assert margin.shape == (len(x),) and margin.dtype == x.dtype, name
            assert margin.device == x.device and margin.requires_grad, name
            flags = detector.is_adversarial(x.detach())
            assert torch.equal(margin.detach().cpu() > 0, flags), (fpr, name)
            outcomes |= set(flags.tolist())
            (gradient,) = torch.autograd.grad(margin.sum(), x)
            assert torch.isfinite(gradient).all(), (fpr, name)
            assert gradient.abs().sum() > 0, (fpr, name)
    assert outcomes == {False, True}


def _check_scores(detector: ScoreDetector | MagNet, inputs: dict[str, Tensor]) -> None:
    """(b) the differentiable score equals `score` (relative 1e-5), float64 on x's device."""
    for name, x in inputs.items():
        expected = detector.score(x)
        actual = detector.differentiable_score(x)
        assert actual.dtype == torch.float64 and actual.device == x.device, name
        torch.testing.assert_close(actual.detach().cpu(), expected, rtol=1e-5, atol=1e-12)


# LID ------------------------------------------------------------------------------------


def _lid(dtype: torch.dtype, frozen: bool) -> tuple[BaselineDefense, dict[str, Tensor]]:
    model = _net().to(dtype)
    generator = torch.Generator().manual_seed(1)
    clean = _images(150, seed=2).to(dtype)
    noisy = gaussian_noise_like(clean, generator, 0.05)
    adv = gaussian_noise_like(clean, generator, 3.0)
    reference = _images(40, seed=3).to(dtype)
    detector = LIDDetector(model, k=10, batch_size=40).fit(clean, noisy, adv, reference)
    if frozen:
        freeze_lid(detector)  # the form load_baseline rebuilds
    val = _images(60, seed=4).to(dtype)
    detector.calibrate(val, FPRS)
    return BaselineDefense("lid", model, detector, {}), _inputs(val, seed=5)


@pytest.mark.parametrize(
    ("dtype", "frozen"), [(torch.float32, False), (torch.float64, True)], ids=["f32", "f64"]
)
def test_lid_margin(dtype: torch.dtype, frozen: bool) -> None:
    defense, inputs = _lid(dtype, frozen)
    _check_scores(defense.detector, inputs)
    _check_operating_points(defense, inputs)
    if dtype == torch.float64:
        # The gradient is the derivative of the score (neighbours fixed), by central
        # differences along a random direction.
        x = inputs["noisy"][:8].clone().requires_grad_(True)
        direction = torch.randn(x.shape, generator=torch.Generator().manual_seed(6), dtype=dtype)
        (gradient,) = torch.autograd.grad(defense.detector.differentiable_score(x).sum(), x)
        step = 1e-6
        with torch.no_grad():
            ahead = defense.detector.score(x + step * direction).sum()
            behind = defense.detector.score(x - step * direction).sum()
        numeric = float(ahead - behind) / (2 * step)
        assert float((gradient * direction).sum()) == pytest.approx(numeric, rel=1e-4, abs=1e-8)


# Feature squeezing ----------------------------------------------------------------------


def _fs_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, CLASSES)
    ).eval()


def test_feature_squeezing_margin() -> None:
    model = _fs_net()
    detector = FeatureSqueezingDetector(model, PAPER_SQUEEZERS["mnist"], batch_size=25)
    val = torch.rand(60, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    detector.calibrate(val, FPRS)
    defense = BaselineDefense("feature_squeezing", model, detector, {})
    inputs = _inputs(val, seed=8)
    _check_scores(detector, inputs)
    _check_operating_points(defense, inputs)


@pytest.mark.parametrize(
    "squeezer", [("bit_depth", {"bits": 1}), ("median", {"size": 2})], ids=["bits", "median"]
)
def test_feature_squeezing_gradient_is_straight_through(squeezer: tuple[str, dict]) -> None:
    """(d) d score / dx = ∂/∂x + ∂/∂y of ‖softmax(f(x)) − softmax(f(y))‖₁ at y = squeeze(x):
    the squeezer's backward pass is the identity; its true gradient (bit depth) is zero."""
    model = _fs_net()
    detector = FeatureSqueezingDetector(model, [squeezer])
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(9), requires_grad=True)
    (gradient,) = torch.autograd.grad(detector.differentiable_score(x).sum(), x)

    def distance(a: Tensor, b: Tensor) -> Tensor:
        return (torch.softmax(model(a), dim=1) - torch.softmax(model(b), dim=1)).abs().sum()

    plain = x.detach().clone().requires_grad_(True)
    squeezed = make_squeezer(*squeezer)(x.detach()).requires_grad_(True)
    through_plain, through_squeezed = torch.autograd.grad(
        distance(plain, squeezed), [plain, squeezed]
    )
    assert through_squeezed.abs().amin(dim=(1, 2, 3)).gt(0).any()  # the squeezed branch counts
    torch.testing.assert_close(gradient, through_plain + through_squeezed)
    if squeezer[0] == "bit_depth":
        # Without the surrogate the squeezed branch contributes nothing.
        (true,) = torch.autograd.grad(distance(x, bit_depth_reduction(x, 1)), x)
        torch.testing.assert_close(true, through_plain)
        assert (gradient - true).abs().sum() > 0.1 * true.abs().sum()


# MagNet ---------------------------------------------------------------------------------


def _magnet() -> tuple[BaselineDefense, dict[str, Tensor]]:
    torch.manual_seed(10)
    first, second = build_autoencoder("mnist_i", 1).eval(), build_autoencoder("mnist_ii", 1).eval()
    model = _fs_net()
    detectors = [
        ReconstructionErrorDetector(first, p=2),
        ReconstructionErrorDetector(second, p=1, batch_size=25),
        DivergenceDetector(model, second, temperature=10.0),
    ]
    magnet = MagNet(detectors, first, model)
    val = _images(60, seed=11)
    magnet.calibrate(val, FPRS)
    return BaselineDefense("magnet", model, magnet, {}), _inputs(val, seed=12)


def test_magnet_margin_is_the_scaled_excess_of_the_strictest_detector() -> None:
    defense, inputs = _magnet()
    magnet = defense.detector
    assert isinstance(magnet, MagNet)
    _check_scores(magnet, inputs)
    for detector in magnet.detectors:
        _check_scores(detector, inputs)
    _check_operating_points(defense, inputs)
    x = inputs["noisy"]
    for fpr in FPRS:
        point = magnet.operating_points[fpr]
        expected = torch.stack(
            [
                (detector.score(x) - share.threshold) / scale
                for detector, share, scale in zip(
                    magnet.detectors, point.detector_points, magnet.score_scale, strict=True
                )
            ]
        ).amax(dim=0)
        torch.testing.assert_close(defense.detector_at(fpr).margin(x).double(), expected)


# Trapdoor -------------------------------------------------------------------------------


def _trapdoor(partial: bool, layer: bool) -> tuple[BaselineDefense, dict[str, Tensor]]:
    model = _net(size=12, seed=13)
    triggers = make_triggers(
        CLASSES, (1, 12, 12), mask_size=4, generator=torch.Generator().manual_seed(14)
    )
    templates = torch.rand(CLASSES, 1, 12, 12, generator=torch.Generator().manual_seed(15))
    generator = torch.Generator().manual_seed(16)
    labels = torch.randint(0, CLASSES, (300,), generator=generator)
    images = 0.1 * templates[labels] + 0.2 * torch.rand(300, 1, 12, 12, generator=generator)
    train_trapdoored(
        model,
        images,
        labels,
        triggers,
        epochs=3,
        batch_size=32,
        learning_rate=1e-2,
        injection_ratio=0.25,
        mask_ratio=1.0,
        generator=torch.Generator().manual_seed(17),
    )
    model.eval()
    hooked = model.trunk[2] if layer else None
    signatures = build_signatures(
        model, images, triggers, mask_ratio=1.0, per_label=30, layer=hooked
    )
    if partial:
        signatures.pop(CLASSES - 1)
    detector = TrapdoorDetector(model, signatures, layer=hooked, batch_size=25)
    val = images[:60]
    detector.calibrate(val, FPRS)
    inputs = _inputs(val, seed=18)
    inputs["triggered"] = torch.cat([inject(val[:20], trigger, 1.0) for trigger in triggers])
    return BaselineDefense("trapdoor", model, detector, {}), inputs


@pytest.mark.parametrize(
    ("partial", "layer"), [(False, False), (True, True)], ids=["features", "partial_layer"]
)
def test_trapdoor_margin(partial: bool, layer: bool) -> None:
    defense, inputs = _trapdoor(partial, layer)
    _check_scores(defense.detector, inputs)
    _check_operating_points(defense, inputs)
    scores = torch.cat([defense.score(x) for x in inputs.values()])
    assert (scores == -1.0).any() == partial  # a label without a signature: the constant −1


# Integration ----------------------------------------------------------------------------


def test_detectors_drive_the_adaptive_system() -> None:
    """adaptive_system carries the largest-FPR point's margin as detection_margin."""
    defense, inputs = _magnet()
    points = list(defense.detectors().values())
    system = adaptive_system(defense.model, {"name": "toy"}, points)
    assert sorted(system.operating_points) == ["fpr_0.05", "fpr_0.2"]
    attacked = system.crafting_model
    x = inputs["perturbed"]
    loosest: Callable[[Tensor], Tensor] = defense.detector_at(max(FPRS)).margin
    torch.testing.assert_close(attacked.detection_margin(x), loosest(x))
