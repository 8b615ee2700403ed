"""Adaptive attacks where they can fail: a toy detector with a known gradient that plain
PGD walks straight into, and which G(x) and orthogonal PGD must go around."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from decoybench.attacks.adaptive import (
    CombinedLogits,
    DetectorAwareClassifier,
    runner_up,
)
from decoybench.attacks.bpda import BitDepthReduction, bpda
from decoybench.attacks.registry import build

# Toy system on x in [0, 1]^16: class 1 iff x_0 > 0.5; the detector flags x_0 + x_1 > 1.
# Clean inputs: x_0 in [0.3, 0.45] (class 0), x_1 in [0.45, 0.5], so x_0 + x_1 <= 0.95.
# Fooling the classifier needs Δx_0 > 0.05..0.2 (ε = 0.3): the classifier's gradient alone
# raises x_0 only and trips the detector; lowering x_1 (the detector's other direction)
# keeps it silent.


class _ToyClassifier(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        flat = x.flatten(1)
        return torch.stack([torch.zeros_like(flat[:, 0]), 10.0 * (flat[:, 0] - 0.5)], dim=1)


def _toy_margin(x: Tensor) -> Tensor:
    flat = x.flatten(1)
    return flat[:, 0] + flat[:, 1] - 1.0


def _toy_inputs(count: int = 64) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = 0.4 + 0.2 * torch.rand(count, 1, 4, 4, generator=generator)
    x[:, 0, 0, 0] = 0.3 + 0.15 * torch.rand(count, generator=generator)
    x[:, 0, 0, 1] = 0.45 + 0.05 * torch.rand(count, generator=generator)
    return x, torch.zeros(count, dtype=torch.long)


def _system() -> DetectorAwareClassifier:
    return DetectorAwareClassifier(_ToyClassifier(), _toy_margin)


def _undetected_success(attack_name: str, **params: object) -> tuple[float, float]:
    """(share fooled and undetected, share fooled) of the attack's examples."""
    x, y = _toy_inputs()
    system = _system()
    assert (_toy_margin(x) <= 0).all() and (system(x).argmax(1) == y).all()
    result = build(attack_name, **params)(system, x, y, generator=torch.Generator().manual_seed(1))
    fooled = system(result.x_adv).argmax(1) != y
    undetected = _toy_margin(result.x_adv) <= 0
    assert torch.equal(result.success, fooled & undetected)
    attack = build(attack_name, **params)
    if attack.epsilon is not None:
        assert float(getattr(result, attack.norm).max()) <= attack.epsilon + 1e-5
    return float((fooled & undetected).float().mean()), float(fooled.float().mean())


def test_plain_pgd_fools_the_classifier_but_is_detected() -> None:
    success, fooled = _undetected_success(
        "linf_pgd", epsilon=0.3, steps=40, abs_stepsize=0.01, random_start=False
    )
    assert fooled == 1.0
    assert success <= 0.05


@pytest.mark.parametrize(
    ("attack", "params"),
    [
        ("opgd_linf", {"epsilon": 0.3, "steps": 60, "abs_stepsize": 0.01}),
        ("opgd_l2", {"epsilon": 1.0, "steps": 60, "abs_stepsize": 0.05}),
        ("combined_linf_pgd", {"epsilon": 0.3, "steps": 60, "abs_stepsize": 0.01}),
        (
            "combined_cw2",
            {"binary_search_steps": 5, "steps": 100, "learning_rate": 0.05, "initial_const": 1.0},
        ),
    ],
)
def test_adaptive_attacks_fool_the_classifier_without_tripping_the_detector(
    attack: str, params: dict[str, object]
) -> None:
    success, _ = _undetected_success(attack, **params)
    assert success >= 0.95


def test_combined_logits_win_the_extra_class_exactly_where_the_detector_fires() -> None:
    x, y = _toy_inputs(16)
    x[:8, 0, 0, 1] = 0.9  # x_0 + x_1 > 1: flagged
    logits = CombinedLogits(_system())(x)
    assert logits.shape == (16, 3)
    assert torch.equal(logits.argmax(1) == 2, _toy_margin(x) > 0)
    # Without a detector G is the classifier.
    assert torch.equal(CombinedLogits(_ToyClassifier())(x), _ToyClassifier()(x))
    assert torch.equal(runner_up(_ToyClassifier(), x, y), torch.ones(16, dtype=torch.long))


def test_opgd_keeps_a_loss_trace_and_returns_clean_inputs_where_it_never_fooled() -> None:
    x, y = _toy_inputs(8)
    attack = build("opgd_linf", epsilon=0.01, steps=5, abs_stepsize=0.005)
    result = attack(_system(), x, y, generator=torch.Generator().manual_seed(0))
    assert not result.success.any()
    assert torch.equal(result.x_adv, x)
    assert len(attack.loss_trace["classifier_objective"]) == 5
    assert len(attack.loss_trace["detection_margin"]) == 5


def test_bpda_recovers_the_gradient_of_a_straight_through_layer() -> None:
    weight = torch.linspace(-1.0, 1.0, 16)
    model = nn.Sequential(BitDepthReduction(bits=1), nn.Flatten(), nn.Linear(16, 1, bias=False))
    model[2].weight.data = weight.view(1, 16)
    x = torch.rand(4, 1, 4, 4, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    (plain,) = torch.autograd.grad(model(x).sum(), x)
    assert not plain.any()  # rounding: zero gradient almost everywhere
    with bpda(model) as replaced:
        output = model(x)
        (through,) = torch.autograd.grad(output.sum(), x)
    assert replaced == 1
    assert torch.equal(output, model(x))  # the forward value is exact
    assert torch.allclose(through, weight.view(1, 1, 4, 4).expand(4, 1, 4, 4))


def test_g_of_x_pgd_keeps_a_loss_trace_that_rises_to_success() -> None:
    """One trace value per forward pass of G (Foolbox's PGD: one per step, then the last
    check); on the toy, the mean objective G_t − max_{j≠t} G_j starts negative and ends
    positive (the runner-up class wins, undetected)."""
    x, y = _toy_inputs(16)
    attack = build("combined_linf_pgd", epsilon=0.3, steps=20, abs_stepsize=0.02)
    attack(_system(), x, y, generator=torch.Generator().manual_seed(0))
    trace = attack.loss_trace["combined_objective"]
    assert len(trace) >= 20
    assert trace[0] < 0 < trace[-1]


def test_a_sets_loss_trace_is_the_batches_step_wise_mean() -> None:
    from decoybench.cells.craft import _mean_trace

    # Batches of 3 and 1: (3·[1, 2] + 1·[5, 6]) / 4 = [2, 3]; unequal lengths concatenate.
    assert _mean_trace([(3, [1.0, 2.0]), (1, [5.0, 6.0])]).tolist() == [2.0, 3.0]
    assert _mean_trace([(3, [1.0]), (1, [5.0, 6.0])]).tolist() == [1.0, 5.0, 6.0]
