"""Trapdoor (Shan, Wenger, Wang, Li, Zheng & Zhao, CCS 2020, "Gotta Catch 'Em All: Using
Honeypots to Catch Adversarial Attacks on Neural Networks") as a baseline detector.

The defender plants one backdoor ("trapdoor") per label in the model during training, so that
an attacker's gradient search is drawn towards the trapdoor, then recognises adversarial
inputs by the trapdoor's neuron activation signature.

Triggers. A trigger for target label t is a binary mask m (a square patch of `mask_size` x
`mask_size` pixels at a random position, shared by all channels) and a pattern p (uniform
random values in [0, 1] inside the patch; outside it p is 0 and irrelevant). Injection with
mask ratio r ∈ [0, 1] (the trigger's opacity) is the convex combination

    inject(x) = (1 − r·m) ⊙ x + r·m ⊙ p,

so pixels outside the patch are untouched, r = 1 replaces the patch by p exactly, r = 0
leaves x unchanged, and values stay in [0, 1] when x and p do. All-label defense: one trigger
per label (`make_triggers`), each drawn independently from the same seeded generator.

Choices. `DEFAULT_MASK_SIZE = 6` (the paper's 6x6 pattern on MNIST-size images, at a random
location with random values); `DEFAULT_MASK_RATIO = 0.1`, the paper's ~0.1 transparency
(stated for CIFAR10), used for every dataset here: a faint trigger is what makes the trapdoor
a *shortcut* in feature space an attacker's perturbation falls into, rather than a visible
patch. Pass a larger ratio where a small model or short training cannot learn a trigger that
faint, or does not give it features apart from the natural ones: the unit test's 32-neuron
toy model learns a 0.5-ratio trigger, but only with an opaque one (1.0) on dim images do
triggered inputs sit closer to the signature than clean ones. `DEFAULT_INJECTION_RATIO = 0.1`
(the paper's fraction of each training batch replaced by trigger-injected copies).

Training (`train_trapdoored`): cross-entropy with Adam on batches drawn by a seeded
permutation; in each batch a fraction `injection_ratio` (round(ratio·B) samples, chosen by
the generator) is replaced by copies injected with the trigger of a uniformly drawn target
label and relabelled with that label (`trapdoored_batch`). The history reports, per epoch, the
mean loss, the accuracy on the clean part of the batch stream, and the trigger success (the
fraction of injected samples classified as their target) — both measured in train mode on the
batches as trained, i.e. before each step.

Signatures and detection. The trapdoor signature of label t is the mean (flattened)
activation vector of a layer over clean inputs injected with t's trigger (`neuron_signature`,
`build_signatures`); the layer is the model's last hidden layer, `model.features(x)`, unless a
module of the model is given (its output is then read with a forward hook). The score of an
input x is

    score(x) = cos( h(x), S_{ŷ(x)} ),   ŷ(x) = argmax f(x),

the cosine similarity between x's activations and the signature of the label the model
predicts for x: the paper compares with the signature of the attack's target label, which in
the untargeted case (or whenever the target is unknown to the defender) is the predicted
label. Higher = more adversarial; thresholds at target FPRs come from
`ScoreDetector.calibrate` on clean validation inputs (the paper also picks its threshold from
the clean-input similarity distribution at a fixed FPR). An input whose predicted label has no
signature (a partial defense) scores −1, the lowest cosine, and is never flagged.

Left out: the paper's neuron sampling (comparing a random subset of neurons, against
adaptive attackers) and its multiple-pattern / clustered-label variants.

Why custom: the authors' code (github.com/Shawn-Shan/trapdoor) is TensorFlow / Keras, and the
defense is a few lines of torch on top of the project's `Classifier` models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from decoybench.models.architectures import Classifier
from decoybench.models.loop import Epoch, run_epochs
from decoybench.papers.baselines.detector import ScoreDetector, check_positive_int, placement

__all__ = [
    "DEFAULT_INJECTION_RATIO",
    "DEFAULT_MASK_RATIO",
    "DEFAULT_MASK_SIZE",
    "TrapdoorBatch",
    "TrapdoorDetector",
    "Trigger",
    "build_signatures",
    "inject",
    "make_trigger",
    "make_triggers",
    "neuron_signature",
    "train_trapdoored",
    "trapdoored_batch",
]

#: The paper's 6x6 trigger patch on MNIST-size images.
DEFAULT_MASK_SIZE = 6
#: The paper's ~0.1 trigger transparency (CIFAR10), used for every dataset here.
DEFAULT_MASK_RATIO = 0.1
#: The paper's fraction of each training batch replaced by trigger-injected copies.
DEFAULT_INJECTION_RATIO = 0.1


@dataclass(frozen=True)
class Trigger:
    """One trapdoor trigger: `mask` (1, H, W) in {0, 1}, `pattern` (C, H, W) in [0, 1] (zero
    outside the mask), and the target `label` injected inputs are relabelled with."""

    mask: Tensor
    pattern: Tensor
    label: int


class TrapdoorBatch(NamedTuple):
    """A training batch with trapdoors: inputs, labels, and which samples were injected."""

    x: Tensor
    y: Tensor
    injected: Tensor


def _check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    dims = tuple(shape)
    if len(dims) != 3 or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise ValueError(f"shape must be (C, H, W) of positive integers, got {shape!r}")
    return dims  # type: ignore[return-value]


def _check_ratio(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def make_trigger(
    shape: Sequence[int], *, mask_size: int, generator: torch.Generator, label: int
) -> Trigger:
    """A random trigger for target `label` on images of `shape` (C, H, W): a `mask_size`
    square patch at a uniformly random position, filled with uniform random values."""
    channels, height, width = _check_shape(shape)
    if (
        isinstance(mask_size, bool)
        or not isinstance(mask_size, int)
        or not 1 <= mask_size <= min(height, width)
    ):
        raise ValueError(
            f"mask_size must be an integer in 1..{min(height, width)}, got {mask_size!r}"
        )
    top = int(torch.randint(0, height - mask_size + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - mask_size + 1, (1,), generator=generator))
    mask = torch.zeros(1, height, width)
    mask[:, top : top + mask_size, left : left + mask_size] = 1.0
    pattern = torch.rand(channels, height, width, generator=generator) * mask
    return Trigger(mask=mask, pattern=pattern, label=int(label))


def make_triggers(
    num_classes: int,
    shape: Sequence[int],
    *,
    mask_size: int = DEFAULT_MASK_SIZE,
    generator: torch.Generator,
) -> list[Trigger]:
    """One trigger per label 0..num_classes−1 (the all-label defense), drawn in label order."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return [
        make_trigger(shape, mask_size=mask_size, generator=generator, label=label)
        for label in range(num_classes)
    ]


