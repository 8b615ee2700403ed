"""Box-constrained L-BFGS, the first optimisation attack (Szegedy et al., ICLR 2014).

C. Szegedy, W. Zaremba, I. Sutskever, J. Bruna, D. Erhan, I. Goodfellow and R. Fergus,
"Intriguing properties of neural networks", ICLR 2014, Section 4.1.

Written here because Foolbox 3 dropped Foolbox 2's `LBFGSAttack`. The paper minimises
c·|r| + loss_f(x + r, l) subject to x + r ∈ [0, 1] with box-constrained L-BFGS, and
line-searches the constant c for the minimal perturbation that reaches the target l. We
put the constant on the loss instead, minimising

    ‖r‖₂² + c · CE(f(x + r), l)   subject to x + r ∈ [0, 1],

which has the same minimisers (divide by c) but makes "more weight on the target" mean
"larger c", so the search reads as in DEEPSEC's BLB and Carlini & Wagner: start from
`initial_const`, multiply c by 10 while the target is not reached, then bisect between the
largest failing and the smallest successful c. The squared L2 norm is the distance DEEPSEC
optimises (smooth at r = 0, unlike ‖r‖₂), and loss_f is the cross-entropy of the target.

The whole batch is one SciPy L-BFGS-B problem over the concatenated inputs: the objective
is a sum of per-sample terms, so its minimiser is every sample's own minimiser, while torch
computes the value and gradient in one forward and backward pass. Every evaluated point
that reaches the target is a candidate; each sample keeps its smallest-L2 one over all
binary-search steps (the clean input where nothing succeeded).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from decoybench.attacks.base import Attack


class BoxConstrainedLBFGS(Attack):
    """Targeted L2 attack: L-BFGS-B on ‖r‖² + c·CE with a per-sample search over c."""

    name = "blb"
    norm = "l2"
    targeted_modes: ClassVar[tuple[str, ...]] = ("random", "least_likely")

    def __init__(
        self,
        binary_search_steps: int = 5,
        max_iterations: int = 1000,
        initial_const: float = 0.01,
    ) -> None:
        if binary_search_steps < 1 or max_iterations < 1 or initial_const <= 0:
            raise ValueError(
                "blb: binary_search_steps and max_iterations must be >= 1 and initial_const > 0"
            )
        self.binary_search_steps = int(binary_search_steps)
        self.max_iterations = int(max_iterations)
        self.initial_const = float(initial_const)
        self.epsilon = None

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        # Imported here: SciPy's optimizer costs ~0.2 s, and every attack job imports the registry.
        from scipy.optimize import Bounds, minimize

        assert target is not None  # the base class refuses untargeted calls
        batch = len(x)
        objective = _Objective(model, x.detach(), target)
        const = np.full(batch, self.initial_const)
        lower, upper = np.zeros(batch), np.full(batch, math.inf)
        for _ in range(self.binary_search_steps):
            objective.start(const)
            minimize(
                objective,
                objective.origin.ravel(),
                jac=True,
                method="L-BFGS-B",
                bounds=Bounds(0.0, 1.0),
                options={
                    "maxiter": self.max_iterations,
                    "maxfun": math.ceil(1.25 * self.max_iterations),
                },
            )
            reached = objective.reached
            upper[reached] = np.minimum(upper[reached], const[reached])
            lower[~reached] = np.maximum(lower[~reached], const[~reached])
            const = np.where(upper < math.inf, (lower + upper) / 2, const * 10)

        x_adv = torch.as_tensor(objective.best, dtype=x.dtype, device=x.device)
        queries = torch.full((batch,), objective.evaluations, dtype=torch.long, device=x.device)
        return x_adv.view(x.shape), queries


class _Objective:
    """Σ_i ‖z_i − x_i‖² + c_i·CE(f(z_i), t_i) and its gradient for SciPy (float64, flat);
    records the smallest-L2 evaluated point that reaches each target."""

    def __init__(self, model: nn.Module, x: Tensor, target: Tensor) -> None:
        self.model, self.x, self.target = model, x, target
        self.origin = x.flatten(start_dim=1).cpu().double().numpy()
        self.best = self.origin.copy()
        self.best_l2 = np.full(len(x), math.inf)
        self.evaluations = 0
        self.start(np.zeros(len(x)))

    def start(self, const: np.ndarray) -> None:
        """Begin a binary-search step with per-sample constants `const`."""
        self.weights = torch.as_tensor(const, dtype=self.x.dtype, device=self.x.device)
        self.reached = np.zeros(len(const), dtype=bool)

    def __call__(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        self.evaluations += 1
        flat = z.reshape(self.origin.shape)
        point = torch.as_tensor(flat, dtype=self.x.dtype, device=self.x.device)
        point = point.view(self.x.shape).requires_grad_(True)
        logits = self.model(point)
        loss = self.weights * F.cross_entropy(logits, self.target, reduction="none")
        (gradient,) = torch.autograd.grad(loss.sum(), point)
        delta = flat - self.origin
        squared = (delta**2).sum(axis=1)
        # Every evaluated point is a candidate adversarial example.
        hit = (logits.argmax(dim=1) == self.target).cpu().numpy()
        self.reached |= hit
        better = hit & (squared < self.best_l2)
        self.best_l2[better] = squared[better]
        self.best[better] = flat[better]
        value = squared.sum() + loss.detach().double().sum().item()
        grad = 2 * delta + gradient.flatten(start_dim=1).cpu().double().numpy()
        return value, grad.ravel()
