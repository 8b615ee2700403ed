"""Supervised training of a registered architecture: deterministic by seed, tqdm progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import nn

from decoybench.config import config_hash
from decoybench.data import Split, load_split, read_manifest
from decoybench.metrics import accuracy as accuracy_rate
from decoybench.models.architectures import build_model
from decoybench.models.checkpoint import save_checkpoint
from decoybench.models.loop import Epoch, run_epochs
from decoybench.runtime import derive_seed, seed_everything, to_float


@dataclass(frozen=True)
class TrainingRecipe:
    """Optimiser and schedule of one model (one `models.<name>` config entry)."""

    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    momentum: float = 0.0
    weight_decay: float = 0.0
    lr_milestones: tuple[int, ...] = field(default_factory=tuple)
    lr_gamma: float = 0.1

    @classmethod
    def from_config(cls, entry: dict[str, Any]) -> TrainingRecipe:
        settings = {key: value for key, value in entry.items() if key != "architecture"}
        settings["lr_milestones"] = tuple(settings.get("lr_milestones", ()))
        return cls(**settings)

    def make_optimizer(self, parameters: Any) -> torch.optim.Optimizer:
        if self.optimizer == "sgd":
            return torch.optim.SGD(
                parameters,
                lr=self.learning_rate,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
            )
        if self.optimizer == "adam":
            return torch.optim.Adam(
                parameters, lr=self.learning_rate, weight_decay=self.weight_decay
            )
        raise ValueError(f"optimizer {self.optimizer!r} is not allowed; allowed values: sgd, adam")


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Logits of float images in [0, 1] (model in eval mode), batched, on the CPU."""
    device = next(model.parameters()).device
    return torch.cat(
        [
            model(images[start : start + batch_size].to(device)).cpu()
            for start in range(0, len(images), batch_size)
        ]
    )


def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted labels of float images in [0, 1] (model in eval mode), on the CPU."""
    if len(images) == 0:
        return torch.empty(0, dtype=torch.long)
    return predict_logits(model, images, batch_size).argmax(dim=1)


def accuracy(model: nn.Module, split: Split, batch_size: int = 500) -> float:
    """Top-1 accuracy of `model` on a canonical split."""
    model.eval()
    return accuracy_rate(predict(model, to_float(split.images), batch_size), split.labels).value


def train_classifier(
    model: nn.Module,
    train: Split,
    recipe: TrainingRecipe,
    *,
    generator: torch.Generator,
    device: torch.device,
    validation: Split | None = None,
    progress: TextIO | None = None,
) -> list[dict[str, float]]:
    """Cross-entropy training with seeded batch order; returns per-epoch history."""
    model.to(device)
    optimizer = recipe.make_optimizer(model.parameters())
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=list(recipe.lr_milestones), gamma=recipe.lr_gamma
    )
    loss_function = nn.CrossEntropyLoss()

    def step(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, targets = batch[0].to(device), batch[1].to(device)
        logits = model(inputs)
        loss = loss_function(logits, targets)
        return loss, {"correct": int((logits.argmax(dim=1) == targets).sum())}

    def summarize(epoch: Epoch) -> dict[str, float]:
        record = {
            "epoch": epoch.number,
            "train_loss": epoch.mean("loss"),
            "train_accuracy": epoch.mean("correct"),
        }
        if validation is not None:
            record["val_accuracy"] = accuracy(model, validation)
        return record

    return run_epochs(
        step,
        (to_float(train.images), torch.as_tensor(train.labels)),
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        generator=generator,
        optimizer=optimizer,
        model=model,
        scheduler=scheduler,
        summarize=summarize,
        progress=progress,
    )


def train_and_save(
    *,
    model_name: str,
    model_config: dict[str, Any],
    dataset: str,
    data_dir: str | Path,
    out: str | Path,
    seed: int,
    device: torch.device,
    progress: TextIO | None = None,
) -> dict[str, Any]:
    """Train `model_name` on data/{dataset} and write its checkpoint + sidecar atomically.

    The model's seed is derived from the global seed and its name, so the victim and the
    substitutes are independent draws yet each is reproducible. Returns the sidecar.
    """
    model_seed = derive_seed(seed, "train", dataset, model_name)
    generator = seed_everything(model_seed)
    manifest = read_manifest(data_dir)
    train, validation, test = (load_split(data_dir, split) for split in ("train", "val", "test"))
    channels, height, _ = train.shape
    model = build_model(
        model_config["architecture"],
        in_channels=channels,
        image_size=height,
        num_classes=manifest["num_classes"],
    )
    recipe = TrainingRecipe.from_config(model_config)
    history = train_classifier(
        model,
        train,
        recipe,
        generator=generator,
        device=device,
        validation=validation,
        progress=progress,
    )
    metadata = {
        "name": model_name,
        "architecture": model_config["architecture"],
        "dataset": dataset,
        "in_channels": channels,
        "image_size": height,
        "num_classes": manifest["num_classes"],
        "seed": seed,
        "model_seed": model_seed,
        "config_hash": config_hash(model_config),
        "training": model_config,
        "history": history,
        "val_accuracy": accuracy(model, validation),
        "test_accuracy": accuracy(model, test),
        "data_sha256": manifest["fingerprint"],
        "parameters": sum(parameter.numel() for parameter in model.parameters()),
    }
    return save_checkpoint(out, model, metadata)
