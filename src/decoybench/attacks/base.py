"""The attack call convention shared by Foolbox adapters and custom attacks.

`attack(model, x, y, target=None, generator=g) -> AttackResult`: batched float inputs in
[0, 1], any device, deterministic given the generator. Subclasses implement `run`; the base
class enforces the [0, 1] box and the norm bound exactly and does the bookkeeping
(success on the crafting model, L0/L2/L∞ distortion, queries, wall time).

Targeting: every attack has a `target_mode` (`none`, `least_likely` or `random`), chosen
from the modes its class supports; `choose_targets` turns the mode into target labels
(least likely class of the clean input, or a uniformly random wrong class drawn from the
seeded generator).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

TARGET_MODES = ("none", "least_likely", "random")


@dataclass
class AttackResult:
    """Per-sample outcome of one batched attack call (all tensors on the CPU)."""

    x_adv: Tensor  # float32 in [0, 1], same shape as x
    success: Tensor  # bool: prediction on the crafting model differs from y (or equals target)
    # and, on a model that carries its detector, the detector lets x_adv through
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
    """Project x_adv onto the ε-ball of `norm` around x, then into the [0, 1] box.

    L∞: the box and the ball are both coordinate-wise, so clamping to their intersection
    is exact. L2: scaling into the ball, then clamping into the box, can only shrink each
    coordinate's change, so the result stays inside both. L0 is enforced by the attacks
    themselves (they choose which values to change).
    """
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


def degenerate(x_adv: Tensor, tolerance: float = 1e-6) -> Tensor:
    """Per-sample flag: a constant (blank or saturated) image, never a valid example.

    Foolbox's C&W returns an all-black image where it found nothing, and the model may well
    misclassify it (docs/design.md, Pitfalls): such outputs count as failures.
    """
    flat = x_adv.flatten(start_dim=1)
    return (flat.amax(dim=1) - flat.amin(dim=1)) <= tolerance


def detection_margin(model: nn.Module, x: Tensor) -> Tensor | None:
    """`model.detection_margin(x)` (> 0 where its detector flags x) for a model that carries
    its detector (decoybench.attacks.adaptive.DetectorAwareClassifier), else None."""
    margin = getattr(model, "detection_margin", None)
    return margin(x) if callable(margin) else None


@torch.no_grad()
def choose_targets(
    mode: str, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator
) -> Tensor | None:
    """Target labels for `mode`: None, the least likely class of the clean input under
    `model`, or a uniformly random class other than y drawn from `generator`."""
    if mode == "none":
        return None
    logits = model(x)
    if mode == "least_likely":
        return logits.argmin(dim=1)
    if mode == "random":
        num_classes = logits.shape[1]
        shift = torch.randint(1, num_classes, (len(y),), generator=generator)
        return (y.cpu() + shift).remainder(num_classes).to(y.device)
    raise ValueError(f"target mode {mode!r} is not allowed; allowed: {', '.join(TARGET_MODES)}")


class Attack(ABC):
    """Base class: subclasses set `norm`, store parameters, and implement `run`.

    Class attributes: `name` (registry key), `norm` (the bound `epsilon` is measured in),
    `targeted_modes` (modes it supports; the first is its default), `gradient_free`,
    `epsilon_scaled_parameters` (parameters that must scale with ε).
    """

    name: ClassVar[str]
    norm: ClassVar[str]
    targeted_modes: ClassVar[tuple[str, ...]] = ("none",)
    gradient_free: ClassVar[bool] = False
    # Parameters measured in units of ε (they scale with it when ε changes, e.g. RFGSM's α).
    epsilon_scaled_parameters: ClassVar[tuple[str, ...]] = ()

    epsilon: float | None = None
    _target_mode: str | None = None

    @property
    def target_mode(self) -> str:
        """The targeting mode in use: the one set, else the class default."""
        return self._target_mode or self.targeted_modes[0]

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

    def set_target_mode(self, mode: str | None) -> None:
        """Choose the targeting mode; None keeps the class default."""
        mode = mode or self.targeted_modes[0]
        if mode not in self.targeted_modes:
            raise ValueError(
                f"attack {self.name!r} does not support target mode {mode!r}; "
                f"allowed: {', '.join(self.targeted_modes)}"
            )
        self._target_mode = mode

    def __call__(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> AttackResult:
        if x.min() < 0 or x.max() > 1:
            low, high = float(x.min()), float(x.max())
            raise ValueError(f"{self.name}: inputs must lie in [0, 1], got [{low}, {high}]")
        if target is not None and self.targeted_modes == ("none",):
            raise ValueError(f"{self.name} cannot be targeted")
        if target is None and "none" not in self.targeted_modes:
            raise ValueError(f"{self.name} is a targeted attack: pass target labels")
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        started = time.perf_counter()
        if self.epsilon == 0:
            x_adv, queries = x.clone(), torch.zeros(len(x), dtype=torch.long)
        else:
            x_adv, queries = self.run(model, x, y, target, generator)
        x_adv = project(x, x_adv.detach(), self.norm, self.epsilon)
        with torch.no_grad():
            predicted = model(x_adv).argmax(dim=1)
            # A model that carries its detector (decoybench.attacks.adaptive): only an
            # example the detector lets through succeeds.
            margin = detection_margin(model, x_adv)
            undetected = True if margin is None else margin <= 0
        success = predicted == target if target is not None else predicted != y
        success &= ~degenerate(x_adv) & undetected
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
