"""Momentum iterative gradient attacks with input diversity and translation invariance.

One engine, `MomentumIterativeAttack`, covers the transfer attacks of the luring paper:

* MI-FGSM (Dong et al., CVPR 2018, "Boosting Adversarial Attacks with Momentum"):
  g ← μ·g + ∇/‖∇‖₁, then x ← x + α·sign(g) (L∞) or x ← x + α·g/‖g‖₂ (L2), projected onto
  the ε-ball and the [0, 1] box after every step. μ = `decay`; μ = 0 is BIM / PGD.
* DIM (Xie et al., CVPR 2019, "Improving Transferability of Adversarial Examples with
  Input Diversity"): with probability `diversity_prob` per step the gradient is taken
  through a random resize-and-pad of the input (see `input_diversity`).
* TI (Dong et al., CVPR 2019, "Evading Defenses to Transferable Adversarial Examples by
  Translation-Invariant Attacks"): the gradient is convolved, channel by channel, with a
  normalised Gaussian kernel of `kernel_size` taps before the momentum update.

Why custom: Foolbox 3 has MI-FGSM but neither input diversity nor TI kernels. With both
off, the engine is MI-FGSM exactly as in the paper (Foolbox's L∞ version accumulates
sign(∇) rather than ∇/‖∇‖₁; on our test model both give the same success). All
randomness (random start, the diversity coin, resize and padding draws) comes from the
caller's generator, drawn on the CPU before the loop, so the loop never synchronises with
the device.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from decoybench.attacks.base import Attack

ALL_MODES = ("none", "random", "least_likely")
# One diversity draw: resized height/width, top/left padding, canvas height/width.
DiversityDraw = tuple[int, int, int, int, int, int]


def gaussian_kernel(size: int, nsig: float = 3.0) -> Tensor:
    """Normalised 2-D Gaussian: `size` samples evenly spaced on [−nsig, nsig] per axis.

    This is the TI paper's kernel (σ = (size − 1) / (2·nsig) pixels); entries sum to 1.
    """
    points = torch.linspace(-nsig, nsig, size, dtype=torch.float64)
    profile = torch.exp(-0.5 * points**2)
    kernel = torch.outer(profile, profile)
    return (kernel / kernel.sum()).float()


def _per_sample_norm(t: Tensor, order: float) -> Tensor:
    """‖t_i‖ of each sample, shaped to broadcast against t (floored at 1e-12)."""
    dims = tuple(range(1, t.dim()))
    return torch.linalg.vector_norm(t, ord=order, dim=dims, keepdim=True).clamp_min_(1e-12)


def random_start(x: Tensor, norm: str, epsilon: float, generator: torch.Generator) -> Tensor:
    """A uniform draw from the ε-ball of `norm` (linf or l2) around x, clipped to [0, 1];
    drawn on the CPU from `generator`, so the same on every device."""
    if norm == "linf":
        noise = torch.rand(x.shape, generator=generator) * 2 - 1
        return (x + epsilon * noise.to(x.device, x.dtype)).clamp(0.0, 1.0)
    direction = torch.randn(x.shape, generator=generator)
    direction /= _per_sample_norm(direction, 2)
    dims = x[0].numel()
    radius = torch.rand(len(x), generator=generator) ** (1.0 / dims) * epsilon
    noise = direction * radius.view(-1, *([1] * (x.dim() - 1)))
    return (x + noise.to(x.device, x.dtype)).clamp(0.0, 1.0)


class MomentumIterativeAttack(Attack):
    """Iterative signed (L∞) or L2-normalised gradient ascent with momentum, input
    diversity and translation-invariant smoothing; the engine of the DIM/TI family.

    Not registered under its own name: subclasses fix `name`, `norm` and the defaults
    (class attributes `default_*`; a constructor argument of None takes the default).
    Untargeted: ascend CE(model(x'), y); targeted: descend CE(model(x'), target).
    Queries per sample = steps (one forward + backward pass each).

    Input diversity (per step, one draw for the whole batch as in the DIM reference code):
    with `resize_rate` r < 1 the input (H×W) is resized bilinearly to h×w with h drawn
    uniformly from [⌊rH⌋, H) (w likewise, same relative position) and zero-padded back to
    H×W with the top (left) padding drawn uniformly from [0, H − h) ([0, W − w)), the
    half-open range of the DIM reference code. With r > 1 (the DIM paper's 299 → [299, 330)
    → 330) it is resized to h ∈ [H, ⌊rH⌋), zero-padded to ⌊rH⌋×⌊rW⌋ and then resized
    bilinearly back to H×W, because the suite's classifiers take a fixed input size.
    """

    name: ClassVar[str] = "momentum_iterative"
    norm: ClassVar[str] = "linf"
    targeted_modes: ClassVar[tuple[str, ...]] = ALL_MODES
    default_steps: ClassVar[int] = 10
    default_decay: ClassVar[float] = 1.0
    default_diversity_prob: ClassVar[float] = 0.0
    default_kernel_size: ClassVar[int] = 0
    default_random_start: ClassVar[bool] = False

    def __init__(
        self,
        epsilon: float,
        steps: int | None = None,
        step_size: float | None = None,
        decay: float | None = None,
        diversity_prob: float | None = None,
        resize_rate: float = 0.9,
        kernel_size: int | None = None,
        nsig: float = 3.0,
        random_start: bool | None = None,
    ) -> None:
        self.epsilon = float(epsilon)
        self.steps = self.default_steps if steps is None else int(steps)
        self.step_size = self.epsilon / self.steps if step_size is None else float(step_size)
        self.decay = self.default_decay if decay is None else float(decay)
        self.diversity_prob = (
            self.default_diversity_prob if diversity_prob is None else float(diversity_prob)
        )
        self.resize_rate = float(resize_rate)
        self.kernel_size = self.default_kernel_size if kernel_size is None else int(kernel_size)
        self.nsig = float(nsig)
        self.random_start = (
            self.default_random_start if random_start is None else bool(random_start)
        )
        if self.epsilon < 0 or self.steps < 1 or self.step_size < 0 or self.decay < 0:
            raise ValueError(f"{self.name}: need epsilon ≥ 0, steps ≥ 1, step_size ≥ 0, decay ≥ 0")
        if not 0.0 <= self.diversity_prob <= 1.0 or self.resize_rate <= 0:
            raise ValueError(f"{self.name}: need 0 ≤ diversity_prob ≤ 1 and resize_rate > 0")
        if self.kernel_size < 0 or self.nsig <= 0:
            raise ValueError(f"{self.name}: need kernel_size ≥ 0 and nsig > 0")

    # -- randomness, drawn up front on the CPU -------------------------------------------

    def _random_start(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return random_start(x, self.norm, self.epsilon, generator)

    def _diversity_plan(
        self, height: int, width: int, generator: torch.Generator
    ) -> list[DiversityDraw | None]:
        """One entry per step: None (use the input as is) or a resize-and-pad draw."""
        if self.diversity_prob == 0:
            return [None] * self.steps
        apply = (torch.rand(self.steps, generator=generator) < self.diversity_prob).tolist()
        draws = torch.rand(self.steps, 3, generator=generator).tolist()
        rate = self.resize_rate
        canvas_h, canvas_w = (
            (height, width) if rate < 1 else (int(height * rate), int(width * rate))
        )
        low_h, low_w = (int(height * rate), int(width * rate)) if rate < 1 else (height, width)
        plan: list[DiversityDraw | None] = []
        for use, (size_u, top_u, left_u) in zip(apply, draws, strict=True):
            if not use:
                plan.append(None)
                continue
            resized_h = low_h + int(size_u * max(canvas_h - low_h, 0))
            resized_w = low_w + int(size_u * max(canvas_w - low_w, 0))
            resized_h, resized_w = max(resized_h, 1), max(resized_w, 1)
            top = int(top_u * (canvas_h - resized_h))
            left = int(left_u * (canvas_w - resized_w))
            plan.append((resized_h, resized_w, top, left, canvas_h, canvas_w))
        return plan

    @staticmethod
    def input_diversity(x: Tensor, draw: DiversityDraw | None) -> Tensor:
        """Resize x bilinearly, zero-pad it onto the canvas, resize back if the canvas
        differs from the input size (see the class docstring); None: x unchanged."""
        if draw is None:
            return x
        resized_h, resized_w, top, left, canvas_h, canvas_w = draw
        height, width = x.shape[-2:]
        out = F.interpolate(x, size=(resized_h, resized_w), mode="bilinear", align_corners=False)
        out = F.pad(out, (left, canvas_w - resized_w - left, top, canvas_h - resized_h - top))
        if (canvas_h, canvas_w) != (height, width):
            out = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=False)
        return out

    # -- the attack ----------------------------------------------------------------------

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        labels = y if target is None else target
        ascent = 1.0 if target is None else -1.0
        x = x.detach()
        x_adv = self._random_start(x, generator) if self.random_start else x.clone()
        plan = self._diversity_plan(x.shape[-2], x.shape[-1], generator)
        kernel = None
        if self.kernel_size > 1:
            channels = x.shape[1]
            kernel = gaussian_kernel(self.kernel_size, self.nsig).to(x.device, x.dtype)
            kernel = kernel.expand(channels, 1, -1, -1).contiguous()
            before = (self.kernel_size - 1) // 2  # "same" zero padding, odd or even size
            after = self.kernel_size - 1 - before
            padding = (before, after, before, after)
        if self.norm == "linf":
            lower = (x - self.epsilon).clamp_(min=0.0)
            upper = (x + self.epsilon).clamp_(max=1.0)
        momentum = torch.zeros_like(x) if self.decay > 0 else None
        for draw in plan:
            x_adv.requires_grad_(True)
            logits = model(self.input_diversity(x_adv, draw))
            loss = F.cross_entropy(logits, labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
            if kernel is not None:
                grad = F.conv2d(F.pad(grad, padding), kernel, groups=grad.shape[1])
            if momentum is not None:  # g ← μ·g + ∇/‖∇‖₁
                direction = momentum.mul_(self.decay).add_(grad.div_(_per_sample_norm(grad, 1)))
            else:
                direction = grad
            x_adv = x_adv.detach()
            if self.norm == "linf":
                x_adv.add_(direction.sign(), alpha=ascent * self.step_size)
                x_adv.clamp_(lower, upper)
            else:
                step = direction / _per_sample_norm(direction, 2)
                delta = x_adv.add_(step, alpha=ascent * self.step_size).sub_(x)
                delta.mul_((self.epsilon / _per_sample_norm(delta, 2)).clamp_(max=1.0))
                x_adv = delta.add_(x).clamp_(0.0, 1.0)
        queries = torch.full((len(x),), self.steps, dtype=torch.long)
        return x_adv.detach(), queries


class DIM(MomentumIterativeAttack):
    """M-DI²-FGSM (Xie et al., CVPR 2019; the luring paper's DIM): MI-FGSM (μ = 1) with
    input diversity (p = 0.5, the DIM paper's choice; resize rate 0.9, shrink and pad).

    Why custom: Foolbox has no input diversity, and torchattacks' DIFGSM draws from
    torch's global generator (it is our test reference).
    """

    name = "dim"
    default_diversity_prob = 0.5


class MIMTI(MomentumIterativeAttack):
    """TI-MI-FGSM (Dong et al., CVPR 2019; the luring paper's MIM-TI): MI-FGSM (μ = 1)
    whose gradient is smoothed by a 7-tap Gaussian (nsig 3, σ = 1 px) before the update.

    The TI paper uses 15 taps on 299-px ImageNet images; 7 taps is our default for
    28–32-px MNIST/SVHN/CIFAR images (the luring paper searches the size: set
    `kernel_size`). Why custom: no Foolbox attack smooths gradients.
    """

    name = "mim_ti"
    default_kernel_size = 7


class DIMTI(MomentumIterativeAttack):
    """TI-DI²-FGSM (Dong et al., CVPR 2019; the luring paper's DIM-TI): MI-FGSM (μ = 1)
    with input diversity (p = 0.5) and 7-tap Gaussian gradient smoothing (see MIMTI)."""

    name = "dim_ti"
    default_diversity_prob = 0.5
    default_kernel_size = 7
