"""Every metric of the suite, defined once: pure functions over boolean/label arrays.

Each rate carries its count, its denominator and a 95% Wilson score interval.
Notation (DESIGN.md): y true label, C victim, X' adversarial set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

Z_95 = 1.959963984540054  # standard normal quantile for a two-sided 95% interval


def _as_bool(values: Any) -> np.ndarray:
    array = np.asarray(values.cpu() if hasattr(values, "cpu") else values)
    if array.dtype != bool:
        raise TypeError(f"expected a boolean array, got dtype {array.dtype}")
    return array.reshape(-1)


def wilson_interval(count: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion count/total.

    (p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n); (nan, nan) when total = 0.
    """
    if total == 0:
        return math.nan, math.nan
    proportion = count / total
    denominator = 1 + z * z / total
    centre = (proportion + z * z / (2 * total)) / denominator
    half_width = z * math.sqrt(proportion * (1 - proportion) / total + z * z / (4 * total * total))
    half_width /= denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


@dataclass(frozen=True)
class Rate:
    """A proportion with its count, denominator and 95% Wilson interval."""

    count: int
    total: int

    @property
    def value(self) -> float:
        return self.count / self.total if self.total else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.count, self.total)

    def as_dict(self) -> dict[str, float | int]:
        low, high = self.interval
        return {
            "value": self.value,
            "count": self.count,
            "total": self.total,
            "ci_low": low,
            "ci_high": high,
        }

    @classmethod
    def of(cls, hits: Any, population: Any | None = None) -> Rate:
        """Share of `hits` within `population` (all samples when None)."""
        hits = _as_bool(hits)
        population = np.ones_like(hits) if population is None else _as_bool(population)
        if hits.shape != population.shape:
            raise ValueError(f"shape mismatch: hits {hits.shape} vs population {population.shape}")
        return cls(count=int((hits & population).sum()), total=int(population.sum()))


def accuracy(predicted: Any, labels: Any) -> Rate:
    """Top-1 accuracy: |{i : pred_i = y_i}| / N."""
    predicted, labels = np.asarray(predicted).reshape(-1), np.asarray(labels).reshape(-1)
    return Rate.of(predicted == labels)


def attack_success_rate(fooled: Any, clean_correct: Any) -> Rate:
    """ASR = |{x ∈ X' : C(x) = y ∧ C(x') fooled}| / |{x ∈ X' : C(x) = y}|.

    `fooled` is pred ≠ y (untargeted), pred = least-likely class of x (least-likely) or
    pred = target (targeted); the denominator is every attempted input that the attacked
    model classifies right (DESIGN.md, Metrics).
    """
    return Rate.of(fooled, clean_correct)


def conditional_transfer_rate(
    fooled_on_target: Any, fooled_on_source: Any, both_correct: Any
) -> Rate:
    """Transfer rate = |{x : source fooled ∧ target fooled}| / |{x : source fooled}|, over
    inputs both models classify right: of the examples that work where they were crafted,
    the share that also fool the target."""
    population = _as_bool(fooled_on_source) & _as_bool(both_correct)
    return Rate.of(fooled_on_target, population)


def mean_distortion(values: Any, mask: Any) -> float:
    """Mean of a per-sample distortion (L0, L2 or L∞) over the samples selected by `mask`
    (the successful ones); nan when none is selected."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    mask = _as_bool(mask)
    return float(values[mask].mean()) if mask.any() else math.nan


def detection_rate(detected: Any, successful: Any) -> Rate:
    """Detection rate / TPR (attractors paper, Table I column (e) and Table III (a); DEEPSEC):
    |{x' ∈ X' : D(x') ∧ successful(x')}| / |{x' ∈ X' : successful(x')}|."""
    return Rate.of(detected, successful)


def false_positive_rate(detected_clean: Any) -> Rate:
    """FPR (attractors paper, Table III (b)): |{x ∈ X_test : D(x)}| / |X_test|, over all clean
    test samples."""
    return Rate.of(detected_clean)


def recovery_rate(recovered: Any, labels: Any, detected: Any) -> Rate:
    """Recovery rate (attractors paper, Table I column (f)):
    |{x' : D(x') ∧ R(x') = y}| / |{x' : D(x')}|."""
    recovered, labels = np.asarray(recovered).reshape(-1), np.asarray(labels).reshape(-1)
    return Rate.of(recovered == labels, detected)


def overall_attack_success_rate(successful: Any, detected: Any, attempted: Any) -> Rate:
    """Overall ASR (attractors paper, Sec. VI-F1): ASR × (1 − detection rate), i.e. the share
    of attempted inputs whose attack succeeds *and* goes undetected:
    |{x : successful(x') ∧ ¬D(x')}| / |{x : attempted}|."""
    return Rate.of(_as_bool(successful) & ~_as_bool(detected), attempted)


def roc_auc(clean_scores: Any, adversarial_scores: Any) -> float:
    """AUC of a detector score (attractors paper, Table III (c); DEEPSEC): the probability
    that a successful adversarial input scores higher than a clean one, ties counting one
    half (the Mann–Whitney U statistic over |clean|·|adversarial| pairs), computed with
    scikit-learn's roc_auc_score; nan when either set is empty."""
    from sklearn.metrics import roc_auc_score

    clean = np.asarray(clean_scores, dtype=np.float64).reshape(-1)
    adversarial = np.asarray(adversarial_scores, dtype=np.float64).reshape(-1)
    if len(clean) == 0 or len(adversarial) == 0:
        return math.nan
    labels = np.concatenate([np.zeros(len(clean)), np.ones(len(adversarial))])
    return float(roc_auc_score(labels, np.concatenate([clean, adversarial])))
