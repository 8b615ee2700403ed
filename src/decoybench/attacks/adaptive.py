"""Adaptive attacks: the attacker knows the detector, its weights and its threshold.

A defended system reaches an attack as a `DetectorAwareClassifier`: its forward pass is the
deployed classifier's logits Z(x), and `detection_margin(x)` is the detector's margin at
the calibrated threshold (> 0 exactly where the detector flags x, differentiable; see
`decoybench.defenses.system.AttackableDetector`). An attack succeeds on such a model only
where x' is misclassified *and* not flagged (`decoybench.attacks.base.Attack.__call__`).

Two generic attacks on every detector:

- **G(x)**, the detector as an extra logit (Carlini & Wagner 2017, "Adversarial examples are
  not easily detected", Sec. 3): G(x) = [Z_1(x), …, Z_K(x), max_j Z_j(x) + margin(x)], so
  argmax G = K ("detected") exactly where margin(x) > 0, and class t wins exactly where Z
  says t and the detector is silent. Carlini & Wagner's product form (Z_D(x) + 1)·max_j Z_j
  flips sign when max_j Z_j < 0 (log-probability outputs, such as the attractor's M, always
  are); the additive form keeps the exact equivalence. G is attacked *targeted* (class t
  ≠ y means fooled and undetected at once): untargeted, t is the runner-up class of Z on
  the clean input. The solvers are Foolbox's (`CombinedLinfPGD`, `CombinedCarliniWagnerL2`).
- **Orthogonal PGD** (Bryniarski, Hingun, Pachuca, Wang & Carlini, ICLR 2022, "Evading
  adversarial example detection defenses with orthogonal projected gradient descent",
  Alg. 1, selective form): while x' is classified right, step along the classifier loss's
  gradient with its component along the detector's gradient projected out; once fooled,
  step down the detector margin with its component along the classifier loss's gradient
  projected out. L∞ steps take the sign, L2 steps the normalized direction; each sample
  keeps, of its misclassified iterates, the one of lowest margin (successful where that
  margin is ≤ 0; scored at a higher threshold it may still pass), else the clean input.
  Custom: no library (Foolbox, torchattacks, ART) implements it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar

import torch
from torch import Tensor, nn

from decoybench.attacks import foolbox_attacks as fb
from decoybench.attacks.base import Attack, detection_margin, project
from decoybench.attacks.bpda import bpda
from decoybench.attacks.iterative import random_start

__all__ = [
    "CombinedCarliniWagnerL2",
    "CombinedLinfPGD",
    "CombinedLogits",
    "DetectorAwareClassifier",
    "OrthogonalPGD",
    "OrthogonalPGDL2",
    "detection_margin",
    "runner_up",
]


class DetectorAwareClassifier(nn.Module):
    """A deployed classifier with the detector an adaptive attacker knows: forward = the
    classifier's logits; `detection_margin(x)` > 0 exactly where the detector flags x."""

    def __init__(self, classifier: nn.Module, margin: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.classifier = classifier
        self._margin = margin

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(x)

    def detection_margin(self, x: Tensor) -> Tensor:
        return self._margin(x).to(x.dtype).reshape(len(x))


class CombinedLogits(nn.Module):
    """G(x) = [Z(x), max_j Z_j(x) + margin(x)] (module docstring); the classifier alone
    where `model` carries no detector."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        logits = self.model(x)
        margin = detection_margin(self.model, x)
        if margin is None:
            return logits
        detected = logits.amax(dim=1) + margin.to(logits.dtype)
        return torch.cat([logits, detected.unsqueeze(1)], dim=1)


@torch.no_grad()
def runner_up(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """The class other than y with the largest logit on x: the untargeted G(x) target."""
    logits = model(x).clone()
    logits.scatter_(1, y.view(-1, 1), float("-inf"))
    return logits.argmax(dim=1)


@contextmanager
def traced(
    module: nn.Module, objective: Callable[[Tensor], Tensor], trace: list[float], size: int
) -> Iterator[None]:
    """While open, append the batch mean of `objective(output)` to `trace` at each forward
    pass of `module` on a batch of `size` inputs: a solver's loss trace, for solvers (such
    as Foolbox's) that keep theirs to themselves."""

    def hook(_module: nn.Module, _inputs: object, output: Tensor) -> None:
        if len(output) == size:
            trace.append(float(objective(output.detach()).mean()))

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


class _OnCombinedLogits:
    """Mixin: run the Foolbox solver of the parent class on G(x), targeted. `loss_trace`
    holds, per forward pass of G, the batch mean of G_t − max_{j≠t} G_j (> 0: class t wins,
    undetected)."""

    targeted_modes: ClassVar[tuple[str, ...]] = fb.ALL_MODES

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        target = runner_up(model, x, y) if target is None else target
        combined = CombinedLogits(model).eval()
        trace: list[float] = []
        self.loss_trace = {"combined_objective": trace}
        objective = lambda g: _classifier_objective(g, y, target)  # noqa: E731
        with bpda(model), traced(combined, objective, trace, len(x)):
            return super().run(combined, x, y, target, generator)  # type: ignore[misc]


class CombinedLinfPGD(_OnCombinedLogits, fb.LinfPGD):
    """L∞ PGD on G(x) (Carlini & Wagner 2017, Sec. 3): Foolbox `LinfPGD`, targeted."""

    name = "combined_linf_pgd"


class CombinedCarliniWagnerL2(_OnCombinedLogits, fb.CarliniWagnerL2):
    """C&W L2 on G(x) (Carlini & Wagner 2017, Sec. 3): Foolbox `L2CarliniWagnerAttack`,
    targeted; blank outputs count as failures as for `cw2`."""

    name = "combined_cw2"


def _classifier_objective(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """Per-sample margin loss to ascend: max_{j≠y} Z_j − Z_y, or Z_t − max_{j≠t} Z_j."""
    anchor = y if target is None else target
    own = logits.gather(1, anchor.view(-1, 1)).squeeze(1)
    others = logits.scatter(1, anchor.view(-1, 1), float("-inf")).amax(dim=1)
    return others - own if target is None else own - others


def _fooled(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    predicted = logits.argmax(dim=1)
    return predicted != y if target is None else predicted == target


def _orthogonal(a: Tensor, b: Tensor) -> Tensor:
    """a with its component along b removed, per sample: a − (⟨a, b⟩/‖b‖²)·b."""
    flat_a, flat_b = a.flatten(1), b.flatten(1)
    coefficient = (flat_a * flat_b).sum(dim=1) / flat_b.pow(2).sum(dim=1).clamp_min(1e-30)
    return (flat_a - coefficient.unsqueeze(1) * flat_b).view_as(a)


class OrthogonalPGD(Attack):
    """Orthogonal PGD, L∞ (Bryniarski et al. 2022; module docstring). On a model without a
    detector it is PGD on the margin loss. `loss_trace` holds, per step, the batch mean of
    the classifier objective and of the detection margin."""

    name = "opgd_linf"
    norm = "linf"
    targeted_modes: ClassVar[tuple[str, ...]] = fb.ALL_MODES

    def __init__(
        self,
        epsilon: float,
        steps: int = 100,
        abs_stepsize: float = 0.01,
        random_start: bool = True,
    ) -> None:
        self.epsilon = float(epsilon)
        self.steps = int(steps)
        self.abs_stepsize = float(abs_stepsize)
        self.random_start = bool(random_start)
        self.loss_trace: dict[str, list[float]] = {}

    def _direction(self, gradient: Tensor) -> Tensor:
        return gradient.sign()

    def _start(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if not self.random_start:
            return x.clone()
        return random_start(x, self.norm, self.epsilon, generator)

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        self.loss_trace = {"classifier_objective": [], "detection_margin": []}
        current = self._start(x, generator)
        best, best_margin = x.clone(), torch.full((len(x),), float("inf"), device=x.device)
        with bpda(model):
            for _ in range(self.steps):
                step = self._step(model, x, y, target, current, best, best_margin)
                current = project(
                    x, (current + self.abs_stepsize * step).detach(), self.norm, self.epsilon
                )
            self._keep_successful(model, current, y, target, best, best_margin)
        return best, torch.full((len(x),), self.steps + 1, dtype=torch.long)

    def _step(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        current: Tensor,
        best: Tensor,
        best_margin: Tensor,
    ) -> Tensor:
        """Record `current` where it succeeds; the direction of the next step."""
        current = current.detach().requires_grad_(True)
        logits = model(current)
        objective = _classifier_objective(logits, y, target)
        margin = detection_margin(model, current)
        fooled = _fooled(logits, y, target).detach()
        (classifier_gradient,) = torch.autograd.grad(objective.sum(), current, retain_graph=True)
        self.loss_trace["classifier_objective"].append(float(objective.detach().mean()))
        if margin is None:
            _record(current, fooled, torch.zeros_like(objective), best, best_margin)
            return self._direction(classifier_gradient)
        (detector_gradient,) = torch.autograd.grad((-margin).sum(), current)
        self.loss_trace["detection_margin"].append(float(margin.detach().mean()))
        _record(current, fooled, margin.detach(), best, best_margin)
        shape = (-1, *([1] * (x.dim() - 1)))
        direction = torch.where(
            fooled.view(shape),
            _orthogonal(detector_gradient, classifier_gradient),
            _orthogonal(classifier_gradient, detector_gradient),
        )
        return self._direction(direction)

    def _keep_successful(
        self,
        model: nn.Module,
        current: Tensor,
        y: Tensor,
        target: Tensor | None,
        best: Tensor,
        best_margin: Tensor,
    ) -> None:
        with torch.no_grad():
            fooled = _fooled(model(current), y, target)
            margin = detection_margin(model, current)
        margin = torch.zeros(len(current), device=current.device) if margin is None else margin
        _record(current, fooled, margin, best, best_margin)


def _record(
    candidate: Tensor, fooled: Tensor, margin: Tensor, best: Tensor, best_margin: Tensor
) -> None:
    """In place: keep `candidate` where it fools the classifier with a lower detection
    margin than the best so far."""
    better = fooled & (margin.to(best_margin.dtype) < best_margin)
    best[better] = candidate.detach()[better].to(best.dtype)
    best_margin[better] = margin.to(best_margin.dtype)[better]


class OrthogonalPGDL2(OrthogonalPGD):
    """Orthogonal PGD, L2 (Bryniarski et al. 2022): steps along the normalized direction."""

    name = "opgd_l2"
    norm = "l2"

    def __init__(
        self,
        epsilon: float,
        steps: int = 100,
        abs_stepsize: float = 0.1,
        random_start: bool = True,
    ) -> None:
        super().__init__(epsilon, steps, abs_stepsize, random_start)

    def _direction(self, gradient: Tensor) -> Tensor:
        norms = gradient.flatten(1).norm(dim=1).clamp_min(1e-12)
        return gradient / norms.view(-1, *([1] * (gradient.dim() - 1)))
