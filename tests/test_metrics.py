"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from decoybench.metrics import (
    Rate,
    accuracy,
    attack_success_rate,
    conditional_transfer_rate,
    mean_distortion,
    wilson_interval,
    within_budget,
)


@pytest.mark.parametrize(
    ("count", "total", "low", "high"),
    [
        # Hand-computed with z = 1.96: p=0.5, n=10 -> (0.5 + 0.19208 ± 0.30990)/1.38416.
        (5, 10, 0.236593, 0.763407),
        # p=0: upper = (0 + 0.19208 + 0.19208)/1.38416 = 0.277533.
        (0, 10, 0.0, 0.277533),
        (10, 10, 0.722467, 1.0),
        # p=0.9, n=100: sqrt(0.0009 + 0.0000960) = 0.0315600, times z = 0.0618564;
        # (0.9192073 ± 0.0618564)/1.0384146.
        (90, 100, 0.825634, 0.944771),
    ],
)
def test_wilson_interval_hand_computed(count, total, low, high) -> None:
    computed = wilson_interval(count, total)
    assert computed == pytest.approx((low, high), abs=2e-6)


def test_empty_rate_is_nan() -> None:
    rate = Rate(0, 0)
    assert math.isnan(rate.value) and all(math.isnan(v) for v in rate.interval)


def test_attack_success_rate_counts_only_inputs_classified_right() -> None:
    # 6 inputs: the model gets 0, 1, 2, 4 right; the attack fools 1, 3, 4, 5.
    clean_correct = np.array([True, True, True, False, True, False])
    fooled = np.array([False, True, False, True, True, True])
    rate = attack_success_rate(fooled, clean_correct)
    assert (rate.count, rate.total, rate.value) == (2, 4, 0.5)


def test_accuracy_and_tensor_inputs() -> None:
    rate = accuracy(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 4]))
    assert (rate.count, rate.total) == (3, 4)
    assert attack_success_rate(torch.tensor([True, False]), torch.tensor([True, True])).value == 0.5


def test_conditional_transfer_rate() -> None:
    source_fooled = np.array([True, True, True, False, True])
    target_fooled = np.array([True, False, True, True, True])
    both_correct = np.array([True, True, True, True, False])
    # population: indices 0, 1, 2 (source fooled and both right); target fooled on 0 and 2.
    rate = conditional_transfer_rate(target_fooled, source_fooled, both_correct)
    assert (rate.count, rate.total) == (2, 3)


def test_mean_distortion_over_successful_samples_only() -> None:
    values = np.array([0.1, 0.5, 0.3, 9.0])
    assert mean_distortion(values, np.array([True, False, True, False])) == pytest.approx(0.2)
    assert math.isnan(mean_distortion(values, np.zeros(4, dtype=bool)))


def test_rate_rejects_non_boolean_and_mismatched_inputs() -> None:
    with pytest.raises(TypeError, match="boolean"):
        Rate.of(np.array([0, 1]))
    with pytest.raises(ValueError, match="shape mismatch"):
        Rate.of(np.array([True]), np.array([True, False]))
    assert Rate(3, 4).as_dict()["value"] == 0.75


