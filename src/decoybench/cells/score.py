"""Evaluate one adversarial set on its target system: one cell of a results table.

In a white-box setting (whitebox, forensic, integrated) the target is the crafting system
itself; in a transfer setting the set was crafted on a substitute and only its transfer to
the target counts. Defenses with a forensic analyzer add detection and recovery metrics;
luring adds its Eq. 3-4 rates, multitask the Classmap detector's and the bare oracle's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from decoybench.attacks.base import degenerate
from decoybench.attacks.registry import build_from_config
from decoybench.cells.adaptive import clean_rejections, defender_outcome
from decoybench.cells.deployment import DeployedSystem, load_system
from decoybench.cells.forensic import forensic_metrics
from decoybench.data import load_split, read_manifest
from decoybench.defenses.system import deploy_options
from decoybench.io import read_npz, write_json
from decoybench.metrics import (
    accuracy,
    attack_success_rate,
    conditional_transfer_rate,
    mean_distortion,
)
from decoybench.models.training import predict, predict_logits
from decoybench.papers.luring.cell import luring_cell_metrics
from decoybench.papers.multitask.cell import class_confusion, multitask_cell_metrics
from decoybench.runtime import to_float


@dataclass(frozen=True)
class CellOutcome:
    """Per-sample outcome of an adversarial set on its target (one entry per attacked image)."""

    index: np.ndarray  # the test images attacked
    labels: Tensor
    targets: Tensor  # the attack's target class, -1 where untargeted
    x_adv: Tensor
    clean_predicted: Tensor  # the target's labels on the clean inputs
    adversarial_logits: Tensor  # the target's logits on x'
    target_correct: np.ndarray  # the target got the clean input right
    target_fooled: np.ndarray  # x' fooled the target
    source_correct: np.ndarray  # the crafting model got the clean input right
    source_fooled: np.ndarray  # x' fooled the crafting model
    successful: np.ndarray  # attempted (target_correct) and fooled on the target


def evaluate_adversarial_set(
    *,
    adversarial_set: str | Path,
    target_model: str | Path,
    data_dir: str | Path,
    cell: dict[str, Any],
    out: str | Path,
    device: torch.device,
    defense_path: str | Path | None = None,
    batch_size: int = 500,
    system: DeployedSystem | None = None,
) -> dict[str, Any]:
    """Metrics of `adversarial_set` against `target_model` as `cell["defense"]` deploys it in
    a `cell["kind"]` setting (decoybench.cells.deployment), written atomically to `out`.

    `cell` names the table cell (dataset, setting, kind, defense, attack, ...) and is
    stored with the metrics, so tables aggregate cells without re-reading the config; an
    adaptive cell's `gradient` and `deployed` (decoybench.defenses.system.deploy_options)
    pick its deployment.
    `system`: the target as `load_system` deployed it for this cell's defense and kind, to
    reuse one across cells (its detector's clean test scores are then computed once).
    """
    manifest = read_manifest(data_dir)
    if system is None:
        system = load_system(
            model_path=target_model,
            defense=cell["defense"],
            kind=cell["kind"],
            device=device,
            data_sha256=manifest["fingerprint"],
            defense_path=defense_path,
            **deploy_options(cell),
        )
    arrays = read_npz(adversarial_set)
    test = load_split(data_dir, "test")
    if not torch.equal(
        torch.as_tensor(arrays["label"]), torch.as_tensor(test.labels[arrays["index"]])
    ):
        raise ValueError(f"{adversarial_set}: labels do not match the test split of {data_dir}")
    outcome = cell_outcome(system.model, arrays, test.images, batch_size)
    metrics = _base_metrics(cell, arrays, outcome, system.sidecar, target_model)
    if system.detectors:
        metrics["forensic"] = _forensic_block(
            system, arrays, outcome, test.images, device, batch_size
        )
    if system.public is not None:
        metrics["luring"] = _luring_block(system, arrays, outcome, test.images, batch_size)
    if system.multitask is not None:
        metrics["multitask"] = multitask_cell_metrics(
            defended=system.multitask,
            original=system.original,
            x_adv=outcome.x_adv,
            x_clean=to_float(test.images[outcome.index]),
            labels=outcome.labels,
            targets=outcome.targets,
            crafted=outcome.source_fooled & outcome.source_correct,
            batch_size=batch_size,
        )
    if cell["kind"] == "adaptive":
        x_clean = to_float(test.images[outcome.index], device)
        metrics["adaptive"] = defender_outcome(
            system,
            clean_correct=outcome.target_correct,
            clean_rejected=clean_rejections(system, x_clean, batch_size),
            fooled=outcome.target_fooled,
            x_adv=outcome.x_adv.to(device),
            batch_size=batch_size,
        )
    write_json(out, metrics)
    return metrics


def cell_outcome(
    model: nn.Module, arrays: dict[str, np.ndarray], test_images: np.ndarray, batch_size: int
) -> CellOutcome:
    """Score the set's x' and its clean inputs on `model`, the cell's target."""
    index = arrays["index"]
    labels = torch.as_tensor(arrays["label"])
    clean_predicted = predict(model, to_float(test_images[index]), batch_size)
    x_adv = torch.as_tensor(arrays["x_adv"])
    # One forward pass over x' serves the predictions and the class map (Fig. 6).
    adversarial_logits = predict_logits(model, x_adv, batch_size)
    adversarial_predicted = adversarial_logits.argmax(dim=1)
    target_correct = (clean_predicted == labels).numpy()
    targets = (
        torch.as_tensor(arrays["target"]) if "target" in arrays else torch.full_like(labels, -1)
    )
    # Targeted sets (target >= 0) succeed when the prediction is the target; others, when it
    # differs from the label (docs/design.md, Metrics). A blank or saturated output (Foolbox's C&W
    # returns one where it found nothing) is a failure on every target, as on the source.
    target_fooled = (
        torch.where(targets >= 0, adversarial_predicted == targets, adversarial_predicted != labels)
        & ~degenerate(x_adv)
    ).numpy()
    return CellOutcome(
        index=index,
        labels=labels,
        targets=targets,
        x_adv=x_adv,
        clean_predicted=clean_predicted,
        adversarial_logits=adversarial_logits,
        target_correct=target_correct,
        target_fooled=target_fooled,
        source_correct=arrays["source_clean_correct"].astype(bool),
        source_fooled=arrays["success"].astype(bool),
        successful=target_fooled & target_correct,
    )


def _base_metrics(
    cell: dict[str, Any],
    arrays: dict[str, np.ndarray],
    outcome: CellOutcome,
    sidecar: dict[str, Any],
    target_model: str | Path,
) -> dict[str, Any]:
    """The metrics every cell has: the cell and attack, the set's sanity flags, the models,
    the base rates (docs/design.md, Metrics), distortion, cost and the target's class map."""
    attack = build_from_config(json.loads(str(arrays["attack_config"])))
    o = outcome
    return {
        "cell": cell,
        "attack": {
            "name": attack.name,
            "norm": attack.norm,
            "epsilon": attack.epsilon,
            "gradient_free": attack.gradient_free,
            "target_mode": attack.target_mode,
        },
        "sanity": json.loads(str(arrays["sanity"])) if "sanity" in arrays else {},
        "target_model": sidecar.get("name", Path(target_model).stem),
        "source_model": str(arrays["source_model"]),
        "n_attempted": len(o.index),
        "rates": {
            "target_clean_accuracy": accuracy(o.clean_predicted, o.labels).as_dict(),
            "target_asr": attack_success_rate(o.target_fooled, o.target_correct).as_dict(),
            "source_asr": attack_success_rate(o.source_fooled, o.source_correct).as_dict(),
            "transfer_rate": conditional_transfer_rate(
                o.target_fooled, o.source_fooled, o.source_correct & o.target_correct
            ).as_dict(),
        },
        "distortion": {
            "mean_l0": mean_distortion(arrays["l0"], o.successful),
            "mean_l2": mean_distortion(arrays["l2"], o.successful),
            "mean_linf": mean_distortion(arrays["linf"], o.successful),
        },
        "attack_seconds": float(arrays["seconds"].sum()),
        "queries_per_sample": float(arrays["queries"].mean()),
        # Fig. 6 of the multitask paper: the target's labels on x' per true class.
        "class_map": class_confusion(o.adversarial_logits, o.labels, o.target_correct),
    }


def _forensic_block(
    system: DeployedSystem,
    arrays: dict[str, np.ndarray],
    outcome: CellOutcome,
    test_images: np.ndarray,
    device: torch.device,
    batch_size: int,
) -> dict[str, Any]:
    """The detection and recovery metrics of `system`'s forensic analyzer; keeps the
    detectors' clean test scores on `system` for the next cell."""
    forensic = forensic_metrics(
        detectors=system.detectors,
        recover=system.recover,
        x_adv=outcome.x_adv.to(device),
        x_clean_test=to_float(test_images, device),
        labels=arrays["label"],
        successful=outcome.successful,
        attempted=outcome.target_correct,
        batch_size=batch_size,
        clean_scores=system.clean_scores,
        reformed_labels=None
        if system.reform_predict is None
        else system.reform_predict(outcome.x_adv).cpu().numpy(),
    )
    system.clean_scores = forensic.pop("clean_scores", None)
    return forensic


def _luring_block(
    system: DeployedSystem,
    arrays: dict[str, np.ndarray],
    outcome: CellOutcome,
    test_images: np.ndarray,
    batch_size: int,
) -> dict[str, Any]:
    """Luring's rates (Eq. 3-4) of the set between the public model and the hidden target."""
    return {
        "approach": system.public_sidecar.get("approach"),
        **luring_cell_metrics(
            public=system.public,
            target=system.model,
            x_adv=outcome.x_adv,
            x_clean=to_float(test_images[outcome.index]),
            labels=outcome.labels,
            index=outcome.index,
            distortions={name: arrays[name] for name in ("l0", "l2", "linf")},
            batch_size=batch_size,
        ),
    }
