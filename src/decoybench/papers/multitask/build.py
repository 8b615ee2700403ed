"""Build the collaborative multi-task defense (Wang et al., 2019) around a trained oracle.

Steps (Sec. III): FGSM examples of the training split on the oracle (Foolbox's FGSM, Eq. 7),
the Classmap from the oracle's softmax on them (Eq. 6, 8), the defended model grown from the
oracle and trained with J_obj (Eq. 9), then the paper's Table VI on the test split: benign
accuracy of the oracle and of the defended model, and the benign mis-detection rate.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import torch

from decoybench.attacks.registry import build as build_attack
from decoybench.data import load_split, read_manifest
from decoybench.io import write_text
from decoybench.metrics import accuracy, false_positive_rate
from decoybench.models.architectures import build_model
from decoybench.models.checkpoint import load_checkpoint
from decoybench.models.training import predict, predict_logits
from decoybench.papers.multitask.checkpoint import save_multitask
from decoybench.papers.multitask.defense.classmap import PAIRINGS, Classmap, build_classmap
from decoybench.papers.multitask.defense.model import MultitaskModel
from decoybench.papers.multitask.defense.training import MultitaskRecipe, train_multitask
from decoybench.runtime import derive_seed, seed_everything, to_float

__all__ = [
    "RECIPE_KEYS",
    "SETTINGS_KEYS",
    "build_multitask_defense",
    "oracle_classmap",
    "write_classmap_table",
]

RECIPE_KEYS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(MultitaskRecipe))
# `paper_dataset` only chooses the paper numbers the tables print beside ours.
SETTINGS_KEYS: tuple[str, ...] = (
    "paper_dataset",
    "classmap_epsilon",
    "pairing",
    "lock_hidden",
    "initialize",
    *RECIPE_KEYS,
)
INITIALIZATIONS = ("oracle", "scratch")


def _check_settings(settings: dict[str, Any]) -> None:
    unknown = sorted(set(settings) - set(SETTINGS_KEYS))
    if unknown:
        raise ValueError(
            f"unknown multitask setting(s): {', '.join(unknown)}; allowed: "
            f"{', '.join(SETTINGS_KEYS)}"
        )
    if settings.get("pairing", "most_likely") not in PAIRINGS:
        raise ValueError(
            f"multitask setting pairing={settings['pairing']!r}; allowed: {', '.join(PAIRINGS)}"
        )
    if settings.get("initialize", "oracle") not in INITIALIZATIONS:
        raise ValueError(
            f"multitask setting initialize={settings['initialize']!r}; allowed: "
            f"{', '.join(INITIALIZATIONS)}"
        )


def oracle_classmap(
    oracle: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epsilon: float,
    pairing: str,
    num_classes: int,
    batch_size: int = 500,
) -> tuple[Classmap, float]:
    """Sec. III-B: FGSM (Foolbox, ε = `epsilon`) on every image, the oracle's softmax on the
    results, the Classmap of Eq. 8. Returns (classmap, FGSM success rate on the oracle)."""
    attack = build_attack("fgsm", epsilon=epsilon)
    device = next(oracle.parameters()).device
    adversarial = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(device)
        y = labels[start : start + batch_size].to(device)
        adversarial.append(attack(oracle, x, y).x_adv)
    x_adv = torch.cat(adversarial)
    probabilities = torch.softmax(predict_logits(oracle, x_adv), dim=1).double().numpy()
    classmap = build_classmap(probabilities, labels.numpy(), num_classes, pairing)
    fooled = float((probabilities.argmax(axis=1) != labels.numpy()).mean())
    return classmap, fooled


def _grow_and_train(
    oracle: torch.nn.Module,
    oracle_sidecar: dict[str, Any],
    classmap: Classmap,
    train: tuple[torch.Tensor, torch.Tensor],
    validation: tuple[torch.Tensor, torch.Tensor],
    recipe: MultitaskRecipe,
    *,
    image_shape: tuple[int, int],
    training_seed: int,
    settings: dict[str, Any],
    device: torch.device,
    progress: TextIO | None,
) -> tuple[MultitaskModel, list[dict[str, float]], float]:
    """The defended model (Sec. III-C), seeded by `training_seed`: the oracle's architecture
    (with its trained weights unless `settings` initialize is "scratch") grown with Z′ and the
    gradient lock (`settings` lock_hidden), then trained with J_obj (Eq. 9). `image_shape`:
    (channels, height). Returns (model, history, training seconds)."""
    generator = seed_everything(training_seed)  # also Z′, g and (scratch) base initialisation
    channels, height = image_shape
    base = build_model(
        oracle_sidecar["architecture"],
        in_channels=channels,
        image_size=height,
        num_classes=int(oracle_sidecar["num_classes"]),
    )
    if settings.get("initialize", "oracle") == "oracle":
        base.load_state_dict(oracle.state_dict())
    model = MultitaskModel(base, classmap, settings.get("lock_hidden", 32)).to(device)
    started = time.perf_counter()
    history = train_multitask(
        model, *train, recipe, generator=generator, validation=validation, progress=progress
    )
    return model, history, time.perf_counter() - started


def _table6(
    oracle: torch.nn.Module,
    model: MultitaskModel,
    classmap: Classmap,
    x_test: torch.Tensor,
    labels: torch.Tensor,
) -> dict[str, Any]:
    """Table VI and Sec. IV-E on the test split: benign accuracy of the oracle and of the
    defended model, the benign mis-detection rate and the auxiliary pair rate."""
    main, auxiliary, detected = model.predict_with_detection(x_test)
    undetected = ~detected
    return {
        "accuracy_oracle": accuracy(predict(oracle, x_test), labels).as_dict(),
        "accuracy_defended": accuracy(main, labels).as_dict(),
        # Sec. IV-E: "the accuracy of the output classification label through Z, given the set
        # of correctly identified normal examples" (the benign inputs not flagged).
        "accuracy_defended_undetected": accuracy(main[undetected], labels[undetected]).as_dict(),
        "misdetection_rate": false_positive_rate(detected).as_dict(),
        "auxiliary_pair_rate": accuracy(
            auxiliary, torch.as_tensor(classmap.pairs)[labels]
        ).as_dict(),
    }


def build_multitask_defense(
    *,
    oracle_path: str | Path,
    data_dir: str | Path,
    settings: dict[str, Any],
    out: str | Path,
    device: torch.device,
    seed: int,
    progress: TextIO | None = None,
) -> dict[str, Any]:
    """Grow and train the defended model from the oracle at `oracle_path`; save it to `out`
    (.safetensors + sidecar, `save_multitask`) and return the Classmap and Table VI.

    `settings`: classmap_epsilon (FGSM ε of Sec. III-B, default 0.1), pairing (item 1 of
    `decoybench.papers.multitask.defense`), lock_hidden (gradient lock width, null for the
    lock-free Sec. III-C1 model; default 32), initialize (oracle or scratch) and the
    MultitaskRecipe keys. Training is seeded by derive_seed(seed, "multitask"). Returns
    {"classmap", "classmap_fgsm_success", "table6": {...}, "history", "seconds"}; rates are
    `Rate.as_dict()`.
    """
    _check_settings(settings)
    recipe = MultitaskRecipe(**{key: settings[key] for key in RECIPE_KEYS if key in settings})
    manifest = read_manifest(data_dir)
    oracle, oracle_sidecar = load_checkpoint(
        oracle_path, device=str(device), expected={"data_sha256": manifest["fingerprint"]}
    )
    oracle.eval()
    train, validation, test = (load_split(data_dir, split) for split in ("train", "val", "test"))
    train_images, train_labels = to_float(train.images), torch.as_tensor(train.labels)
    classmap, fgsm_success = oracle_classmap(
        oracle,
        train_images,
        train_labels,
        epsilon=float(settings.get("classmap_epsilon", 0.1)),
        pairing=settings.get("pairing", "most_likely"),
        num_classes=int(oracle_sidecar["num_classes"]),
    )
    training_seed = derive_seed(seed, "multitask")
    model, history, seconds = _grow_and_train(
        oracle,
        oracle_sidecar,
        classmap,
        (train_images, train_labels),
        (to_float(validation.images), torch.as_tensor(validation.labels)),
        recipe,
        image_shape=train.shape[:2],
        training_seed=training_seed,
        settings=settings,
        device=device,
        progress=progress,
    )
    table6 = _table6(oracle, model, classmap, to_float(test.images), torch.as_tensor(test.labels))
    save_multitask(
        out,
        model,
        classmap,
        {
            "oracle_weights_sha256": oracle_sidecar["weights_sha256"],
            "oracle_name": oracle_sidecar.get("name"),
            "recipe": recipe.as_dict(),
            "classmap_epsilon": float(settings.get("classmap_epsilon", 0.1)),
            "classmap_fgsm_success": fgsm_success,
            "initialize": settings.get("initialize", "oracle"),
            "seed": seed,
            "training_seed": training_seed,
            "dataset": manifest.get("dataset"),
            "data_sha256": manifest["fingerprint"],
            "history": history,
            "table6": table6,
        },
    )
    return {
        "classmap": classmap.to_dict(),
        "classmap_fgsm_success": fgsm_success,
        "table6": table6,
        "history": history,
        "seconds": seconds,
        "negative_cap_nats": recipe.negative_cap if math.isfinite(recipe.negative_cap) else None,
    }


def write_classmap_table(
    classmap: dict[str, Any], csv_path: str | Path, markdown_path: str | Path
) -> pd.DataFrame:
    """The Classmap as a table artifact (Sec. III-B): per class, its paired label, how often
    the oracle gave each label to its FGSM examples, and p_i of Eq. 6; written atomically."""
    table = Classmap.from_dict(classmap)
    rows = []
    for label, paired in enumerate(table.pairs):
        row: dict[str, Any] = {"class": label, "paired_label": paired}
        row.update({f"count_{j}": int(table.counts[label, j]) for j in range(table.num_classes)})
        row.update({f"p_{j}": float(table.confidence[label, j]) for j in range(table.num_classes)})
        rows.append(row)
    frame = pd.DataFrame(rows)
    write_text(csv_path, frame.to_csv(index=False))
    shown = frame[["class", "paired_label"]].copy()
    shown["top confidences (Eq. 6)"] = [
        ", ".join(
            f"{j}: {table.confidence[label, j]:.2f}"
            for j in np.argsort(-table.confidence[label])[:3]
        )
        for label in range(table.num_classes)
    ]
    caption = (
        f"Classmap (Eq. 8, pairing {table.pairing}): the label paired with each class, from "
        "the oracle's predictions on FGSM examples of the training split.\n\n"
    )
    write_text(markdown_path, caption + shown.to_markdown(index=False) + "\n")
    return frame
