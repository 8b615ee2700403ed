"""Attacks backed by Foolbox 3 (Rauber et al., JOSS 2020): one thin adapter each.

Foolbox implements FGSM, BIM, PGD, MI-FGSM, DeepFool, C&W L2 and EAD; the suite uses them
as they are and names them as the papers do (DEEPSEC's LLC/ILLC/UMIFGSM/TMIFGSM, the
multitask paper's IGS, the luring paper's MIM). Foolbox draws its random starts from
torch's global generator, so each call seeds it from the caller's generator: same
generator state, same adversarial examples.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from decoybench.attacks.base import Attack

ALL_MODES = ("none", "random", "least_likely")


class FoolboxAttack(Attack):
    """Adapter: builds the Foolbox attack, runs it once, reports queries per sample."""

    foolbox_class: ClassVar[str]

    def foolbox_parameters(self) -> dict[str, Any]:
        """Keyword arguments of the Foolbox attack class."""
        raise NotImplementedError

    def queries_per_sample(self) -> int:
        """Forward+backward passes per sample (an upper bound for early-stopping attacks)."""
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
        attack = getattr(foolbox.attacks, self.foolbox_class)(**self.foolbox_parameters())
        _, clipped, _ = attack(bounded, x, criterion, epsilons=self.epsilon)
        queries = torch.full((len(x),), self.queries_per_sample(), dtype=torch.long)
        return clipped, queries


class FGSM(FoolboxAttack):
    """FGSM (Goodfellow et al., ICLR 2015): Foolbox `FGSM`; Foolbox cannot target it."""

    name = "fgsm"
    norm = "linf"
    foolbox_class = "FGSM"

    def __init__(self, epsilon: float, random_start: bool = False) -> None:
        self.epsilon = float(epsilon)
        self.random_start = bool(random_start)

    def foolbox_parameters(self) -> dict[str, Any]:
        return {"random_start": self.random_start}

    def queries_per_sample(self) -> int:
        return 1


class _GradientIteration(FoolboxAttack):
    """Foolbox's iterative gradient family: steps of size abs_stepsize (or rel_stepsize·ε)."""

    targeted_modes: ClassVar[tuple[str, ...]] = ALL_MODES
    default_steps: ClassVar[int] = 10
    default_rel_stepsize: ClassVar[float] = 0.2
    default_random_start: ClassVar[bool] = False

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
        self.abs_stepsize = None if abs_stepsize is None else float(abs_stepsize)
        self.random_start = (
            self.default_random_start if random_start is None else bool(random_start)
        )

    def foolbox_parameters(self) -> dict[str, Any]:
        return {
            "rel_stepsize": self.rel_stepsize,
            "abs_stepsize": self.abs_stepsize,
            "steps": self.steps,
            "random_start": self.random_start,
        }

    def queries_per_sample(self) -> int:
        return self.steps


class LinfPGD(_GradientIteration):
    """PGD, L∞ (Madry et al., ICLR 2018): Foolbox `LinfPGD` (40 steps of ε/30, random start)."""

    name = "linf_pgd"
    norm = "linf"
    foolbox_class = "LinfPGD"
    default_steps = 40
    default_rel_stepsize = 0.01 / 0.3
    default_random_start = True


class L2PGD(_GradientIteration):
    """PGD, L2 (Madry et al., ICLR 2018): Foolbox `L2PGD`."""

    name = "l2_pgd"
    norm = "l2"
    foolbox_class = "L2PGD"
    default_steps = 50
    default_rel_stepsize = 0.025
    default_random_start = True


class BIM(_GradientIteration):
    """BIM / I-FGSM (Kurakin et al., ICLR-W 2017): Foolbox `LinfBasicIterativeAttack`."""

    name = "bim"
    norm = "linf"
    foolbox_class = "LinfBasicIterativeAttack"


class IGS(BIM):
    """IGS, the iterative gradient sign attack of the multitask paper (= BIM, untargeted)."""

    name = "igs"
    targeted_modes = ("none",)


class ILLC(BIM):
    """ILLC (Kurakin et al., ICLR-W 2017): BIM towards the least likely class (DEEPSEC)."""

    name = "illc"
    targeted_modes = ("least_likely",)


class LLC(FoolboxAttack):
    """LLC (Kurakin et al., ICLR-W 2017): one signed-gradient step of size ε towards the
    least likely class. Foolbox's FGSM cannot be targeted, so this is one step of its
    `LinfBasicIterativeAttack`, which is the same update."""

    name = "llc"
    norm = "linf"
    foolbox_class = "LinfBasicIterativeAttack"
    targeted_modes = ("least_likely",)

    def __init__(self, epsilon: float) -> None:
        self.epsilon = float(epsilon)

    def foolbox_parameters(self) -> dict[str, Any]:
        return {"abs_stepsize": self.epsilon, "steps": 1, "random_start": False}

    def queries_per_sample(self) -> int:
        return 1


class _MomentumIteration(_GradientIteration):
    """MI-FGSM (Dong et al., CVPR 2018): Foolbox's momentum iterative gradient method."""

    def __init__(
        self,
        epsilon: float,
        steps: int | None = None,
        rel_stepsize: float | None = None,
        abs_stepsize: float | None = None,
        random_start: bool | None = None,
        momentum: float = 1.0,
    ) -> None:
        super().__init__(epsilon, steps, rel_stepsize, abs_stepsize, random_start)
        self.momentum = float(momentum)

    def foolbox_parameters(self) -> dict[str, Any]:
        return {**super().foolbox_parameters(), "momentum": self.momentum}


