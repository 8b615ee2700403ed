"""Every metric of the suite, defined once: pure functions over boolean/label arrays.

Each rate carries its count, its denominator and a 95% Wilson score interval.
Notation (docs/design.md, Metrics): y true label, C victim, X' adversarial set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
    model classifies right (docs/design.md, Metrics).
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


def reformed_attack_success_rate(
    successful: Any, detected: Any, reformed: Any, labels: Any, attempted: Any
) -> Rate:
    """MagNet's end-to-end attack success (Meng & Chen 2017, Sec. 3.3: the detectors reject
    x', the reformer R moves the accepted x' towards the data before the classifier f): the
    share of attempted inputs whose attack succeeds, goes undetected and is still
    misclassified after reforming,
    |{x : successful(x') ∧ ¬D(x') ∧ f(R(x')) ≠ y}| / |{x : attempted}|
    (for a targeted attack, any wrong label after reforming counts)."""
    reformed, labels = np.asarray(reformed).reshape(-1), np.asarray(labels).reshape(-1)
    still_fooled = _as_bool(successful) & ~_as_bool(detected) & (reformed != labels)
    return Rate.of(still_fooled, attempted)


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


# Multi-task paper (Wang et al. 2019): detection precision and recall (Figs. 4, 5; recall is
# `detection_rate` over the adversarial examples), benign mis-detection (`false_positive_rate`,
# Sec. IV-E) and the near-white-box successful generation rate (Table V).


def detection_precision(true_positives: int, false_positives: int) -> Rate:
    """Precision (multitask paper, Sec. IV-D2): "the percentage of the genuine adversarial
    examples in the examples detected as adversarial", TP / (TP + FP), TP the detected
    adversarial examples and FP the detected benign ones of the mixed evaluation set."""
    if true_positives < 0 or false_positives < 0:
        raise ValueError(
            f"counts must be non-negative, got TP={true_positives}, FP={false_positives}"
        )
    return Rate(count=int(true_positives), total=int(true_positives + false_positives))


def generation_rate(fooled: Any, detected: Any, attempted: Any) -> Rate:
    """Successful generation rate (multitask paper, Table V, Sec. IV-D3):
    |{x : fooled(x') ∧ ¬D(x')}| / |{x : attempted}|, a generation failing when "no solution
    [is] found" (not fooled), when it is detected (the defended model rejects it), or when the
    image is blank or saturated (the caller folds that into `fooled`). On an undefended model
    nothing is detected and it is the attack success rate."""
    return Rate.of(_as_bool(fooled) & ~_as_bool(detected), attempted)


# Luring paper (Bernhard, Moellic & Dutertre 2021): DR, IAR (Eq. 3), AC_MoP and AC_M
# (Table 1), DAC (Eq. 4), MIM-W. M is the target model, M∘P the augmented model the
# adversary attacks, X' the adversarial examples crafted on M∘P.


def _as_labels(values: Any) -> np.ndarray:
    return np.asarray(values.cpu() if hasattr(values, "cpu") else values).reshape(-1)


def _luring_arrays(
    label: Any, pred_augmented: Any, pred_target: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays = _as_labels(label), _as_labels(pred_augmented), _as_labels(pred_target)
    if len({array.shape for array in arrays}) != 1:
        shapes = ", ".join(str(array.shape) for array in arrays)
        raise ValueError(f"shape mismatch: label, pred_augmented, pred_target are {shapes}")
    return arrays


def disagreement_rate(label: Any, pred_augmented: Any, pred_target: Any) -> Rate:
    """Luring Eq. 3, DR(X') = Σ_X' 1[M∘P(x') ≠ y, M∘P(x') ≠ M(x')] / Σ_X' 1[M∘P(x') ≠ y]:
    of the x' that fool M∘P, the share on which M and M∘P disagree.

    Sec. 3 transfers to M "only the adversarial examples that are successful for these four
    models" (the four approaches' M∘P); that restriction is the caller's choice of X'.
    """
    label, augmented, target = _luring_arrays(label, pred_augmented, pred_target)
    return Rate.of(augmented != target, augmented != label)


def inefficient_adversarial_rate(label: Any, pred_augmented: Any, pred_target: Any) -> Rate:
    """Luring Eq. 3, IAR(X') = Σ_X' 1[M∘P(x') ≠ y, M(x') = y] / Σ_X' 1[M∘P(x') ≠ y]: of the
    x' that fool M∘P, the share M still classifies right. IAR ≤ DR (M(x') = y ≠ M∘P(x') is a
    disagreement)."""
    label, augmented, target = _luring_arrays(label, pred_augmented, pred_target)
    return Rate.of(target == label, augmented != label)


def adversarial_accuracy(label: Any, pred: Any) -> Rate:
    """Luring Sec. 4.1 / Table 1, AC(X') = |{x' ∈ X' : pred(x') = y}| / |X'|: "the standard
    accuracy measured on the adversarial set X'", AC_MoP with pred = M∘P, AC_M with pred = M.

    X' is every x' crafted on M∘P, successful or not (AC_MoP is often > 0 in Table 1), from
    "1000 correctly classified test set examples" (Appendix F; the paper does not say by
    which model; D.3 and D.2 pick examples correctly classified by M and every M∘P).
    """
    label, pred = _as_labels(label), _as_labels(pred)
    if label.shape != pred.shape:
        raise ValueError(f"shape mismatch: label {label.shape} vs pred {pred.shape}")
    return Rate.of(pred == label)


def detection_adversarial_accuracy(label: Any, pred_augmented: Any, pred_target: Any) -> Rate:
    """Luring Eq. 4, DAC = 1 − Σ_{x' ∈ X'} 1[M∘P(x') = M(x'), M(x') ≠ y] / |X'|: the share
    of X' either detected (M∘P(x') ≠ M(x')) or classified right by M.

    Returned as the Rate of that complement, count = |{x' : M∘P(x') ≠ M(x') ∨ M(x') = y}|,
    over all of X' (same X' as `adversarial_accuracy`); DAC ≥ AC_M.
    """
    label, augmented, target = _luring_arrays(label, pred_augmented, pred_target)
    return Rate.of(~((augmented == target) & (target != label)))


def _rate_value(name: str, rate: Rate | float) -> float:
    value = rate.value if isinstance(rate, Rate) else float(rate)
    if math.isnan(value):
        raise ValueError(f"{name}: value is nan (empty X'?)")
    return value


def worst_case_attack(
    ac_by_attack: Mapping[str, Rate | float],
    dac_by_attack: Mapping[str, Rate | float] | None = None,
) -> str:
    """MIM-W (luring Sec. 4.2): the attack among {MIM, DIM, MIM-TI, DIM-TI} with the lowest
    AC_M, ties broken by the lowest DAC, then by name (alphabetical).

    The paper reports "the best results obtained with [...] MIM, DIM, MIM-TI and DIM-TI [...]
    under the name MIM-W", best "from the adversary point of view", parameters searched for
    "the lowest AC_M and DAC values" (Appendix F); it states no tie rule and no priority
    between AC_M and DAC (here AC_M first, the transferability scenario's metric). The
    selection is one attack per (data set, approach, ε) cell, over whole-X' rates, not a
    per-sample worst case (which would be an ensemble attack the paper does not run).
    """
    if not ac_by_attack:
        raise ValueError("no attack to choose from")
    if dac_by_attack is not None and set(dac_by_attack) != set(ac_by_attack):
        raise ValueError(
            f"attacks differ: AC_M {sorted(ac_by_attack)} vs DAC {sorted(dac_by_attack)}"
        )

    def key(name: str) -> tuple[float, float, str]:
        dac = 0.0 if dac_by_attack is None else _rate_value(name, dac_by_attack[name])
        return _rate_value(name, ac_by_attack[name]), dac, name

    return min(ac_by_attack, key=key)


@dataclass(frozen=True)
class WorstCase:
    """The MIM-W row of one (data set, approach, ε) cell: the chosen attack and its rates."""

    attack: str
    ac_m: Rate
    dac: Rate
    ac_mop: Rate | None = None


def worst_case_rates(
    ac_by_attack: Mapping[str, Rate],
    dac_by_attack: Mapping[str, Rate],
    ac_mop_by_attack: Mapping[str, Rate] | None = None,
) -> WorstCase:
    """AC_M, DAC (and AC_MoP) of `worst_case_attack`'s choice, all from the same attack.

    Table 20 calls its rows "the worst AC_M and DAC values" among the attacks, which could also
    be read as per-column minima over attacks; the two agree whenever one attack minimises
    both (Sec. 4.3 names one attack per cell, e.g. DIM-TI for Luring, CIFAR10, ε = 0.03).
    """
    attack = worst_case_attack(ac_by_attack, dac_by_attack)
    ac_mop = None if ac_mop_by_attack is None else ac_mop_by_attack[attack]
    return WorstCase(attack, ac_by_attack[attack], dac_by_attack[attack], ac_mop)


def defender_failures(
    *,
    clean_correct: Any,
    clean_rejected: Any,
    adversarial_fooled: Any,
    adversarial_detected: Any,
) -> np.ndarray:
    """Per test input, whether the attacker wins against a classifier with a detector
    (Carlini et al. 2019, "On evaluating adversarial robustness": a rejected clean
    input counts against the defender):

        fail_i = R(x_i) ∨ (¬R(x_i) ∧ f(x_i) ≠ y_i) ∨ (f(x'_i) ≠ y_i ∧ ¬D(x'_i))

    R the detector on the clean input, D on x' (the same detector at one threshold), f the
    deployed classifier; `adversarial_fooled` is f(x') ≠ y (or = t for a targeted attack).
    The attacker may always submit x_i itself, so a clean error counts too."""
    clean_rejected = _as_bool(clean_rejected)
    clean_error = ~_as_bool(clean_correct) & ~clean_rejected
    passed = _as_bool(adversarial_fooled) & ~_as_bool(adversarial_detected)
    return clean_rejected | clean_error | passed


def charged_attack_success_rate(**outcome: Any) -> Rate:
    """Overall attack success with the clean rejections charged to the defender:
    |{i : fail_i}| / N over the N attacked test inputs (`defender_failures`)."""
    return Rate.of(defender_failures(**outcome))


def per_sample_worst_case(failures_by_attack: Mapping[str, Any]) -> Rate:
    """The per-sample worst case over attacks (Carlini et al. 2019: the mean over
    x of the max over attacks, never a mean over attacks): |{i : ∃a fail_{a,i}}| / N, every
    attack's array over the same N inputs in the same order."""
    if not failures_by_attack:
        raise ValueError("no attack to take the worst case over")
    arrays = {name: _as_bool(values) for name, values in failures_by_attack.items()}
    shapes = {name: array.shape for name, array in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"attacks cover different inputs: {shapes}")
    return Rate.of(np.logical_or.reduce(list(arrays.values())))


# Float32 round-off of a projected perturbation: ‖δ‖ ≤ ε(1 + 1e-5) + 1e-6 is within ε.
BUDGET_TOLERANCE = (1e-5, 1e-6)


def within_budget(norms: Any, epsilon: float | None) -> np.ndarray:
    """Per input, whether its perturbation norm ‖x'_i − x_i‖_p is within a threat model's
    budget ε (up to float32 round-off, BUDGET_TOLERANCE); every input when ε is None
    (an unbounded threat model). An example outside the budget is not an attack of that
    threat model: the attacker falls back on submitting x_i itself."""
    norms = np.asarray(norms, dtype=np.float64)
    if epsilon is None:
        return np.ones(norms.shape, dtype=bool)
    relative, absolute = BUDGET_TOLERANCE
    return norms <= epsilon * (1 + relative) + absolute
