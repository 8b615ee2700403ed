"""SPSA (Uesato et al., ICML 2018, "Adversarial Risk and the Dangers of Evaluating Against
Weak Attacks"): a gradient-free L∞ attack that estimates the gradient of the margin loss
from antithetic Rademacher finite differences and follows it with Adam.

Custom implementation: Foolbox 3 has no SPSA. Also home to the margin loss and the chunked
forward that the other score-based attacks (ECO) share.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from decoybench.attacks.base import Attack, project

# Upper bound on the number of input values sent through the model in one forward pass.
MAX_FORWARD_VALUES = 1 << 24


def margin_loss(logits: Tensor, labels: Tensor, targeted: bool) -> Tensor:
    """Per-sample logit margin to maximize: max_{j≠y} z_j − z_y, or z_t − max_{j≠t} z_j.

    Positive exactly when the argmax is a wrong class (untargeted) or the target (targeted).
    """
    label_logit = logits.gather(1, labels.view(-1, 1)).squeeze(1)
    is_label = torch.zeros_like(logits, dtype=torch.bool).scatter_(1, labels.view(-1, 1), True)
    best_other = logits.masked_fill(is_label, float("-inf")).amax(dim=1)
    return label_logit - best_other if targeted else best_other - label_logit


def is_adversarial(logits: Tensor, labels: Tensor, targeted: bool) -> Tensor:
    """Per-sample success, decided as `Attack.__call__` decides it (argmax of the logits)."""
    predicted = logits.argmax(dim=1)
    return predicted == labels if targeted else predicted != labels


@torch.no_grad()
def chunked_forward(model: nn.Module, inputs: Tensor) -> Tensor:
    """model(inputs) in pieces of at most MAX_FORWARD_VALUES input values."""
    per_input = max(inputs[0].numel(), 1) if len(inputs) else 1
    size = max(1, MAX_FORWARD_VALUES // per_input)
    return torch.cat([model(piece) for piece in inputs.split(size)]) if len(inputs) else inputs


class SPSA(Attack):
    """SPSA with Adam on the logit-margin loss, L∞ (Uesato et al., ICML 2018).

    Each step draws `samples // 2` Rademacher directions v per input, queries the loss at
    x' ± δv (one batched forward, chunked if large) and estimates the gradient as
    mean_v (L(x'+δv) − L(x'−δv)) / (2δ) · v; Adam (β1=0.9, β2=0.999, 1e-8) ascends it and
    the iterate is projected onto the ε-ball ∩ [0, 1]. The perturbed query points are not
    clipped, as in the paper's Algorithm 1.

    Queries: 2·(samples // 2) per step. With `early_stop`, each step first queries the
    iterate itself (1 more query) and a sample stops, frozen, once that query is
    adversarial; so a sample that never succeeds costs steps·(2·(samples // 2) + 1).
    Defaults follow the brief (100 steps, lr 0.01, δ 0.01, 128 samples); the attractors
    paper (DEEPSEC settings) uses learning_rate=0.1 and 500 iterations at ε=0.3.
    """

    name: ClassVar[str] = "spsa"
    norm: ClassVar[str] = "linf"
    targeted_modes: ClassVar[tuple[str, ...]] = ("none", "random", "least_likely")
    gradient_free: ClassVar[bool] = True

    beta1: ClassVar[float] = 0.9
    beta2: ClassVar[float] = 0.999
    adam_epsilon: ClassVar[float] = 1e-8

    def __init__(
        self,
        epsilon: float,
        steps: int = 100,
        learning_rate: float = 0.01,
        delta: float = 0.01,
        samples: int = 128,
        early_stop: bool = True,
    ) -> None:
        if int(samples) < 2:
            raise ValueError(f"spsa: samples must be >= 2 (antithetic pairs), got {samples}")
        if int(steps) < 1:
            raise ValueError(f"spsa: steps must be >= 1, got {steps}")
        if float(delta) <= 0:
            raise ValueError(f"spsa: delta must be > 0, got {delta}")
        self.epsilon = float(epsilon)
        self.steps = int(steps)
        self.learning_rate = float(learning_rate)
        self.delta = float(delta)
        self.samples = int(samples)
        self.early_stop = bool(early_stop)

    @torch.no_grad()
    def estimate_gradient(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> Tensor:
        """SPSA estimate of ∇_x of the margin loss at x (costs 2·(samples // 2) queries each)."""
        labels = y if target is None else target
        targeted = target is not None
        pairs = self.samples // 2
        batch, shape = len(x), x.shape[1:]
        per_pair = 2 * batch * max(x[0].numel(), 1)
        chunk = max(1, min(pairs, MAX_FORWARD_VALUES // per_pair))
        gradient = torch.zeros_like(x)
        for start in range(0, pairs, chunk):
            count = min(chunk, pairs - start)
            signs = torch.randint(
                0, 2, (batch, count, *shape), generator=generator, dtype=torch.int8
            )
            v = signs.to(device=x.device, dtype=x.dtype).mul_(2).sub_(1)
            points = torch.cat(
                [x.unsqueeze(1) + self.delta * v, x.unsqueeze(1) - self.delta * v], 1
            )
            logits = chunked_forward(model, points.flatten(0, 1))
            loss = margin_loss(logits, labels.repeat_interleave(2 * count), targeted)
            loss = loss.view(batch, 2 * count)
            slope = (loss[:, :count] - loss[:, count:]) / (2 * self.delta)
            gradient += (slope.view(batch, count, *([1] * len(shape))) * v).sum(dim=1)
        return gradient / pairs

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        labels = y if target is None else target
        targeted = target is not None
        x_adv = x.clone()
        first = torch.zeros_like(x)  # Adam moments
        second = torch.zeros_like(x)
        queries = torch.zeros(len(x), dtype=torch.long, device=x.device)
        active = torch.ones(len(x), dtype=torch.bool, device=x.device)
        per_step = 2 * (self.samples // 2)
        for step in range(1, self.steps + 1):
            if self.early_stop:
                index = active.nonzero().squeeze(1)
                logits = chunked_forward(model, x_adv[index])
                queries[index] += 1
                active[index[is_adversarial(logits, labels[index], targeted)]] = False
            index = active.nonzero().squeeze(1)
            if len(index) == 0:
                break
            sub_target = None if target is None else target[index]
            gradient = self.estimate_gradient(model, x_adv[index], y[index], sub_target, generator)
            queries[index] += per_step
            first[index] = self.beta1 * first[index] + (1 - self.beta1) * gradient
            second[index] = self.beta2 * second[index] + (1 - self.beta2) * gradient.square()
            first_hat = first[index] / (1 - self.beta1**step)
            second_hat = second[index] / (1 - self.beta2**step)
            update = self.learning_rate * first_hat / (second_hat.sqrt() + self.adam_epsilon)
            x_adv[index] = project(x[index], x_adv[index] + update, "linf", self.epsilon)
        return x_adv, queries
