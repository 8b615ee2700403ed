"""JSMA, the Jacobian-based saliency map attack (Papernot et al., EuroS&P 2016).

N. Papernot, P. McDaniel, S. Jha, M. Fredrikson, Z. B. Celik and A. Swami, "The Limitations
of Deep Learning in Adversarial Settings", IEEE EuroS&P 2016, Algorithms 2-3.

Written here because Foolbox 3 has no JSMA (Foolbox 2's `SaliencyMapAttack` was dropped), and
ART's `SaliencyMapMethod` is a simplification (it takes the two features with the largest
target-class gradient instead of the paper's pair saliency map). This is the paper's
targeted attack with increasing features: each iteration picks the pair of features (p, q)
in the search domain that maximises

    S(p, q) = −α · β  subject to α > 0 and β < 0,  with
    α = Σ_{i∈{p,q}} ∂Z_t/∂x_i,   β = Σ_{i∈{p,q}} Σ_{j≠t} ∂Z_j/∂x_i,

raises both by θ (clipped at 1) and drops a feature from the domain once it saturates. A
sample stops at success (prediction = target) or when changing two more features could
exceed ⌊γ·n⌋ changed features, so at most ⌊γ·n⌋ values change (the paper's Υ = γ).

Choices where the paper leaves room:
* Z are the logits, not the softmax outputs: the paper computes its forward derivative on
  the last hidden layer because the softmax saturates and flattens the gradients (JSMA-Z in
  Carlini & Wagner's terms); ART's `PyTorchClassifier.class_gradient` returns the same.
* When no pair in the domain satisfies both sign conditions the paper's map is zero
  everywhere and its argmax undefined; we then take the pair with the largest α − β.
* Features already at 1 start outside the search domain (raising them changes nothing).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from decoybench.attacks.base import Attack

# Elements of the (samples × n × n) pair-score tensor computed at once; bounds memory.
_PAIR_BUDGET = 2**23


def _best_pairs(target_grad: Tensor, other_grad: Tensor, domain: Tensor) -> Tensor:
    """Per sample, the (p, q) maximising the pair saliency map over the domain (B × 2)."""
    n = target_grad.shape[1]
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=target_grad.device)
    pairs = []
    chunk = max(1, _PAIR_BUDGET // (n * n))
    for start in range(0, len(target_grad), chunk):
        a = target_grad[start : start + chunk]
        b = other_grad[start : start + chunk]
        d = domain[start : start + chunk]
        alpha = a[:, :, None] + a[:, None, :]
        beta = b[:, :, None] + b[:, None, :]
        allowed = d[:, :, None] & d[:, None, :] & off_diagonal
        admissible = allowed & (alpha > 0) & (beta < 0)
        # Admissible scores are > 0; pairs outside the domain are never chosen.
        score = torch.where(admissible, -alpha * beta, torch.zeros_like(alpha)).flatten(1)
        stuck = ~admissible.flatten(1).any(dim=1)
        if stuck.any():
            relaxed = (alpha - beta)[stuck].masked_fill(~allowed[stuck], -math.inf)
            score[stuck] = relaxed.flatten(1)
        index = score.argmax(dim=1)
        pairs.append(torch.stack((index // n, index % n), dim=1))
    return torch.cat(pairs)


class JSMA(Attack):
    """Targeted L0 attack: greedily saturate the most salient feature pairs (see module doc)."""

    name = "jsma"
    norm = "l0"
    targeted_modes: ClassVar[tuple[str, ...]] = ("random", "least_likely")

    def __init__(self, theta: float = 1.0, gamma: float = 0.1) -> None:
        if not 0 < theta <= 1:
            raise ValueError(f"jsma: theta must lie in (0, 1] (increasing features), got {theta}")
        if not 0 < gamma <= 1:
            raise ValueError(f"jsma: gamma must lie in (0, 1], got {gamma}")
        self.theta = float(theta)
        self.gamma = float(gamma)
        self.epsilon = None

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        assert target is not None  # the base class refuses untargeted calls
        shape = x.shape
        x_adv = x.detach().flatten(start_dim=1).clone()
        n = x_adv.shape[1]
        max_changed = math.floor(self.gamma * n)
        domain = x_adv < 1.0
        changed = torch.zeros_like(domain)
        active = torch.ones(len(x), dtype=torch.bool, device=x.device)
        queries = torch.zeros(len(x), dtype=torch.long, device=x.device)
        while active.any():
            index = active.nonzero().squeeze(1)
            current = x_adv[index].clone().requires_grad_(True)
            logits = model(current.view(-1, *shape[1:]))
            queries[index] += 1
            go_on = (
                (logits.argmax(dim=1) != target[index])
                & (changed[index].sum(dim=1) + 2 <= max_changed)
                & (domain[index].sum(dim=1) >= 2)
            )
            active[index[~go_on]] = False
            if not go_on.any():
                break
            target_logit = logits.gather(1, target[index, None]).sum()
            (target_grad,) = torch.autograd.grad(target_logit, current, retain_graph=True)
            (total_grad,) = torch.autograd.grad(logits.sum(), current)
            index, target_grad = index[go_on], target_grad[go_on]
            other_grad = total_grad[go_on] - target_grad
            pairs = _best_pairs(target_grad, other_grad, domain[index])
            rows = index[:, None].expand_as(pairs)
            x_adv[rows, pairs] = (x_adv[rows, pairs] + self.theta).clamp(max=1.0)
            changed[rows, pairs] = True
            domain[rows, pairs] = x_adv[rows, pairs] < 1.0
        return x_adv.view(shape), queries
