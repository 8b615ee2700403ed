"""F_d's differentiable margin and M_(d,r)'s straight-through surrogate (issue 16): the
margin's sign is F_d's flags, its forward statistics are F_d's, its gradient survives the
float32 saturation of S near an attractor; the surrogate's forward is M_(d,r)'s exactly and
its gradient sees the detector and the recovery."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from decoybench.defenses.system import adaptive_system
from decoybench.papers.attractors.attractors import nearest_attractor
from decoybench.papers.attractors.defense import AttractorDefense
from decoybench.papers.attractors.detector import ForensicDetector, statistics_with_gradient
from decoybench.papers.attractors.model import AttractorModel, IntegratedAttractorModel
from decoybench.papers.attractors.qim import QIMDecoder

pytestmark = pytest.mark.usefixtures("single_thread")
SHAPE = {"num_classes": 10, "input_shape": (1, 28, 28)}


def _uniform(count: int, seed: int) -> Tensor:
    return torch.rand(count, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def defense() -> AttractorDefense:
    """The default W around a random linear victim, F_d calibrated on uniform images."""
    torch.manual_seed(0)
    victim = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval().requires_grad_(False)
    built = AttractorDefense(victim, SHAPE)
    built.calibrate(_uniform(400, 5), (0.05, 0.005))
    return built


def _toward(decoder: QIMDecoder, x: Tensor, fraction: float, seed: int) -> Tensor:
    """x moved `fraction` of the way to the attractor of a random class."""
    targets = torch.randint(0, 10, (len(x),), generator=torch.Generator().manual_seed(seed))
    return x + fraction * (nearest_attractor(decoder, x, targets) - x)


@pytest.fixture(scope="module")
def inputs(defense: AttractorDefense) -> dict[str, Tensor]:
    clean = _uniform(60, 6)
    noise = 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(7))
    return {
        "clean": clean,
        "noisy": (clean + noise).clamp(0, 1),
        "half_way": _toward(defense.decoder, clean[:30], 0.5, 8),
        "saturated": _toward(defense.decoder, clean[30:], 0.9, 9),
    }


@pytest.mark.parametrize("fpr", [0.05, 0.005])
def test_margin_sign_is_the_flag_and_its_statistics_are_the_detectors(
    defense: AttractorDefense, inputs: dict[str, Tensor], fpr: float
) -> None:
    detector = defense.detector_at(fpr)
    assert detector.fpr_target == fpr
    x = torch.cat(list(inputs.values()))
    margin = detector.margin(x)
    flagged = detector.is_adversarial(x)
    assert margin.shape == (len(x),) and margin.dtype == torch.float64
    assert flagged.any() and (~flagged).any()
    assert not flagged[:60].all() and flagged[120:].all()  # clean mostly pass, pushed caught
    assert torch.equal(margin.detach() > 0, flagged)
    # Forward values: exactly F_d's statistics; the margin is score − τ up to rounding.
    exact = statistics_with_gradient(detector.decoder, detector.decoder.decode(x)).detach()
    assert torch.equal(exact, detector.statistics(x))
    torch.testing.assert_close(
        margin.detach(), detector.score(x) - detector.thresholds.tau, rtol=0, atol=1e-9
    )


def test_margin_gradient_is_finite_and_survives_saturation(
    defense: AttractorDefense, inputs: dict[str, Tensor]
) -> None:
    detector = defense.detector
    x = torch.cat(list(inputs.values())).requires_grad_(True)
    (gradient,) = torch.autograd.grad(detector.margin(x).sum(), x)
    assert torch.isfinite(gradient).all()
    assert (gradient.flatten(1).abs().sum(dim=1) > 0).all()  # every input has a direction
    # Near an attractor float32 S rounds to A2: autograd's d(max w)/dx is exactly zero,
    # the margin path's (float64, non-cancelling S) is not.
    saturated = inputs["saturated"].clone().requires_grad_(True)
    w = detector.decoder(saturated)
    assert bool((w.amax(dim=1) == detector.decoder.A2).all())
    (plain,) = torch.autograd.grad(w.amax(dim=1).sum(), saturated)
    assert not plain.any()
    statistics = statistics_with_gradient(detector.decoder, detector.decoder.decode(saturated))
    (surrogate,) = torch.autograd.grad(statistics[:, 0].sum(), saturated)
    assert (surrogate.flatten(1).abs().sum(dim=1) > 0).all()


def test_margin_refuses_an_uncalibrated_detector_and_handles_empty_batches(
    defense: AttractorDefense,
) -> None:
    bare = ForensicDetector(defense.decoder)
    with pytest.raises(RuntimeError, match="calibrate"):
        bare.margin(_uniform(2, 0))
    with pytest.raises(RuntimeError, match="calibrate"):
        _ = bare.fpr_target
    assert defense.detector.margin(torch.empty(0, 1, 28, 28)).shape == (0,)


def test_adaptive_system_takes_the_detectors_at_every_operating_point(
    defense: AttractorDefense, inputs: dict[str, Tensor]
) -> None:
    detectors = [defense.detector_at(point.fpr_target) for point in defense.operating_points]
    system = adaptive_system(defense.model_seen_by_attacker().eval(), {}, detectors)
    assert sorted(system.operating_points) == ["fpr_0.005", "fpr_0.05"]
    x = torch.cat(list(inputs.values()))
    margin = system.crafting_model.detection_margin(x)  # the largest FPR's: 0.05
    assert torch.equal(margin > 0, defense.detector_at(0.05).is_adversarial(x))


@pytest.mark.parametrize("classify_with", ["attractor", "victim"])
def test_straight_through_integrated_model_is_exact_forward_with_detector_gradients(
    defense: AttractorDefense, inputs: dict[str, Tensor], classify_with: str
) -> None:
    integrated = defense.integrated(classify_with=classify_with)  # type: ignore[arg-type]
    wrapper = integrated.straight_through()
    x = torch.cat(list(inputs.values())).requires_grad_(True)
    _, detected = integrated.predict_with_detection(x)
    assert detected.any() and (~detected).any()
    plain_output, output = integrated(x), wrapper(x)
    assert torch.equal(output, plain_output)
    labels = torch.zeros(len(x), 1, dtype=torch.long)
    (plain,) = torch.autograd.grad(plain_output.gather(1, labels).sum(), x)
    (gradient,) = torch.autograd.grad(output.gather(1, labels).sum(), x)
    assert torch.isfinite(gradient).all()
    assert (gradient.flatten(1).abs().sum(dim=1) > 0).all()
    # With the straight-through terms switched off the surrogate's gradient is the plain one
    # (M's only); with them, it differs on every input.
    off = integrated.straight_through(detection_scale=1e12, recovery_temperature=1e12)
    (only_m,) = torch.autograd.grad(off(x).gather(1, labels).sum(), x)
    torch.testing.assert_close(only_m, plain, rtol=1e-3, atol=1e-7)
    difference = (gradient - plain).flatten(1).norm(dim=1)
    assert (difference > 1e-2 * gradient.flatten(1).norm(dim=1)).all()


def test_straight_through_sees_the_detector_where_the_plain_gradient_is_zero(
    defense: AttractorDefense, inputs: dict[str, Tensor]
) -> None:
    constant = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with torch.no_grad():
        constant[1].weight.zero_()  # C(x) constant: M_(d,r) on C has no input gradient
    model = IntegratedAttractorModel(
        AttractorModel(constant, defense.decoder), defense.detector, classify_with="victim"
    )
    x = torch.cat(list(inputs.values())).requires_grad_(True)
    (plain,) = torch.autograd.grad(model(x)[:, 0].sum(), x)
    assert not plain.any()
    wrapper = model.straight_through()
    assert torch.equal(wrapper(x), model(x))
    (gradient,) = torch.autograd.grad(wrapper(x)[:, 0].sum(), x)
    assert torch.isfinite(gradient).all()
    assert (gradient.flatten(1).abs().sum(dim=1) > 0).all()
    with pytest.raises(ValueError, match="positive"):
        model.straight_through(detection_scale=0.0)
