"""The disagreement check's margin: its sign is the check, and it has a gradient."""

import torch
from torch import nn

from decoybench.papers.luring.adaptive import DisagreementDetector


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