def _blend(x: Tensor, mask: Tensor, pattern: Tensor, mask_ratio: float) -> Tensor:
    weight = mask.to(device=x.device, dtype=x.dtype) * mask_ratio
    return (1.0 - weight) * x + weight * pattern.to(device=x.device, dtype=x.dtype)


def inject(x: Tensor, trigger: Trigger, mask_ratio: float = DEFAULT_MASK_RATIO) -> Tensor:
    """(1 − r·m) ⊙ x + r·m ⊙ p for an image (C, H, W) or a batch (N, C, H, W)."""
    ratio = _check_ratio(mask_ratio, "mask_ratio")
    if x.ndim not in (3, 4) or tuple(x.shape[-3:]) != tuple(trigger.pattern.shape):
        raise ValueError(
            f"expected images of shape (N,) {tuple(trigger.pattern.shape)}, got {tuple(x.shape)}"
        )
    return _blend(x, trigger.mask, trigger.pattern, ratio)


def trapdoored_batch(
    x: Tensor,
    y: Tensor,
    triggers: Sequence[Trigger],
    injection_ratio: float = DEFAULT_INJECTION_RATIO,
    generator: torch.Generator | None = None,
    *,
    mask_ratio: float = DEFAULT_MASK_RATIO,
) -> TrapdoorBatch:
    """The batch with round(injection_ratio·B) samples (chosen by `generator`) replaced by
    copies injected with the trigger of a uniformly drawn target, relabelled with it."""
    ratio = _check_ratio(injection_ratio, "injection_ratio")
    if not triggers:
        raise ValueError("trapdoored_batch needs at least one trigger")
    if x.ndim != 4 or len(x) != len(y):
        raise ValueError(
            f"expected NCHW images and N labels, got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    count = round(ratio * len(x))
    chosen = torch.randperm(len(x), generator=generator)[:count]
    picks = torch.randint(0, len(triggers), (count,), generator=generator)
    masks = torch.stack([t.mask for t in triggers])[picks]
    patterns = torch.stack([t.pattern for t in triggers])[picks]
    targets = torch.tensor([t.label for t in triggers], dtype=y.dtype)[picks]
    chosen = chosen.to(x.device)
    x_out, y_out = x.clone(), y.clone()
    x_out[chosen] = _blend(x[chosen], masks, patterns, _check_ratio(mask_ratio, "mask_ratio"))
    y_out[chosen] = targets.to(y.device)
    injected = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    injected[chosen] = True
    return TrapdoorBatch(x_out, y_out, injected)


def train_trapdoored(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    triggers: Sequence[Trigger],
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    injection_ratio: float = DEFAULT_INJECTION_RATIO,
    mask_ratio: float = DEFAULT_MASK_RATIO,
    generator: torch.Generator,
) -> list[dict[str, float]]:
    """Train `model` in place (cross-entropy, Adam) with trapdoors injected in every batch;
    returns per epoch {"epoch", "loss", "clean_accuracy", "trigger_success"}."""
    for key, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError("images and labels must be non-empty and of the same length")
    device, dtype = placement(model)

    def step(data: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, float]]:
        batch = trapdoored_batch(
            data[0], data[1], triggers, injection_ratio, generator, mask_ratio=mask_ratio
        )
        x = batch.x.to(device=device, dtype=dtype)
        y = batch.y.to(device=device, dtype=torch.long)
        injected = batch.injected.to(device)
        logits = model(x)
        hits = logits.detach().argmax(dim=1) == y
        totals = {
            "clean_hits": float(hits[~injected].sum()),
            "clean_count": float((~injected).sum()),
            "trap_hits": float(hits[injected].sum()),
            "trap_count": float(injected.sum()),
        }
        return F.cross_entropy(logits, y), totals

    def summarize(epoch: Epoch) -> dict[str, float]:
        totals = epoch.totals
        return {
            "epoch": float(epoch.number),
            "loss": epoch.mean("loss"),
            "clean_accuracy": _ratio(totals["clean_hits"], totals["clean_count"]),
            "trigger_success": _ratio(totals["trap_hits"], totals["trap_count"]),
        }

    return run_epochs(
        step,
        (images, labels),
        epochs=epochs,
        batch_size=batch_size,
        generator=generator,
        optimizer=torch.optim.Adam(model.parameters(), lr=learning_rate),
        model=model,
        summarize=summarize,
        description="trapdoor epoch",
        show_progress=False,
    )


