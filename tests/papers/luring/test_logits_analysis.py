"""Luring Appendix D.3, Eq. 5: Ω_c counts and logit gradients against hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from decoybench.metrics import Rate
from decoybench.papers.luring.logits_analysis import (
    logit_gradients,
    luring_dominance_rates,
    opposite_effect_counts,
)


def test_opposite_effect_counts_hand_built() -> None:
    # 2 examples, 2 classes, inputs of shape (1, 2, 2) (4 values each).
    grad_m = np.array(
        [
            [[[[1.0, -2.0], [3.0, 0.0]]], [[[1.0, 1.0], [1.0, 1.0]]]],
            [[[[-1.0, -1.0], [-1.0, -1.0]]], [[[0.5, -0.5], [1e-30, 2.0]]]],
        ],
        dtype=np.float32,
    )
    grad_mp = np.array(
        [
            [[[[-1.0, -5.0], [-3.0, 7.0]]], [[[1.0, 1.0], [1.0, 1.0]]]],
            [[[[1.0, 1.0], [1.0, -1.0]]], [[[-0.5, 0.5], [-1e-30, 0.0]]]],
        ]
    )
    # Example 0: class 0 opposite at (0,0) and (1,0), not (0,1) (same sign) nor (1,1) (a zero
    # gradient): 2; class 1 all same sign: 0.
    # Example 1: class 0 opposite on 3 of 4; class 1 at (0,0), (0,1) and (1,0) (in float32,
    # 1e-30 · -1e-30 underflows to -0.0, but the signs are opposite), not (1,1) (zero): 3.
    counts = opposite_effect_counts(grad_m, torch.tensor(grad_mp, dtype=torch.float32))
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, [[2, 0], [3, 3]])
    # Symmetric in its two arguments, and zero against itself.
    np.testing.assert_array_equal(opposite_effect_counts(grad_mp, grad_m), counts)
    assert not opposite_effect_counts(grad_m, grad_m).any()
    with pytest.raises(ValueError, match="shape mismatch"):
        opposite_effect_counts(grad_m, grad_mp[:1])
    with pytest.raises(ValueError, match="expected"):
        opposite_effect_counts(np.ones((2, 3)), np.ones((2, 3)))


def _linear_model(weight: torch.Tensor, shape: tuple[int, ...]) -> nn.Module:
    linear = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.copy_(torch.arange(weight.shape[0], dtype=torch.float32))
    return nn.Sequential(nn.Flatten(), linear)


class _Scale(nn.Module):
    """P(x) = s ⊙ x + 0.5, so ∇ₓ h_c(P(x)) = s ⊙ W_c."""

    def __init__(self, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x + 0.5


def test_logit_gradients_of_a_linear_model_and_omega() -> None:
    generator = torch.Generator().manual_seed(0)
    shape = (1, 2, 3)  # 6 input values
    weight = torch.randn(4, 6, generator=generator)
    weight[2, :3] = 0.0  # class 2 ignores the first 3 inputs
    target = _linear_model(weight, shape)
    x = torch.rand(5, *shape, generator=generator)
    grads = logit_gradients(target, x, batch_size=2)  # 3 batches: 2, 2, 1
    # h_c(x) = W_c · vec(x) + b_c: the gradient is W_c for every example.
    assert grads.shape == (5, 4, *shape)
    torch.testing.assert_close(grads, weight.reshape(1, 4, *shape).expand(5, -1, -1, -1, -1))
    torch.testing.assert_close(logit_gradients(target, x, 1), grads[:, 1])
    torch.testing.assert_close(logit_gradients(target, x, [3, 0]), grads[:, [3, 0]])

    # M∘P with P flipping the sign of inputs 0, 1 and 4: gradient s ⊙ W_c, so Ω_c counts
    # the nonzero W_c entries among {0, 1, 4}: 3 for classes 0, 1, 3, and 1 for class 2.
    scale = torch.tensor([-1.0, -1.0, 2.0, 0.5, -3.0, 1.0]).reshape(shape)
    augmented = nn.Sequential(_Scale(scale), target)
    grads_mp = logit_gradients(augmented, x)
    torch.testing.assert_close(grads_mp, scale * grads)
    omega = opposite_effect_counts(grads, grads_mp)
    np.testing.assert_array_equal(omega, np.tile([3, 3, 1, 3], (5, 1)))


class _Quadratic(nn.Module):
    """h_c(x) = Σ_d A_cd x_d², behind a dropout that would randomise gradients in train mode."""

    def __init__(self, a: torch.Tensor) -> None:
        super().__init__()
        self.a = nn.Parameter(a)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x.flatten(1) ** 2) @ self.a.T


def test_logit_gradients_are_per_example_in_eval_mode_and_restore_the_mode() -> None:
    generator = torch.Generator().manual_seed(1)
    a = torch.randn(3, 4, generator=generator)
    model = _Quadratic(a).train()
    x = torch.randn(6, 4, generator=generator)
    grads = logit_gradients(model, x, batch_size=4)
    # ∂h_c/∂x_d = 2 A_cd x_d, example by example (dropout off: eval mode during the call).
    torch.testing.assert_close(grads, 2 * a.unsqueeze(0) * x.unsqueeze(1))
    assert model.training and model.a.grad is None
    torch.testing.assert_close(logit_gradients(model, x, batch_size=1), grads)  # deterministic
    with pytest.raises(ValueError, match="class_index"):
        logit_gradients(model, x, 3)
    with pytest.raises(ValueError, match="batch_size"):
        logit_gradients(model, x, batch_size=0)


def test_luring_dominance_rates_table_10() -> None:
    # 4 examples, 2 classes.
    luring = np.array([[5, 1], [3, 2], [4, 4], [0, 9]])
    stack = np.array([[4, 1], [3, 1], [1, 5], [1, 0]])
    ce = np.array([[1, 0], [2, 0], [2, 3], [0, 8]])
    # Class 0: Luring strictly above both on example 0 (5>4, 5>1) and 2 (4>1, 4>2); example 1
    # ties Stack (3 = 3); example 3 is below Stack: 2/4.
    # Class 1: example 0 ties Stack (1 = 1); 1 (2>1, 2>0) and 3 (9>0, 9>8) pass; 2 is below
    # Stack (4 < 5): 2/4.
    assert luring_dominance_rates(luring, {"stack": stack, "ce": ce}) == [Rate(2, 4), Rate(2, 4)]
    # Pairwise against C.E only: class 0 on 0, 1, 2 (3/4); class 1 on 0, 1, 2, 3 (4/4).
    assert luring_dominance_rates(luring, {"ce": ce}) == [Rate(3, 4), Rate(4, 4)]
    with pytest.raises(ValueError, match="stack"):
        luring_dominance_rates(luring, {"stack": stack[:2]})
    with pytest.raises(ValueError, match="at least one"):
        luring_dominance_rates(luring, {})
