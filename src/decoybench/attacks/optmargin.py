"""OptMargin: C&W L2 made robust to small random perturbations (He, Li & Song, ICLR 2018).

W. He, B. Li and D. Song, "Decision Boundary Analysis of Adversarial Examples", ICLR 2018,
Section 3; reference code github.com/sunblaze-ucb/decision-boundaries
(`l2_attack_ensemble.py`). Written here because no library (Foolbox, ART, torchattacks)
implements it.

OptMargin targets region-based classification (Cao & Gong, ACSAC 2017), which labels an
input by the majority vote over random points of a hypercube around it. It runs Carlini &
Wagner's untargeted L2 attack (tanh change of variables, Adam, binary search over c)
against an ensemble of `noise_count` classifiers f_i(x) = f(clip(x + v_i)), minimising

    ‖x' − x‖₂² + c · Σ_i max(Z(x' + v_i)_y − max_{j≠y} Z(x' + v_i)_j, −κ),

so the example stays misclassified in a neighbourhood instead of sitting on the boundary.

Noise, following the authors' code (the paper leaves the construction open):
* v_1 … v_{k−1} are random orthogonal directions (QR of a Gaussian matrix, drawn once per
  call from the generator and shared by the batch), each scaled to L2 norm
  noise_magnitude·√n, the norm of a corner of the L∞ cube of radius noise_magnitude that
  the region classifier samples from; v_k = 0 keeps the example itself in the ensemble.
  DEEPSEC's port rescales the vectors to a largest entry of noise_magnitude instead, a much
  smaller neighbourhood; we keep the authors' scale.
* x' + v_i is clipped to [0, 1] (the authors' code means to but feeds the unclipped tensor).
* Distances are on the [0, 1] scale (the authors divide by 255², a leftover from C&W's
  0-255 code that makes the distance term negligible).

An iterate counts as a success when all k copies are misclassified with margin κ; the
binary search on c and the returned example use that criterion (smallest L2 over all
steps). Where no iterate achieved it, the smallest-L2 iterate misclassified without noise
is returned (still an adversarial example for f; the authors' code would return a black
image), else the clean input. Early abort is C&W's: stop a step when the loss has not
dropped by 0.01 % over a tenth of the iterations.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from decoybench.attacks.base import Attack


def orthogonal_noise(
    shape: tuple[int, ...], count: int, magnitude: float, generator: torch.Generator
) -> Tensor:
    """`count` noise vectors of `shape`: count − 1 random orthogonal ones of L2 norm
    magnitude·√n, then zero (CPU, float32)."""
    n = math.prod(shape)
    if count - 1 > n:
        raise ValueError(f"optmargin: noise_count − 1 = {count - 1} exceeds the input size {n}")
    gaussian = torch.randn(n, count - 1, generator=generator, dtype=torch.float64)
    directions = torch.linalg.qr(gaussian).Q.T * (magnitude * math.sqrt(n))
    zero = torch.zeros(1, n, dtype=torch.float64)
    return torch.cat((directions, zero)).float().view(count, *shape)


class OptMargin(Attack):
    """Untargeted L2 attack: C&W against `noise_count` noisy copies (see module doc)."""

    name = "optmargin"
    norm = "l2"

    def __init__(
        self,
        learning_rate: float = 0.2,
        initial_const: float = 0.02,
        binary_search_steps: int = 4,
        max_iterations: int = 1000,
        noise_count: int = 20,
        noise_magnitude: float = 0.3,
        confidence: float = 0.0,
        abort_early: bool = True,
    ) -> None:
        if binary_search_steps < 1 or max_iterations < 1 or noise_count < 1:
            raise ValueError(
                "optmargin: binary_search_steps, max_iterations and noise_count must be >= 1"
            )
        if learning_rate <= 0 or initial_const <= 0 or noise_magnitude < 0 or confidence < 0:
            raise ValueError(
                "optmargin: learning_rate and initial_const must be > 0, "
                "noise_magnitude and confidence >= 0"
            )
        self.learning_rate = float(learning_rate)
        self.initial_const = float(initial_const)
        self.binary_search_steps = int(binary_search_steps)
        self.max_iterations = int(max_iterations)
        self.noise_count = int(noise_count)
        self.noise_magnitude = float(noise_magnitude)
        self.confidence = float(confidence)
        self.abort_early = bool(abort_early)
        self.epsilon = None

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        batch, k = len(x), self.noise_count
        x = x.detach()
        noise = orthogonal_noise(tuple(x.shape[1:]), k, self.noise_magnitude, generator)
        noise = noise.to(device=x.device, dtype=x.dtype)
        w_origin = torch.atanh((2 * x - 1) * (1 - 1e-6))

        const = torch.full((batch,), self.initial_const, dtype=x.dtype, device=x.device)
        lower = torch.zeros_like(const)
        upper = torch.full_like(const, math.inf)
        best_l2 = torch.full_like(const, math.inf)  # all copies misclassified
        best = x.clone()
        center_l2 = torch.full_like(const, math.inf)  # only the example itself
        center = x.clone()
        iterations = 0
        check_every = max(1, self.max_iterations // 10)

        for _ in range(self.binary_search_steps):
            modifier = torch.zeros_like(x, requires_grad=True)
            optimizer = torch.optim.Adam([modifier], lr=self.learning_rate)
            reached = torch.zeros(batch, dtype=torch.bool, device=x.device)
            previous = math.inf
            for iteration in range(self.max_iterations):
                x_adv = (torch.tanh(w_origin + modifier) + 1) / 2
                noisy = (x_adv[:, None] + noise[None]).clamp(0.0, 1.0)
                logits = model(noisy.view(batch * k, *x.shape[1:])).view(batch, k, -1)
                iterations += 1
                mask = torch.nn.functional.one_hot(y, logits.shape[-1]).bool()
                mask = mask[:, None, :].expand_as(logits)
                real = logits.masked_select(mask).view(batch, k)
                other = logits.masked_fill(mask, -math.inf).amax(dim=2)
                margin = real - other
                squared = (x_adv - x).flatten(start_dim=1).pow(2).sum(dim=1)
                loss = squared + const * margin.clamp(min=-self.confidence).sum(dim=1)
                total = loss.sum()
                optimizer.zero_grad()
                total.backward()
                optimizer.step()

                with torch.no_grad():
                    fooled = margin < -self.confidence  # y beaten by the margin κ
                    robust = fooled.all(dim=1)
                    reached |= robust
                    better = robust & (squared < best_l2)
                    best_l2 = torch.where(better, squared, best_l2)
                    best[better] = x_adv[better].detach()
                    alone = fooled[:, -1] & (squared < center_l2)
                    center_l2 = torch.where(alone, squared, center_l2)
                    center[alone] = x_adv[alone].detach()

                if self.abort_early and iteration % check_every == 0:
                    if total.item() > previous * 0.9999:
                        break
                    previous = total.item()

            upper = torch.where(reached, torch.minimum(upper, const), upper)
            lower = torch.where(reached, lower, torch.maximum(lower, const))
            const = torch.where(upper < math.inf, (lower + upper) / 2, const * 10)

        x_adv = torch.where((best_l2 < math.inf).view(-1, *[1] * (x.dim() - 1)), best, center)
        queries = torch.full((batch,), iterations * k, dtype=torch.long, device=x.device)
        return x_adv, queries