def test_detection_metrics_hand_computed() -> None:
    from decoybench.metrics import (
        detection_rate,
        false_positive_rate,
        overall_attack_success_rate,
        recovery_rate,
        roc_auc,
    )

    # 6 attempted inputs; the attack succeeds on 0, 1, 2, 3; the detector fires on 1, 2, 5.
    attempted = np.ones(6, dtype=bool)
    successful = np.array([True, True, True, True, False, False])
    detected = np.array([False, True, True, False, False, True])
    rate = detection_rate(detected, successful)
    assert (rate.count, rate.total) == (2, 4)  # TPR = |{1, 2}| / |{0, 1, 2, 3}|
    # Overall ASR = successful and undetected {0, 3} over all 6 = ASR (4/6) x (1 - 2/4).
    overall = overall_attack_success_rate(successful, detected, attempted)
    assert (overall.count, overall.total) == (2, 6)
    assert overall.value == pytest.approx((4 / 6) * (1 - 2 / 4))
    # Recovery over the detected inputs {1, 2, 5}: recovered labels right on 1 and 5.
    labels = np.array([0, 1, 2, 3, 4, 5])
    recovered = np.array([9, 1, 7, 9, 9, 5])
    recovery = recovery_rate(recovered, labels, detected)
    assert (recovery.count, recovery.total) == (2, 3)
    fpr = false_positive_rate(np.array([False, True, False, False]))
    assert (fpr.count, fpr.total) == (1, 4)
    # AUC by hand: clean {0.1, 0.4, 0.35}, adversarial {0.8, 0.4}: of the 6 pairs the
    # adversarial score is higher in 5, tied in 1 (0.4 vs 0.4): (5 + 0.5) / 6.
    assert roc_auc([0.1, 0.4, 0.35], [0.8, 0.4]) == pytest.approx(5.5 / 6)
    assert math.isnan(roc_auc([], [0.5]))


def test_reformed_attack_success_rate_hand_computed() -> None:
    """MagNet end to end: successful, undetected and still wrong after the reformer."""
    from decoybench.metrics import reformed_attack_success_rate

    # 6 attempted; successful on 0-3; detected 1, 2, 5; undetected successful: {0, 3}. The
    # reformer restores 0 (label 0) and leaves 3 wrong (label 3, reformed 7): 1 of 6.
    labels = np.array([0, 1, 2, 3, 4, 5])
    reformed = np.array([0, 9, 9, 7, 9, 9])
    successful = np.array([True, True, True, True, False, False])
    detected = np.array([False, True, True, False, False, True])
    rate = reformed_attack_success_rate(successful, detected, reformed, labels, np.ones(6, bool))
    assert (rate.count, rate.total) == (1, 6)
    # Only inputs the classifier got right count as attempted (here 0-4): 1 of 5.
    attempted = np.array([True, True, True, True, True, False])
    rate = reformed_attack_success_rate(successful, detected, reformed, labels, attempted)
    assert (rate.count, rate.total) == (1, 5)


# Luring paper (Bernhard et al. 2021): Eq. 3 (DR, IAR), Table 1 (AC_MoP, AC_M), Eq. 4 (DAC).
LURING_Y = np.array([0, 1, 2, 3, 4, 5, 6, 7])
LURING_MOP = np.array([0, 9, 9, 9, 9, 5, 9, 9])  # M∘P fooled on 1, 2, 3, 4, 6, 7
LURING_M = np.array([0, 1, 9, 3, 8, 9, 9, 7])  # M right on 0, 1, 3, 7


def test_luring_metrics_hand_computed() -> None:
    from decoybench.metrics import (
        adversarial_accuracy,
        detection_adversarial_accuracy,
        disagreement_rate,
        inefficient_adversarial_rate,
    )

    # DR: of the 6 fooling M∘P {1, 2, 3, 4, 6, 7}, M ≠ M∘P on {1, 3, 4, 7}: 4/6.
    dr = disagreement_rate(LURING_Y, LURING_MOP, LURING_M)
    assert (dr.count, dr.total) == (4, 6)
    # IAR: of the same 6, M(x') = y on {1, 3, 7}: 3/6.
    iar = inefficient_adversarial_rate(LURING_Y, LURING_MOP, LURING_M)
    assert (iar.count, iar.total) == (3, 6)
    # AC_MoP: M∘P right on {0, 5}: 2/8; AC_M: M right on {0, 1, 3, 7}: 4/8.
    ac_mop = adversarial_accuracy(LURING_Y, LURING_MOP)
    ac_m = adversarial_accuracy(LURING_Y, torch.tensor(LURING_M))
    assert (ac_mop.count, ac_mop.total, ac_m.count, ac_m.total) == (2, 8, 4, 8)
    # DAC: M∘P = M ∧ M ≠ y on {2, 6} only (5 is wrong on M but detected): 1 − 2/8 = 6/8.
    dac = detection_adversarial_accuracy(LURING_Y, LURING_MOP, LURING_M)
    assert (dac.count, dac.total) == (6, 8)
    assert dac.value == pytest.approx(1 - 2 / 8)


