"""The attack call convention shared by Foolbox adapters and custom attacks.

`attack(model, x, y, target=None, generator=g) -> AttackResult`: batched float inputs in
[0, 1], any device, deterministic given the generator. Subclasses implement `run`; the base
class enforces the [0, 1] box and the norm bound exactly and does the bookkeeping
(success on the crafting model, L0/L2/L∞ distortion, queries, wall time).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

NORMS = ("linf", "l2", "l0")


@dataclass
class AttackResult:
    """Per-sample outcome of one batched attack call (all tensors on the CPU)."""

    x_adv: Tensor  # float32 in [0, 1], same shape as x
    success: Tensor  # bool: prediction on the crafting model differs from y (or equals target)
    l0: Tensor  # number of input values changed
    l2: Tensor
    linf: Tensor
    queries: Tensor  # int64: model forward passes spent per sample
    seconds: float  # wall time of the whole batch


def distortions(x: Tensor, x_adv: Tensor, tolerance: float = 1e-6) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample L0 (values changed by more than `tolerance`), L2 and L∞ of x_adv − x."""
    delta = (x_adv - x).flatten(start_dim=1)
    return (
        (delta.abs() > tolerance).sum(dim=1),
        delta.norm(p=2, dim=1),
        delta.abs().amax(dim=1),
    )


def project(x: Tensor, x_adv: Tensor, norm: str, epsilon: float | None) -> Tensor:
    """Project x_adv onto the ε-ball of `norm` around x, then into the [0, 1] box."""
    if epsilon is not None:
        delta = x_adv - x
        if norm == "linf":
            delta = delta.clamp(-epsilon, epsilon)
        elif norm == "l2":
            norms = delta.flatten(start_dim=1).norm(p=2, dim=1).clamp_min(1e-12)
            factor = (epsilon / norms).clamp(max=1.0).view(-1, *([1] * (x.dim() - 1)))
            delta = delta * factor
        x_adv = x + delta
    return x_adv.clamp(0.0, 1.0)


class Attack(ABC):
    """Base class: subclasses set `norm`, store parameters, and implement `run`."""

    name: ClassVar[str]
    norm: ClassVar[str]
    targeted_modes: ClassVar[tuple[str, ...]] = ("none",)

    epsilon: float | None = None

    @abstractmethod
    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        """Return (x_adv, queries per sample)."""

    def parameters(self) -> dict[str, object]:
        """The constructor parameters this attack was built with (for logging)."""
        return dict(vars(self))

    def __call__(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> AttackResult:
        if x.min() < 0 or x.max() > 1:
            raise ValueError(
                f"{self.name}: inputs must lie in [0, 1], got [{float(x.min())}, {float(x.max())}]"
            )
        if target is not None and "none" in self.targeted_modes and len(self.targeted_modes) == 1:
            raise ValueError(f"{self.name} cannot be targeted")
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        started = time.perf_counter()
        x_adv, queries = self.run(model, x, y, target, generator)
        x_adv = project(x, x_adv.detach(), self.norm, self.epsilon)
        with torch.no_grad():
            predicted = model(x_adv).argmax(dim=1)
        success = predicted == target if target is not None else predicted != y
        seconds = time.perf_counter() - started
        l0, l2, linf = distortions(x, x_adv)
        return AttackResult(
            x_adv=x_adv.float().cpu(),
            success=success.cpu(),
            l0=l0.cpu(),
            l2=l2.cpu(),
            linf=linf.cpu(),
            queries=queries.cpu().long(),
            seconds=seconds,
        )