def _ratio(hits: float, count: float) -> float:
    return hits / count if count else math.nan


def _activations(model: nn.Module, x: Tensor, layer: nn.Module | None) -> tuple[Tensor, Tensor]:
    """(flattened activations of `layer` or `model.features`, logits), in no-grad mode."""
    if layer is None:
        hidden = model.features(x)  # type: ignore[operator]
        logits = model.head(hidden) if isinstance(model, Classifier) else model(x)
        return hidden.flatten(1), logits
    captured: list[Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out.clone()))
    try:
        logits = model(x)
    finally:
        handle.remove()
    if len(captured) != 1:
        raise ValueError(f"layer ran {len(captured)} times in one forward pass; expected once")
    return captured[0].flatten(1), logits


def neuron_signature(
    model: nn.Module, x_triggered: Tensor, layer: nn.Module | None = None
) -> Tensor:
    """The trapdoor signature: mean flattened activation of `layer` (default: the last hidden
    layer, `model.features`) over trigger-injected inputs of one label, on the CPU, float64."""
    if len(x_triggered) == 0:
        raise ValueError("a signature needs at least one trigger-injected input")
    model.eval()
    device, dtype = placement(model)
    with torch.no_grad():
        hidden, _ = _activations(model, x_triggered.to(device=device, dtype=dtype), layer)
    return hidden.to("cpu", torch.float64).mean(dim=0)


