"""Decision-based attacks: the attacker sees only the model's top-1 label, never a gradient
or a score. HopSkipJump (Chen, Jordan & Wainwright, IEEE S&P 2020), Foolbox 3's
`HopSkipJumpAttack`: from a misclassified start (Foolbox's blended uniform noise), it
alternates a binary search to the decision boundary, a Monte-Carlo estimate of the
boundary's normal from label queries, and a geometric step along it.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from decoybench.attacks.foolbox_attacks import FoolboxAttack


class _QueryCounter(nn.Module):
    """Forwards `model` under no_grad, counting the inputs it is shown: a decision-based
    attack needs no gradient, and its query count is exact."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.inputs = 0

    def forward(self, x: Tensor) -> Tensor:
        self.inputs += len(x)
        with torch.no_grad():
            return self.model(x)


class HopSkipJump(FoolboxAttack):
    """HopSkipJump, untargeted, L2 or L∞ (`constraint`): Foolbox `HopSkipJumpAttack`.

    `steps` boundary iterations; the gradient estimate at step t uses
    min(initial_gradient_eval_steps·√t, max_gradient_eval_steps) label queries. A
    minimization attack: `epsilon` None keeps its smallest x' whatever its norm (the
    leaderboard's threat models then apply their budgets). Starts: `_starting_points`.
    Queries are counted exactly (every input shown to the model, the start search
    included), per sample on average.
    """

    name = "hop_skip_jump"
    norm = "l2"
    foolbox_class = "HopSkipJumpAttack"
    gradient_free = True

    def __init__(
        self,
        steps: int = 64,
        initial_gradient_eval_steps: int = 100,
        max_gradient_eval_steps: int = 10000,
        gamma: float = 1.0,
        constraint: Literal["l2", "linf"] = "l2",
        epsilon: float | None = None,
    ) -> None:
        self.steps = int(steps)
        self.initial_gradient_eval_steps = int(initial_gradient_eval_steps)
        self.max_gradient_eval_steps = int(max_gradient_eval_steps)
        self.gamma = float(gamma)
        self.constraint = constraint
        self.norm = constraint  # type: ignore[misc]  # the bound follows the constraint
        self.epsilon = None if epsilon is None else float(epsilon)

    def foolbox_parameters(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "initial_gradient_eval_steps": self.initial_gradient_eval_steps,
            "max_gradient_eval_steps": self.max_gradient_eval_steps,
            "gamma": self.gamma,
            "constraint": self.constraint,
        }

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        import foolbox

        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        counter = _QueryCounter(model).eval()
        bounded = foolbox.PyTorchModel(counter, bounds=(0.0, 1.0), device=x.device)
        start, found = _starting_points(bounded, counter, x, y)
        x_adv = x.clone()
        if found.any():
            attack = foolbox.attacks.HopSkipJumpAttack(**self.foolbox_parameters())
            _, clipped, _ = attack(
                bounded, x[found], y[found], epsilons=self.epsilon, starting_points=start[found]
            )
            x_adv[found] = clipped
        per_sample = -(-counter.inputs // max(len(x), 1))
        return x_adv, torch.full((len(x),), per_sample, dtype=torch.long)


def _starting_points(
    bounded: Any, counter: _QueryCounter, x: Tensor, y: Tensor
) -> tuple[Tensor, Tensor]:
    """A misclassified start per sample, from labels only: Foolbox's blended uniform noise,
    else the first other input of the batch the model labels differently from y (the usual
    HopSkipJump start where noise fails). Returns (starts, found); a sample with neither
    stays unattacked (Foolbox would abort the whole batch)."""
    import warnings

    import foolbox

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "failed to draw sufficient inputs"
        noise = foolbox.attacks.LinearSearchBlendedUniformNoiseAttack(directions=100, steps=100)
        start = noise.run(bounded, x, y)
    found = counter(start).argmax(dim=1) != y
    labels = counter(x).argmax(dim=1)
    for i in torch.nonzero(~found).flatten().tolist():
        others = torch.nonzero(labels != y[i]).flatten()
        if len(others):
            start[i], found[i] = x[others[0]], True
    return start, found
