"""Attacks backed by Foolbox 3 (Rauber et al., JOSS 2020): one thin adapter each.

Foolbox draws its random starts from torch's global generator, so each call seeds it
from the caller's generator: same generator state, same adversarial examples.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from decoybench.attacks.base import Attack


class FoolboxAttack(Attack):
    """Adapter: builds the Foolbox attack, runs it at one epsilon, counts queries."""

    def _foolbox_attack(self) -> Any:
        raise NotImplementedError

    def _queries_per_sample(self) -> int:
        raise NotImplementedError

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
        bounded = foolbox.PyTorchModel(model, bounds=(0.0, 1.0), device=x.device)
        criterion = foolbox.criteria.TargetedMisclassification(target) if target is not None else y
        _, clipped, _ = self._foolbox_attack()(bounded, x, criterion, epsilons=self.epsilon)
        queries = torch.full((len(x),), self._queries_per_sample(), dtype=torch.long)
        return clipped, queries


class _IterativeFoolboxAttack(FoolboxAttack):
    """Shared parameters of Foolbox's projected-gradient family."""

    targeted_modes: ClassVar[tuple[str, ...]] = ("none", "least_likely", "random")
    foolbox_class: ClassVar[str]
    default_steps: ClassVar[int]
    default_rel_stepsize: ClassVar[float]
    default_random_start: ClassVar[bool]

    def __init__(
        self,
        epsilon: float,
        steps: int | None = None,
        rel_stepsize: float | None = None,
        abs_stepsize: float | None = None,
        random_start: bool | None = None,
    ) -> None:
        self.epsilon = float(epsilon)
        self.steps = self.default_steps if steps is None else int(steps)
        self.rel_stepsize = (
            self.default_rel_stepsize if rel_stepsize is None else float(rel_stepsize)
        )
        self.abs_stepsize = abs_stepsize
        self.random_start = (
            self.default_random_start if random_start is None else bool(random_start)
        )

    def _foolbox_attack(self) -> Any:
        import foolbox

        return getattr(foolbox.attacks, self.foolbox_class)(
            rel_stepsize=self.rel_stepsize,
            abs_stepsize=self.abs_stepsize,
            steps=self.steps,
            random_start=self.random_start,
        )

    def _queries_per_sample(self) -> int:
        return self.steps  # one forward + backward pass per step


class LinfPGD(_IterativeFoolboxAttack):
    """PGD, L∞ (Madry et al., ICLR 2018): Foolbox `LinfPGD` (defaults 40 steps, 0.01/0.3)."""

    name = "linf_pgd"
    norm = "linf"
    foolbox_class = "LinfPGD"
    default_steps = 40
    default_rel_stepsize = 0.01 / 0.3
    default_random_start = True


class L2PGD(_IterativeFoolboxAttack):
    """PGD, L2 (Madry et al., ICLR 2018): Foolbox `L2PGD`."""

    name = "l2_pgd"
    norm = "l2"
    foolbox_class = "L2PGD"
    default_steps = 50
    default_rel_stepsize = 0.025
    default_random_start = True


class LinfBIM(_IterativeFoolboxAttack):
    """BIM / I-FGSM (Kurakin et al., ICLR-W 2017): Foolbox `LinfBasicIterativeAttack`."""

    name = "linf_bim"
    norm = "linf"
    foolbox_class = "LinfBasicIterativeAttack"
    default_steps = 10
    default_rel_stepsize = 0.2
    default_random_start = False


class FGSM(FoolboxAttack):
    """FGSM (Goodfellow et al., ICLR 2015): Foolbox `FGSM`, untargeted only."""

    name = "fgsm"
    norm = "linf"

    def __init__(self, epsilon: float, random_start: bool = False) -> None:
        self.epsilon = float(epsilon)
        self.random_start = bool(random_start)

    def _foolbox_attack(self) -> Any:
        import foolbox

        return foolbox.attacks.FGSM(random_start=self.random_start)

    def _queries_per_sample(self) -> int:
        return 1
