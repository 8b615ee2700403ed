"""The disagreement check's margin (issue 16): its sign is the check, argmax M is a
forward-pass constant, it has an input gradient, and the check is a label check."""

import math

import pytest
import torch
from torch import Tensor, nn

from decoybench.defenses.system import adaptive_system
from decoybench.models.training import predict
from decoybench.papers.luring.adaptive import DisagreementDetector
from decoybench.papers.luring.defense.augmented import AugmentedModel
from decoybench.papers.luring.defense.components import build_component

pytestmark = pytest.mark.usefixtures("single_thread")


def test_margin_sign_is_the_disagreement_check_and_it_has_a_gradient() -> None:
    torch.manual_seed(0)
    hidden = nn.Sequential(nn.Flatten(), nn.Linear(16, 5))
    public = nn.Sequential(nn.Flatten(), nn.Linear(16, 5))
    with torch.no_grad():  # T close to M: they agree on some inputs, not all
        public[1].weight.copy_(hidden[1].weight + 0.3 * torch.randn(5, 16))
        public[1].bias.copy_(hidden[1].bias)
    detector = DisagreementDetector(hidden, public)
    x = torch.rand(200, 1, 4, 4, requires_grad=True)
    margin = detector.margin(x)
    flagged = detector.is_adversarial(x)
    assert flagged.any() and (~flagged).any()
    assert torch.equal(margin.detach() > 0, flagged)
    (gradient,) = torch.autograd.grad(margin.sum(), x)
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0


def _inputs() -> Tensor:
    generator = torch.Generator().manual_seed(1)
    clean = torch.rand(40, 1, 28, 28, generator=generator)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    strong = (clean + 0.5 * torch.randn(clean.shape, generator=generator).sign()).clamp(0, 1)
    return torch.cat([clean, noisy, strong])


def _luring() -> tuple[nn.Module, nn.Module]:
    """M a small CNN, T = M∘P with the paper's MNIST component P (untrained)."""
    torch.manual_seed(0)
    hidden = nn.Sequential(
        nn.Conv2d(1, 4, 5, stride=3), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10)
    ).eval()
    public = AugmentedModel(build_component("mnist", 1, 28), hidden).eval()
    return hidden, public


def test_margin_on_t_equals_m_of_p_is_the_cells_disagreement() -> None:
    hidden, public = _luring()
    detector = DisagreementDetector(hidden, public)
    x = _inputs().requires_grad_(True)
    margin = detector.margin(x)
    flagged = detector.is_adversarial(x)
    assert flagged.any() and (~flagged).any()
    assert torch.equal(margin.detach() > 0, flagged)
    assert torch.equal(flagged, predict(hidden, x.detach()) != predict(public, x.detach()))
    torch.testing.assert_close(detector.score(x.detach()), margin.detach())
    (gradient,) = torch.autograd.grad(margin.sum(), x)
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0
    # argmax M is a constant; the margin, T's gap to M's class, reaches P's weights.
    first = next(iter(public.component.parameters()))
    (through_p,) = torch.autograd.grad(detector.margin(x).sum(), first)
    assert through_p.any()
    with torch.no_grad():
        logits = public(x)
        chosen = hidden(x).argmax(dim=1)
    others = logits.scatter(1, chosen.view(-1, 1), float("-inf")).amax(dim=1)
    assert torch.equal(margin.detach(), others - logits.gather(1, chosen.view(-1, 1))[:, 0])


def test_label_check_has_no_calibrated_fpr_and_is_the_adaptive_point() -> None:
    hidden, public = _luring()
    detector = DisagreementDetector(hidden, public)
    assert math.isnan(detector.fpr_target)
    system = adaptive_system(public, {}, [detector])
    assert system.operating_points == {"label_check": detector}
    x = _inputs()
    assert torch.equal(system.crafting_model.detection_margin(x) > 0, detector.is_adversarial(x))
