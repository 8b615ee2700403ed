"""Training of the multi-task defense: J_obj (Eq. 9), J′ (Eq. 10), the FGSM examples of each
step and the loop (items 3, 5 of `decoybench.papers.multitask.defense`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import torch
import torch.nn.functional as functional
from torch import Tensor, nn

from decoybench.models.loop import Epoch, run_epochs
from decoybench.papers.multitask.defense.model import MultitaskModel, MultitaskOutputs

__all__ = [
    "MultitaskRecipe",
    "auxiliary_objective",
    "fgsm_examples",
    "multitask_objective",
    "train_multitask",
]


def auxiliary_objective(
    auxiliary_clean: Tensor,
    auxiliary_adversarial: Tensor,
    robust_labels: Tensor,
    negative_cap: float,
) -> Tensor:
    """J′ of Eq. 10: ½ {J(x, y_robust) + J(x_adv, y_robust)}, the second a negative
    cross-entropy, capped per sample at `negative_cap` nats (item 3):
    ½ [mean CE(Z′(x), y_r) − mean min(CE(Z′(x_adv), y_r), cap)]."""
    positive = functional.cross_entropy(auxiliary_clean, robust_labels)
    negative = functional.cross_entropy(auxiliary_adversarial, robust_labels, reduction="none")
    return 0.5 * (positive - negative.clamp(max=negative_cap).mean())


def multitask_objective(
    clean: MultitaskOutputs,
    adversarial: MultitaskOutputs,
    labels: Tensor,
    robust_labels: Tensor,
    *,
    alpha: float = 0.4,
    beta: float = 0.4,
    gamma: float = 0.2,
    negative_cap: float = 2 * math.log(10),
) -> tuple[Tensor, dict[str, float]]:
    """J_obj of Eq. 9 = α J(x, y_true) + β J(x_adv, y_true) + γ J′(x, x_adv, y_robust),
    J the cross-entropy of the classification output Z* (item 5).

    Returns (J_obj, its three terms as floats).
    """
    benign = functional.cross_entropy(clean.combined, labels)
    adversarial_term = functional.cross_entropy(adversarial.combined, labels)
    auxiliary = auxiliary_objective(
        clean.auxiliary, adversarial.auxiliary, robust_labels, negative_cap
    )
    total = alpha * benign + beta * adversarial_term + gamma * auxiliary
    parts = {
        "benign": float(benign.detach()),
        "adversarial": float(adversarial_term.detach()),
        "auxiliary": float(auxiliary.detach()),
    }
    return total, parts


def fgsm_examples(model: nn.Module, x: Tensor, labels: Tensor, epsilon: float) -> Tensor:
    """FGSM (Eq. 7) on `model`'s logits: clip(x + ε sgn ∇x CE(model(x), y), 0, 1).

    Used inside the training step, where the paper uses its own FGSM too: a Foolbox call per
    batch would re-wrap the model at every step for the same single gradient.
    """
    x = x.detach().clone().requires_grad_(True)
    loss = functional.cross_entropy(model(x), labels)
    (gradient,) = torch.autograd.grad(loss, x)
    return (x + epsilon * gradient.sign()).clamp(0.0, 1.0).detach()


@dataclass(frozen=True)
class MultitaskRecipe:
    """Training of the defended model (one `defenses.multitask` config entry's recipe keys)."""

    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    alpha: float = 0.4
    beta: float = 0.4
    gamma: float = 0.2
    training_epsilon: float = 0.1
    negative_cap: float = 2 * math.log(10)

    def __post_init__(self) -> None:
        if not math.isclose(self.alpha + self.beta + self.gamma, 1.0, abs_tol=1e-9):
            raise ValueError(
                f"alpha + beta + gamma must add up to 1 (Eq. 9), got "
                f"{self.alpha} + {self.beta} + {self.gamma}"
            )
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def _validation_record(model: MultitaskModel, images: Tensor, labels: Tensor) -> dict[str, float]:
    main, _, detected = model.predict_with_detection(images)
    return {
        "val_accuracy": float((main == labels).float().mean()),
        "val_misdetection": float(detected.float().mean()),
    }


def train_multitask(
    model: MultitaskModel,
    train_images: Tensor,
    train_labels: Tensor,
    recipe: MultitaskRecipe,
    *,
    generator: torch.Generator,
    validation: tuple[Tensor, Tensor] | None = None,
    progress: TextIO | None = None,
) -> list[dict[str, float]]:
    """Minimise J_obj (Eq. 9) with Adam over seeded batches; each step crafts the batch's FGSM
    examples on the current model (item 5). Trains `model` in place on its device and
    returns the per-epoch history (losses, train accuracy, validation accuracy and benign
    mis-detection rate when `validation` = (images, labels) is given)."""
    device = model.classmap.device
    robust_of = model.classmap
    optimizer = torch.optim.Adam(
        model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay
    )

    def step(batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, float]]:
        x, y = batch[0].to(device), batch[1].to(device)
        model.eval()
        x_adv = fgsm_examples(model, x, y, recipe.training_epsilon)
        model.train()
        clean, adversarial = model.heads(x), model.heads(x_adv)
        loss, parts = multitask_objective(
            clean,
            adversarial,
            y,
            robust_of[y],
            alpha=recipe.alpha,
            beta=recipe.beta,
            gamma=recipe.gamma,
            negative_cap=recipe.negative_cap,
        )
        totals = {name: value * len(y) for name, value in parts.items()}
        totals["correct"] = int((clean.combined.argmax(dim=1) == y).sum())
        return loss, totals

    def summarize(epoch: Epoch) -> dict[str, float]:
        record: dict[str, float] = {
            "epoch": epoch.number,
            **{
                f"train_{name}": epoch.mean(name)
                for name in ("loss", "benign", "adversarial", "auxiliary")
            },
            "train_accuracy": epoch.mean("correct"),
        }
        model.eval()
        if validation is not None:
            record.update(_validation_record(model, *validation))
        return record

    return run_epochs(
        step,
        (train_images, train_labels),
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        generator=generator,
        optimizer=optimizer,
        model=model,
        summarize=summarize,
        progress=progress,
    )