def test_luring_metrics_edge_cases() -> None:
    from decoybench.metrics import (
        adversarial_accuracy,
        detection_adversarial_accuracy,
        disagreement_rate,
        inefficient_adversarial_rate,
    )

    y = np.array([0, 1, 2])
    # No x' fools M∘P: DR and IAR have an empty denominator.
    for rate in (
        disagreement_rate(y, y, np.array([2, 2, 2])),
        inefficient_adversarial_rate(y, y, np.array([2, 2, 2])),
    ):
        assert (rate.count, rate.total) == (0, 0) and math.isnan(rate.value)
    # Every x' fools both models and is detected (M∘P ≠ M everywhere): DAC = DR = 1, AC_M = 0.
    mop, m = np.array([1, 2, 0]), np.array([2, 0, 1])
    assert detection_adversarial_accuracy(y, mop, m).count == 3
    assert disagreement_rate(y, mop, m).count == 3
    assert adversarial_accuracy(y, m).count == 0
    assert inefficient_adversarial_rate(y, mop, m).count == 0
    # Every x' fools both to the same label: nothing detected, DAC = 0.
    assert detection_adversarial_accuracy(y, mop, mop).count == 0
    with pytest.raises(ValueError, match="shape mismatch"):
        disagreement_rate(y, mop, m[:2])
    with pytest.raises(ValueError, match="shape mismatch"):
        adversarial_accuracy(y, m[:2])


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_luring_metric_relations_on_random_arrays(seed: int) -> None:
    from decoybench.metrics import (
        adversarial_accuracy,
        detection_adversarial_accuracy,
        disagreement_rate,
        inefficient_adversarial_rate,
    )

    rng = np.random.default_rng(seed)
    # 3 classes so that agreements and right answers are frequent.
    y, mop, m = (rng.integers(0, 3, size=200) for _ in range(3))
    dr = disagreement_rate(y, mop, m)
    iar = inefficient_adversarial_rate(y, mop, m)
    assert iar.total == dr.total == int((mop != y).sum())
    assert 0 < iar.count <= dr.count  # M(x') = y ≠ M∘P(x') is a disagreement
    dac = detection_adversarial_accuracy(y, mop, m)
    ac_m = adversarial_accuracy(y, m)
    assert dac.total == ac_m.total == 200
    assert dac.count >= ac_m.count  # M right implies counted by DAC
    # DAC's count decomposes as M right + (M wrong and detected).
    assert dac.count == ac_m.count + int(((m != y) & (m != mop)).sum())


def test_worst_case_attack_selection_and_ties() -> None:
    from decoybench.metrics import WorstCase, worst_case_attack, worst_case_rates

    ac = {"MIM": 0.30, "DIM": 0.25, "MIM-TI": 0.25, "DIM-TI": 0.40}
    dac = {"MIM": 0.30, "DIM": 0.31, "MIM-TI": 0.29, "DIM-TI": 0.10}
    # Lowest AC_M first: DIM and MIM-TI tie at 0.25, MIM-TI has the lower DAC (DIM-TI's lower
    # DAC does not matter: AC_M comes first).
    assert worst_case_attack(ac, dac) == "MIM-TI"
    # Without DAC, or with DAC tied as well, the name breaks the tie.
    assert worst_case_attack(ac) == "DIM"
    # Rates 3/10 and 6/20 are the same AC_M; DAC 4/10 = 8/20 too: alphabetical, DIM.
    ac_rates = {"MIM-TI": Rate(3, 10), "DIM": Rate(6, 20), "MIM": Rate(5, 10)}
    dac_rates = {"MIM-TI": Rate(4, 10), "DIM": Rate(8, 20), "MIM": Rate(5, 10)}
    assert worst_case_attack(ac_rates, dac_rates) == "DIM"
    chosen = worst_case_rates(ac_rates, dac_rates, {"MIM-TI": Rate(0, 10), "DIM": Rate(1, 20)})
    assert chosen == WorstCase("DIM", Rate(6, 20), Rate(8, 20), Rate(1, 20))
    with pytest.raises(ValueError, match="attacks differ"):
        worst_case_attack(ac, {"MIM": 0.1})
    with pytest.raises(ValueError, match="nan"):
        worst_case_attack({"MIM": Rate(0, 0), "DIM": 0.5})
    with pytest.raises(ValueError, match="no attack"):
        worst_case_attack({})


