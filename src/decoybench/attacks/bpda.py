"""BPDA (Athalye, Carlini & Wagner, ICML 2018, "Obfuscated Gradients Give a False Sense
of Security"): PGD through defenses whose preprocessing has no useful gradient.

The protocol: a preprocessing layer that is not differentiable (bit-depth reduction,
JPEG, quantisation, ...) subclasses `NonDifferentiable` (or, duck-typed, any module with
a `bpda_approximation(*inputs)` method). While BPDA runs, a forward hook replaces each
such layer's output f(x) by g(x) + (f(x) − g(x)).detach(): the forward value is exactly
f(x), the backward pass is that of the differentiable approximation g (default: the
identity, i.e. the straight-through estimator). Outside BPDA the layers behave as
written. Why custom: neither Foolbox nor torchattacks implements BPDA.

`StraightThrough` is the same rule for a whole model: a deployed model's exact output with
the gradient of a differentiable surrogate model (a defense's `gradient: bpda` setting).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from decoybench.attacks.iterative import MomentumIterativeAttack


class NonDifferentiable(nn.Module):
    """Marker base class for layers whose gradient is useless (zero almost everywhere or
    undefined). Subclasses implement `forward`; override `bpda_approximation` with a
    differentiable g(x) ≈ forward(x) when the identity is a poor surrogate."""

    def bpda_approximation(self, *inputs: Tensor) -> Tensor:
        """The differentiable surrogate used in BPDA's backward pass (default: identity)."""
        return inputs[0]


class BitDepthReduction(NonDifferentiable):
    """Round inputs in [0, 1] to 2^bits evenly spaced levels: round(x·(2^b − 1))/(2^b − 1)
    (feature squeezing, Xu et al., NDSS 2018). Its true gradient is zero almost everywhere."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        if bits < 1:
            raise ValueError(f"bits must be ≥ 1, got {bits}")
        self.bits = int(bits)
        self.levels = float(2**self.bits - 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.round(x * self.levels) / self.levels

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


def _straight_through(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> Tensor:
    surrogate = module.bpda_approximation(*inputs)
    return surrogate + (output - surrogate).detach()


class StraightThrough(nn.Module):
    """BPDA for a whole model (Athalye et al., ICML 2018, Sec. 4.1): forward(x) =
    exact(x).detach() + (surrogate(x) − surrogate(x).detach()), i.e. the deployed model's
    value exactly, back-propagating as `surrogate` (same output shape; both in eval mode
    as given). Both are submodules, so `.to(device)` and `.eval()` reach them."""

    def __init__(self, exact: nn.Module, surrogate: nn.Module) -> None:
        super().__init__()
        self.exact = exact
        self.surrogate = surrogate

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            value = self.exact(x)
        estimate = self.surrogate(x)
        if estimate.shape != value.shape:
            raise ValueError(
                f"the surrogate outputs {tuple(estimate.shape)}, the exact model "
                f"{tuple(value.shape)}"
            )
        return value + (estimate - estimate.detach())


def straight_through(exact: nn.Module, surrogate: nn.Module) -> StraightThrough:
    """`exact`'s forward values with `surrogate`'s gradient (`StraightThrough`)."""
    return StraightThrough(exact, surrogate)


def non_differentiable_layers(model: nn.Module) -> list[nn.Module]:
    """The submodules of `model` (itself included) that follow the BPDA protocol."""
    return [
        module
        for module in model.modules()
        if isinstance(module, NonDifferentiable)
        or callable(getattr(module, "bpda_approximation", None))
    ]


@contextmanager
def bpda(model: nn.Module) -> Iterator[int]:
    """Within the block, every non-differentiable layer of `model` back-propagates through
    its `bpda_approximation`; yields how many layers were replaced."""
    handles = [
        layer.register_forward_hook(_straight_through) for layer in non_differentiable_layers(model)
    ]
    try:
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()


class BPDA(MomentumIterativeAttack):
    """BPDA + L∞ PGD (Athalye et al., ICML 2018): `steps` signed-gradient steps of
    `step_size` from a uniform random start in the ε-ball, gradients taken through the
    BPDA approximations of the model's non-differentiable layers. Defaults follow the
    attractors paper's Table VIII (ε = 0.3, 100 iterations, eps_iter = 0.04)."""

    name = "bpda"
    norm = "linf"

    def __init__(
        self,
        epsilon: float,
        steps: int = 100,
        step_size: float = 0.04,
        random_start: bool = True,
    ) -> None:
        super().__init__(
            epsilon,
            steps=steps,
            step_size=step_size,
            decay=0.0,
            diversity_prob=0.0,
            kernel_size=0,
            random_start=random_start,
        )

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        with bpda(model) as replaced:
            if replaced == 0:
                warnings.warn(
                    "bpda: the model has no NonDifferentiable layer; this is plain PGD",
                    stacklevel=2,
                )
            return super().run(model, x, y, target, generator)
