"""The Classmap of the multi-task defense (Sec. III-B, Eq. 6, 8; items 1, 2 of
`decoybench.papers.multitask.defense`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["PAIRINGS", "Classmap", "build_classmap", "confidence_vectors"]

PAIRINGS = ("most_likely", "least_likely")


def confidence_vectors(probabilities: Any, labels: Any, num_classes: int) -> np.ndarray:
    """Eq. 6 for every class: p_i = (1/N_i) Σ_{x_adv of class i} F(x_adv).

    `probabilities` (N, K) are the oracle's softmax outputs on the adversarial examples,
    `labels` (N,) their true classes. Returns a (K, K) array whose row i is p_i (nan where a
    class has no example).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    if probabilities.shape != (len(labels), num_classes):
        raise ValueError(
            f"probabilities have shape {probabilities.shape}; expected ({len(labels)}, "
            f"{num_classes})"
        )
    rows = np.full((num_classes, num_classes), np.nan)
    for label in range(num_classes):
        selected = labels == label
        if selected.any():
            rows[label] = probabilities[selected].mean(axis=0)
    return rows


@dataclass(frozen=True)
class Classmap:
    """The Classmap table (Sec. III-B): `pairs[i]` is the label paired with class i.

    `counts[i, j]` is how many adversarial examples of class i the oracle labelled j and
    `confidence[i]` is p_i of Eq. 6, both over the examples the pairs were built from.
    """

    pairs: tuple[int, ...]
    counts: np.ndarray = field(compare=False)
    confidence: np.ndarray = field(compare=False)
    pairing: str = "most_likely"

    @property
    def num_classes(self) -> int:
        return len(self.pairs)

    def as_tensor(self, device: torch.device | str = "cpu") -> Tensor:
        return torch.tensor(self.pairs, dtype=torch.long, device=device)

    def is_pair(self, main_labels: Any, auxiliary_labels: Any) -> np.ndarray:
        """True where (main, auxiliary) is a Classmap pair, i.e. pairs[main] == auxiliary."""
        main = np.asarray(main_labels).reshape(-1)
        auxiliary = np.asarray(auxiliary_labels).reshape(-1)
        return np.asarray(self.pairs)[main] == auxiliary

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairs": list(self.pairs),
            "pairing": self.pairing,
            "counts": self.counts.astype(int).tolist(),
            "confidence": [
                [None if math.isnan(value) else float(value) for value in row]
                for row in self.confidence
            ],
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Classmap:
        pairs = tuple(int(value) for value in document["pairs"])
        if any(not 0 <= value < len(pairs) for value in pairs):
            raise ValueError(f"classmap pairs {pairs} name classes outside 0..{len(pairs) - 1}")
        rows = document["confidence"]
        confidence = np.array(
            [[math.nan if value is None else value for value in row] for row in rows],
            dtype=np.float64,
        )
        return cls(
            pairs=pairs,
            counts=np.asarray(document["counts"], dtype=np.int64),
            confidence=confidence,
            pairing=document.get("pairing", "most_likely"),
        )


def build_classmap(
    adversarial_probabilities: Any,
    labels: Any,
    num_classes: int,
    pairing: str = "most_likely",
) -> Classmap:
    """The Classmap of Eq. 8 from the oracle's softmax on adversarial examples (item 1).

    For each class i: the most (or least) frequent predicted class j ≠ i among the
    adversarial examples of class i, ties broken by p_i[j] (Eq. 6; higher for most_likely,
    lower for least_likely) and then by the lower index. Every class needs at least one
    example.
    """
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing {pairing!r} is not allowed; allowed: {', '.join(PAIRINGS)}")
    probabilities = np.asarray(adversarial_probabilities, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    confidence = confidence_vectors(probabilities, labels, num_classes)
    missing = [label for label in range(num_classes) if np.isnan(confidence[label]).any()]
    if missing:
        raise ValueError(f"no adversarial example of class(es) {missing}: cannot pair them")
    predicted = probabilities.argmax(axis=1)
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    sign = 1.0 if pairing == "most_likely" else -1.0
    pairs = []
    for label in range(num_classes):
        candidates = [other for other in range(num_classes) if other != label]
        # Lexicographic key: count, then p_i (Eq. 6), then the lower index (min over -index).
        best = max(
            candidates,
            key=lambda other: (
                sign * counts[label, other],
                sign * confidence[label, other],
                -other,
            ),
        )
        pairs.append(int(best))
    return Classmap(tuple(pairs), counts, confidence, pairing)