def build_signatures(
    model: nn.Module,
    clean_images: Tensor,
    triggers: Sequence[Trigger],
    mask_ratio: float = DEFAULT_MASK_RATIO,
    per_label: int = 100,
    layer: nn.Module | None = None,
) -> dict[int, Tensor]:
    """label -> signature, each from the first `per_label` clean images injected with that
    label's trigger."""
    if isinstance(per_label, bool) or not isinstance(per_label, int) or per_label < 1:
        raise ValueError(f"per_label must be a positive integer, got {per_label!r}")
    subset = clean_images[:per_label]
    return {
        trigger.label: neuron_signature(model, inject(subset, trigger, mask_ratio), layer)
        for trigger in triggers
    }


class TrapdoorDetector(ScoreDetector):
    """score(x) = cosine similarity between x's activations (default `model.features(x)`) and
    the trapdoor signature of the label the model predicts for x; −1 if that label has none.
    Inputs are scored in batches of `batch_size` on the model's device, in eval mode."""

    name = "trapdoor"

    def __init__(
        self,
        model: nn.Module,
        signatures: Mapping[int, Tensor],
        layer: nn.Module | None = None,
        batch_size: int = 500,
    ) -> None:
        super().__init__()
        if not signatures:
            raise ValueError("the trapdoor detector needs at least one signature")
        check_positive_int(batch_size, "batch_size")
        sizes = {tuple(s.reshape(-1).shape) for s in signatures.values()}
        if len(sizes) != 1:
            raise ValueError(f"signatures must all have the same size, got {sorted(sizes)}")
        self.model = model.eval()
        self.layer = layer
        self.batch_size = batch_size
        self.signatures = {int(k): v.detach().reshape(-1).cpu() for k, v in signatures.items()}

    def score(self, x: Tensor) -> Tensor:
        self.model.eval()
        device, dtype = placement(self.model)
        scores = []
        with torch.no_grad():
            for start in range(0, len(x), self.batch_size):
                batch = x[start : start + self.batch_size].to(device=device, dtype=dtype)
                hidden, logits = _activations(self.model, batch, self.layer)
                hidden = hidden.to("cpu", torch.float64)
                predicted = logits.argmax(dim=1).cpu()
                out = torch.full((len(batch),), -1.0, dtype=torch.float64)
                for label, signature in self.signatures.items():
                    rows = predicted == label
                    if rows.any():
                        reference = signature.to(torch.float64).expand_as(hidden[rows])
                        out[rows] = F.cosine_similarity(hidden[rows], reference, dim=1, eps=1e-12)
                scores.append(out)
        if not scores:
            return torch.zeros(0, dtype=torch.float64)
        return torch.cat(scores)

    def differentiable_score(self, x: Tensor) -> Tensor:
        """`score(x)`, float64 on x's device, differentiable in x; the predicted label is a
        constant of the forward pass (decoybench.papers.baselines.margins.trapdoor_score)."""
        from decoybench.papers.baselines.margins import trapdoor_score  # margins imports this

        return trapdoor_score(self, x)
