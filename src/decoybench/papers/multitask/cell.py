"""Multi-task metrics of one cell (Wang et al., 2019): the defended oracle and the bare oracle
scored on the same adversarial set, and the Classmap detector on it and on its clean images.

Populations (n = the attacked test images):
- crafted: the examples the attack produced, i.e. successful on the model they were crafted
  on (the substitute, the Z-only network, or the defended model) and not blank;
- successful: the examples that fool the defended output Z* (≠ y, or = the target), from an
  image Z* classifies right, not blank (docs/design.md's population of detection_rate);
- benign: the n clean images themselves (Sec. IV-D2 mixes as many benign as adversarial).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from decoybench.attacks.base import degenerate
from decoybench.metrics import (
    Rate,
    accuracy,
    attack_success_rate,
    detection_precision,
    detection_rate,
    false_positive_rate,
    generation_rate,
)
from decoybench.models.training import predict
from decoybench.papers.multitask.defense.model import MultitaskModel

__all__ = ["class_confusion", "multitask_cell_metrics"]


def _fooled(predicted: Tensor, labels: Tensor, targets: Tensor) -> Tensor:
    return torch.where(targets >= 0, predicted == targets, predicted != labels)


def class_confusion(logits: Tensor, labels: Tensor, population: Any) -> dict[str, Any]:
    """The misclassification map of Fig. 6 over `population`, from a model's logits on the
    adversarial examples: counts[i][j] = examples of class i the model labels j, and
    confidence[i] = p_i of Eq. 6 (mean softmax; null where a class has no example)."""
    selected = np.asarray(population, dtype=bool)
    probabilities = torch.softmax(logits, dim=1).double().numpy()[selected]
    true = labels.numpy()[selected]
    num_classes = probabilities.shape[1] if len(probabilities) else int(labels.max()) + 1
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (true, probabilities.argmax(axis=1)), 1)
    confidence = [
        probabilities[true == label].mean(axis=0).tolist() if (true == label).any() else None
        for label in range(num_classes)
    ]
    return {"counts": counts.tolist(), "confidence": confidence}


def multitask_cell_metrics(
    *,
    defended: MultitaskModel,
    original: nn.Module,
    x_adv: Tensor,
    x_clean: Tensor,
    labels: Tensor,
    targets: Tensor,
    crafted: Any,
    batch_size: int = 500,
) -> dict[str, Any]:
    """Rates of the paper's tables for one adversarial set (module docstring's populations).

    `crafted` is the set's success on its crafting model ∧ that model's clean correctness.
    Returns {"rates": {name: Rate.as_dict()}, "counts": {...}}: accuracies of the original
    and defended oracle on x_adv (Table III) also against their benign predictions, transfer
    success on each (Fig. 3), detection rate over successful and over all n (Table IV),
    recall and precision with the n clean images as benign (Figs. 4, 5), the benign
    mis-detection rate, and the near-white-box generation rate (Table V).
    """
    blank = degenerate(x_adv)
    main_adv, _, detected_adv = defended.predict_with_detection(x_adv, batch_size)
    main_clean, _, detected_clean = defended.predict_with_detection(x_clean, batch_size)
    original_adv = predict(original, x_adv, batch_size)
    original_clean = predict(original, x_clean, batch_size)
    defended_correct = main_clean == labels
    original_correct = original_clean == labels
    defended_fooled = _fooled(main_adv, labels, targets) & ~blank
    original_fooled = _fooled(original_adv, labels, targets) & ~blank
    successful = defended_fooled & defended_correct
    crafted = torch.as_tensor(np.asarray(crafted, dtype=bool)) & ~blank
    true_positives = int((detected_adv & crafted).sum())
    false_positives = int(detected_clean.sum())
    rates: dict[str, Rate] = {
        "accuracy_original": accuracy(original_adv, labels),
        "accuracy_defended": accuracy(main_adv, labels),
        "accuracy_original_vs_benign": accuracy(original_adv, original_clean),
        "accuracy_defended_vs_benign": accuracy(main_adv, main_clean),
        "clean_accuracy_original": accuracy(original_clean, labels),
        "clean_accuracy_defended": accuracy(main_clean, labels),
        "transfer_success_original": attack_success_rate(original_fooled, original_correct),
        "transfer_success_defended": attack_success_rate(defended_fooled, defended_correct),
        "detection_rate": detection_rate(detected_adv, successful),
        "detection_rate_all": detection_rate(detected_adv, torch.ones_like(detected_adv)),
        "recall": detection_rate(detected_adv, crafted),
        "precision": detection_precision(true_positives, false_positives),
        "benign_misdetection": false_positive_rate(detected_clean),
        "generation_rate": generation_rate(defended_fooled, detected_adv, defended_correct),
    }
    return {
        "rates": {name: rate.as_dict() for name, rate in rates.items()},
        "counts": {
            "n": len(labels),
            "crafted": int(crafted.sum()),
            "successful": int(successful.sum()),
            "detected_adversarial": int(detected_adv.sum()),
            "detected_crafted": true_positives,
            "detected_clean": false_positives,
        },
    }