class MIM(_MomentumIteration):
    """MIM, L∞ (Dong et al., CVPR 2018; the luring paper's MIM): Foolbox
    `LinfMomentumIterativeFastGradientMethod`."""

    name = "mim"
    norm = "linf"
    foolbox_class = "LinfMomentumIterativeFastGradientMethod"


class MIML2(_MomentumIteration):
    """MIM, L2 (the luring paper's MIML2): Foolbox `L2MomentumIterativeFastGradientMethod`."""

    name = "mim_l2"
    norm = "l2"
    foolbox_class = "L2MomentumIterativeFastGradientMethod"


class UMIFGSM(MIM):
    """UMIFGSM: DEEPSEC's untargeted MI-FGSM."""

    name = "umifgsm"
    targeted_modes = ("none",)


class TMIFGSM(MIM):
    """TMIFGSM: DEEPSEC's targeted MI-FGSM (random target classes by default)."""

    name = "tmifgsm"
    targeted_modes = ("random", "least_likely")


class _DeepFool(FoolboxAttack):
    """DeepFool (Moosavi-Dezfooli et al., CVPR 2016): minimal perturbation, untargeted."""

    def __init__(
        self,
        steps: int = 50,
        candidates: int | None = 10,
        overshoot: float = 0.02,
        loss: Literal["logits", "crossentropy"] = "logits",
        epsilon: float | None = None,
    ) -> None:
        self.steps = int(steps)
        self.candidates = None if candidates is None else int(candidates)
        self.overshoot = float(overshoot)
        self.loss = loss
        self.epsilon = None if epsilon is None else float(epsilon)

    def foolbox_parameters(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "candidates": self.candidates,
            "overshoot": self.overshoot,
            "loss": self.loss,
        }

    def queries_per_sample(self) -> int:
        return self.steps


class DeepFool(_DeepFool):
    """DeepFool, L2 (DEEPSEC's DF): Foolbox `L2DeepFoolAttack`."""

    name = "deepfool"
    norm = "l2"
    foolbox_class = "L2DeepFoolAttack"


class DeepFoolLinf(_DeepFool):
    """DeepFool, L∞ version (the multitask paper): Foolbox `LinfDeepFoolAttack`."""

    name = "deepfool_linf"
    norm = "linf"
    foolbox_class = "LinfDeepFoolAttack"


class CarliniWagnerL2(FoolboxAttack):
    """C&W L2 (Carlini & Wagner, S&P 2017): Foolbox `L2CarliniWagnerAttack`.

    `confidence` is the κ of the multitask paper's sweep. Foolbox returns a blank image
    where it found nothing: the base class counts those as failures. Queries are the upper
    bound binary_search_steps × steps (Foolbox may abort early).
    """

    name = "cw2"
    norm = "l2"
    foolbox_class = "L2CarliniWagnerAttack"
    targeted_modes = ALL_MODES

    def __init__(
        self,
        binary_search_steps: int = 9,
        steps: int = 10000,
        learning_rate: float = 0.01,
        confidence: float = 0.0,
        initial_const: float = 0.001,
        abort_early: bool = True,
        epsilon: float | None = None,
    ) -> None:
        self.binary_search_steps = int(binary_search_steps)
        self.steps = int(steps)
        self.learning_rate = float(learning_rate)
        self.confidence = float(confidence)
        self.initial_const = float(initial_const)
        self.abort_early = bool(abort_early)
        self.epsilon = None if epsilon is None else float(epsilon)

    def foolbox_parameters(self) -> dict[str, Any]:
        return {
            "binary_search_steps": self.binary_search_steps,
            "steps": self.steps,
            "stepsize": self.learning_rate,
            "confidence": self.confidence,
            "initial_const": self.initial_const,
            "abort_early": self.abort_early,
        }

    def queries_per_sample(self) -> int:
        return self.binary_search_steps * self.steps


class EAD(FoolboxAttack):
    """EAD, elastic-net (Chen et al., AAAI 2018): Foolbox `EADAttack`; `beta` is the L1
    weight (DEEPSEC's β = 1e-3)."""

    name = "ead"
    norm = "l1"
    foolbox_class = "EADAttack"
    targeted_modes = ALL_MODES

    def __init__(
        self,
        binary_search_steps: int = 9,
        steps: int = 10000,
        learning_rate: float = 0.01,
        confidence: float = 0.0,
        initial_const: float = 0.001,
        beta: float = 0.001,
        decision_rule: Literal["EN", "L1"] = "EN",
        abort_early: bool = True,
    ) -> None:
        self.binary_search_steps = int(binary_search_steps)
        self.steps = int(steps)
        self.learning_rate = float(learning_rate)
        self.confidence = float(confidence)
        self.initial_const = float(initial_const)
        self.beta = float(beta)
        self.decision_rule = decision_rule
        self.abort_early = bool(abort_early)

    def foolbox_parameters(self) -> dict[str, Any]:
        return {
            "binary_search_steps": self.binary_search_steps,
            "steps": self.steps,
            "initial_stepsize": self.learning_rate,
            "confidence": self.confidence,
            "initial_const": self.initial_const,
            "regularization": self.beta,
            "decision_rule": self.decision_rule,
            "abort_early": self.abort_early,
        }

    def queries_per_sample(self) -> int:
        return self.binary_search_steps * self.steps
