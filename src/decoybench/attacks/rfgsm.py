"""R+FGSM and its least-likely-class variant RLLC (Tramèr et al., ICLR 2018, "Ensemble
Adversarial Training: Attacks and Defenses"; DEEPSEC's RFGSM and RLLC).

A random signed step, then one gradient-sign step with the rest of the budget:
x' = clip(x + α·sign(N(0, I))), x'' = x' + (ε − α)·sign(∇ₓ′ CE(x', y)) untargeted, or
x'' = x' − (ε − α)·sign(∇ₓ′ CE(x', t)) towards a target t. ‖x'' − x‖∞ ≤ ε by
construction; x'' is clipped into the [0, 1] box. Why custom: Foolbox has no R+FGSM.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from decoybench.attacks.base import Attack


class RFGSM(Attack):
    """R+FGSM (Tramèr et al., ICLR 2018): random step of size α, gradient-sign step of
    size ε − α. `alpha` defaults to ε/2 (the paper's α = 8/256 for ε = 16/256; DEEPSEC:
    MNIST ε = 0.3, α = 0.15; CIFAR-10 ε = 0.1, α = 0.05). One query per sample."""

    name = "rfgsm"
    epsilon_scaled_parameters = ("alpha",)
    norm = "linf"
    targeted_modes: ClassVar[tuple[str, ...]] = ("none", "random", "least_likely")

    def __init__(self, epsilon: float, alpha: float | None = None) -> None:
        self.epsilon = float(epsilon)
        self.alpha = self.epsilon / 2 if alpha is None else float(alpha)
        if not 0.0 <= self.alpha <= self.epsilon:
            raise ValueError(f"{self.name}: need 0 ≤ alpha ≤ epsilon, got alpha={self.alpha}")

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        noise = torch.randn(x.shape, generator=generator).sign().to(x.device, x.dtype)
        x_random = (x.detach() + self.alpha * noise).clamp_(0.0, 1.0).requires_grad_(True)
        labels = y if target is None else target
        loss = F.cross_entropy(model(x_random), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x_random)
        step = self.epsilon - self.alpha if target is None else self.alpha - self.epsilon
        x_adv = x_random.detach().add_(grad.sign(), alpha=step).clamp_(0.0, 1.0)
        return x_adv, torch.ones(len(x), dtype=torch.long)


class RLLC(RFGSM):
    """RLLC (DEEPSEC; Tramèr et al.'s R+Step-LL): R+FGSM towards the least likely class of
    the clean input, x'' = x' − (ε − α)·sign(∇ₓ′ CE(x', y_LL)). Needs the targets that
    `choose_targets("least_likely", ...)` gives; success means predicting y_LL."""

    name = "rllc"
    targeted_modes = ("least_likely",)  # the base class refuses calls without targets
