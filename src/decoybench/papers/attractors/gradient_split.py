"""Chain-rule split of an attacker's loss gradient over the two summed branches of a model.

Shared by the attractors paper's Fig. 5 (M from C and W, Eq. 2) and Fig. 6 (the trapdoor
model from N1 and N2, Eq. 1): J = −log P_y(x) with P = combine(first(x), second(x)); the
part through one branch differentiates J with the other branch's output held constant.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor


def negative_log(probabilities: Tensor) -> Tensor:
    """−log p, clamped like the models' forward (log of the smallest positive float)."""
    return -torch.log(probabilities.clamp_min(torch.finfo(probabilities.dtype).tiny))


def split_gradient(
    components: Callable[[Tensor], tuple[Tensor, Tensor]],
    combine: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    y: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(first(x), second(x), ∇ₓJ through first, ∇ₓJ through second), outputs detached.

    J depends on x only through the two branches, so the two parts sum to the full gradient
    (per sample: rows of x are independent in eval mode).
    """
    inputs = x.detach().clone().requires_grad_(True)
    first, second = components(inputs)
    rows = torch.arange(len(inputs), device=inputs.device)
    through_first = combine(first, second.detach())[rows, y]
    through_second = combine(first.detach(), second)[rows, y]
    (gradient_first,) = torch.autograd.grad(
        negative_log(through_first).sum(), inputs, retain_graph=True
    )
    (gradient_second,) = torch.autograd.grad(negative_log(through_second).sum(), inputs)
    return first.detach(), second.detach(), gradient_first, gradient_second


def l1_per_sample(tensor: Tensor) -> np.ndarray:
    """‖row‖₁ of every sample (all dimensions after the first), float64 numpy."""
    return tensor.detach().flatten(start_dim=1).abs().sum(dim=1).cpu().to(torch.float64).numpy()