def test_multitask_detection_precision_and_generation_rate_hand_computed() -> None:
    from decoybench.metrics import detection_precision, generation_rate

    # 8 detected adversarial examples and 2 detected benign ones: precision 8/10.
    precision = detection_precision(8, 2)
    assert (precision.count, precision.total, precision.value) == (8, 10, 0.8)
    assert math.isnan(detection_precision(0, 0).value)  # nothing detected
    with pytest.raises(ValueError, match="non-negative"):
        detection_precision(-1, 2)
    # Table V: fooled and undetected over the attempted inputs.
    fooled = np.array([True, True, True, False, True])
    detected = np.array([False, True, False, False, False])
    attempted = np.array([True, True, True, True, False])  # the last: clean input wrong
    rate = generation_rate(fooled, detected, attempted)
    assert (rate.count, rate.total) == (2, 4)  # samples 0 and 2
    # Nothing detected (an undefended model): the attack success rate.
    nothing = np.zeros(5, dtype=bool)
    assert generation_rate(fooled, nothing, attempted) == attack_success_rate(fooled, attempted)


def test_defender_failures_charge_clean_rejections_and_clean_errors() -> None:
    from decoybench.metrics import charged_attack_success_rate, defender_failures

    # Five inputs, by hand:
    # 0: clean right, accepted; x' fooled, detected       -> defender holds
    # 1: clean right, accepted; x' fooled, undetected     -> attacker wins
    # 2: clean right but rejected; x' not fooled          -> attacker wins (false rejection)
    # 3: clean wrong, accepted; x' not fooled, detected   -> attacker wins (submit x itself)
    # 4: clean wrong but rejected; x' not fooled          -> attacker wins (rejection)
    outcome = {
        "clean_correct": np.array([True, True, True, False, False]),
        "clean_rejected": np.array([False, False, True, False, True]),
        "adversarial_fooled": np.array([True, True, False, False, False]),
        "adversarial_detected": np.array([True, False, False, True, False]),
    }
    assert defender_failures(**outcome).tolist() == [False, True, True, True, True]
    rate = charged_attack_success_rate(**outcome)
    assert (rate.count, rate.total) == (4, 5)
    # No detector (nothing rejected or detected): plain robust error, 1 − robust accuracy.
    plain = {
        **outcome,
        "clean_rejected": np.zeros(5, bool),
        "adversarial_detected": np.zeros(5, bool),
    }
    assert defender_failures(**plain).tolist() == [True, True, False, True, True]


def test_per_sample_worst_case_is_the_max_over_attacks_not_the_mean() -> None:
    from decoybench.metrics import per_sample_worst_case

    failures = {
        "pgd": np.array([True, False, False, False]),
        "opgd": np.array([False, True, False, False]),
        "cw": np.array([True, False, False, False]),
    }
    worst = per_sample_worst_case(failures)
    # Each attack alone wins on 1-2 of 4 (mean over attacks 33%); per sample, 2 of 4 fall.
    assert (worst.count, worst.total) == (2, 4)
    with pytest.raises(ValueError, match="different inputs"):
        per_sample_worst_case({"a": np.zeros(3, bool), "b": np.zeros(4, bool)})
    with pytest.raises(ValueError, match="no attack"):
        per_sample_worst_case({})


def test_within_budget_allows_float32_round_off_only() -> None:
    # ε = 0.3: the bound is 0.3 · (1 + 1e-5) + 1e-6 = 0.300004.
    norms = np.array([0.0, 0.3, 0.300003, 0.300005, 1.0])
    assert within_budget(norms, 0.3).tolist() == [True, True, True, False, False]
    assert within_budget(norms, None).tolist() == [True] * 5
