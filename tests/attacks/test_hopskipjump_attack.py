"""HopSkipJump (decoybench.attacks.decision): label queries only, misclassifies in budget."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from decoybench.attacks.registry import build, build_from_config

BUDGET = {"steps": 10, "initial_gradient_eval_steps": 20, "max_gradient_eval_steps": 100}


class LabelsOnly(nn.Module):
    """A linear model whose outputs carry no autograd graph: an attack that asked for a
    gradient would fail (the output does not require grad, backward raises)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(12, 3)
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        with torch.no_grad():
            return self.linear(x.flatten(start_dim=1)).detach()


def test_hopskipjump_misclassifies_within_its_budget_without_gradients() -> None:
    model = LabelsOnly()
    x = torch.rand(12, 12)
    y = model(x).argmax(dim=1)
    attack = build("hop_skip_jump", **BUDGET)
    assert attack.gradient_free and attack.norm == "l2"
    result = attack(model, x, y, generator=torch.Generator().manual_seed(1))
    assert result.success.all()
    assert (model(result.x_adv).argmax(dim=1) != y).all()
    # A minimal perturbation: well inside the [0, 1]^12 box's diameter.
    assert float(result.l2.max()) < 12**0.5 / 2
    assert model.linear.weight.grad is None
    assert int(result.queries[0]) > 0 and (result.queries == result.queries[0]).all()


def test_hopskipjump_is_seeded_by_the_generator() -> None:
    model = LabelsOnly()
    x = torch.rand(4, 12)
    y = model(x).argmax(dim=1)
    attack = build("hop_skip_jump", **BUDGET)
    runs = [attack(model, x, y, generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(runs[0].x_adv, runs[1].x_adv)


def test_hopskipjump_linf_bound_and_no_targets() -> None:
    model = LabelsOnly()
    x = torch.rand(4, 12)
    y = model(x).argmax(dim=1)
    attack = build_from_config({"attack": "hop_skip_jump", "constraint": "linf", **BUDGET})
    assert attack.norm == "linf"
    bounded = build("hop_skip_jump", constraint="linf", epsilon=0.01, **BUDGET)
    result = bounded(model, x, y, generator=torch.Generator().manual_seed(0))
    assert float(result.linf.max()) <= 0.01 + 1e-6
    with pytest.raises(ValueError, match="cannot be targeted"):
        attack(model, x, y, target=(y + 1) % 3)


class Constant(nn.Module):
    """One label everywhere: no misclassified start exists."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.zeros(len(x), 3) + torch.tensor([1.0, 0.0, 0.0])


def test_hopskipjump_without_a_start_leaves_the_input_unattacked() -> None:
    x = torch.rand(3, 12)
    y = torch.zeros(3, dtype=torch.long)
    result = build("hop_skip_jump", **BUDGET)(Constant(), x, y)
    assert not result.success.any() and torch.equal(result.x_adv, x)
