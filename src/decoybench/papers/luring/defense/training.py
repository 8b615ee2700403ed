"""Training the luring component P in front of a frozen target M (Bernhard et al., 2021):
Algorithm 1 with the luring loss, or one of the comparison approaches (Sec. 3.1); items 7-8
and 11 of `decoybench.papers.luring.defense`."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import torch
from torch import Tensor, nn

from decoybench.models.loop import Epoch, run_epochs
from decoybench.papers.luring.defense.augmented import AugmentedModel, agreement
from decoybench.papers.luring.defense.loss import (
    autoencoder_loss,
    cross_entropy_loss,
    luring_loss,
    stack_loss,
)
from decoybench.papers.luring.defense.schedules import APPROACHES, ComponentRecipe

__all__ = ["train_component"]


def _check_images(images: Tensor, what: str) -> None:
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        raise ValueError(f"{what} must be a float (N, C, H, W) tensor in [0, 1] (see to_float)")
    if images.numel() and (float(images.min()) < 0.0 or float(images.max()) > 1.0):
        raise ValueError(f"{what} must lie in [0, 1]")


@contextmanager
def _global_rng_seeded_from(generator: torch.Generator, device: torch.device) -> Iterator[None]:
    """Seed the global RNG (dropout, re-initialization) from `generator`; restore it after."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    devices: list[int] = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _reset_parameters(module: nn.Module) -> None:
    for child in module.modules():
        if child is not module and hasattr(child, "reset_parameters"):
            child.reset_parameters()


def _augmented_for(
    approach: str, component: nn.Module, target: nn.Module, reinitialize: bool
) -> AugmentedModel:
    if approach != "stack":
        return AugmentedModel(component, target)
    trainable = copy.deepcopy(target).requires_grad_(True)
    if reinitialize:
        _reset_parameters(trainable)
    return AugmentedModel(component, trainable, freeze_target=False)


@torch.no_grad()
def _logits(model: nn.Module, images: Tensor, batch_size: int, device: torch.device) -> Tensor:
    """h^M on all images (model in eval mode), on the CPU."""
    model.eval()
    chunks = [
        model(images[start : start + batch_size].to(device)).cpu()
        for start in range(0, len(images), batch_size)
    ]
    return torch.cat(chunks)


def _training_targets(
    approach: str,
    target: nn.Module,
    images: Tensor,
    labels: Tensor | None,
    batch_size: int,
    device: torch.device,
) -> Tensor:
    """What each batch is compared with: M's logits (luring, C.E), labels (Stack), x (Auto)."""
    if approach == "stack":
        if labels is None or len(labels) != len(images):
            raise ValueError("the stack approach needs train_labels, one per training image")
        return torch.as_tensor(labels, dtype=torch.long)
    if approach == "auto":
        return images
    return _logits(target, images, batch_size, device)


def _batch_loss(
    approach: str, model: AugmentedModel, inputs: Tensor, targets: Tensor, recipe: ComponentRecipe
) -> Tensor:
    if approach == "auto":
        return autoencoder_loss(model.component(inputs), targets)
    logits = model(inputs)
    if approach == "luring":
        return luring_loss(logits, targets, recipe.luring_coefficient, b_class=recipe.b_class)
    if approach == "stack":
        return stack_loss(logits, targets)
    return cross_entropy_loss(logits, targets)


def _fit(
    approach: str,
    model: AugmentedModel,
    reference: nn.Module,
    data: tuple[Tensor, Tensor],
    recipe: ComponentRecipe,
    generator: torch.Generator,
    validation_images: Tensor | None,
    progress: TextIO | None,
) -> list[dict[str, float]]:
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    device = next(model.parameters()).device

    def step(batch: tuple[Tensor, ...]) -> Tensor:
        inputs, targets = batch[0].to(device), batch[1].to(device)
        return _batch_loss(approach, model, inputs, targets, recipe)

    def summarize(epoch: Epoch) -> dict[str, float]:
        record = {
            "epoch": epoch.number,
            "learning_rate": epoch.learning_rate,
            "train_loss": epoch.mean("loss"),
        }
        if validation_images is not None:
            record["val_agreement"] = agreement(
                model, reference, validation_images, recipe.batch_size
            ).value
        return record

    return run_epochs(
        step,
        data,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        generator=generator,
        optimizer=recipe.training_recipe().make_optimizer(trainable),
        model=model,
        learning_rate=recipe.learning_rate_at,
        summarize=summarize,
        description=f"{approach} epoch",
        progress=progress,
    )


def train_component(
    approach: str,
    component: nn.Module,
    target: nn.Module,
    train_images: Tensor,
    *,
    recipe: ComponentRecipe,
    generator: torch.Generator,
    validation_images: Tensor | None = None,
    progress: TextIO | None = None,
    train_labels: Tensor | None = None,
    reinitialize: bool = False,
) -> dict[str, Any]:
    """Train P (`component`, in place) for `approach` in front of M (`target`).

    "luring": Algorithm 1 with Eq. 2 (M's predictions, no labels; λ and class b from
    `recipe.luring_coefficient` and `recipe.b_class`); "cross_entropy": C.E;
    "auto": P as an autoencoder; "stack": P and a copy of M on `train_labels` (item 8).
    Images are float (N, C, H, W) in [0, 1]; training runs on M's device and is
    deterministic given `generator` (batch order, dropout masks). Returns {"approach",
    "history": per-epoch {epoch, learning_rate, train_loss[, val_agreement]} with
    val_agreement = `agreement`(M∘P, M) on `validation_images`, "model": the trained M∘P
    in eval mode}.
    """
    if approach not in APPROACHES:
        raise ValueError(f"approach {approach!r} is not one of {', '.join(APPROACHES)}")
    _check_images(train_images, "train_images")
    if validation_images is not None:
        _check_images(validation_images, "validation_images")
    device = next(target.parameters()).device
    component.to(device)
    with _global_rng_seeded_from(generator, device):
        model = _augmented_for(approach, component, target, reinitialize)
        data = (
            train_images,
            _training_targets(
                approach, target, train_images, train_labels, recipe.batch_size, device
            ),
        )
        history = _fit(
            approach, model, target, data, recipe, generator, validation_images, progress
        )
    model.eval()
    return {"approach": approach, "history": history, "model": model}
