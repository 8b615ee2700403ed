"""Sanity flags: hand-built cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from decoybench.cells.sanity import (
    adversarial_set_checks,
    epsilon_zero_consistent,
    flag_gradient_masking,
    monotone_in_epsilon,
)
from decoybench.metrics import Rate


def test_epsilon_zero_and_monotonicity_hand_built() -> None:
    assert epsilon_zero_consistent([1, 2, 3], [1, 2, 3])
    assert not epsilon_zero_consistent([1, 2, 3], [1, 2, 4])
    assert monotone_in_epsilon(Rate(5, 10), Rate(5, 10))
    assert monotone_in_epsilon(Rate(6, 10), Rate(5, 10))  # one sample of tolerance
    assert not monotone_in_epsilon(Rate(8, 10), Rate(5, 10))


def test_gradient_masking_flag() -> None:
    table = pd.DataFrame(
        {
            "dataset": ["d"] * 4,
            "setting": ["whitebox"] * 4,
            "defense": ["x"] * 4,
            "norm": ["linf", "linf", "linf", "l2"],
            "epsilon": [0.3, 0.3, 0.3, 2.0],
            "gradient_free": [False, True, True, True],
            "target_asr": [0.4, 0.7, 0.2, 0.9],
        }
    )
    # Row 1 beats the only L∞ white-box attack (0.7 > 0.4); row 2 does not; row 3 has no
    # L2 white-box peer to compare with.
    assert flag_gradient_masking(table).tolist() == [False, True, False, False]
    # With intervals: 48/48 = 100% [92.6, 100] does not beat 470/480 = 97.9% [96.2, 98.9].
    table["target_asr_ci_low"] = [0.962, 0.926, 0.1, 0.8]
    table["target_asr_ci_high"] = [0.989, 1.0, 0.3, 1.0]
    table["target_asr"] = [0.979, 1.0, 0.2, 0.9]
    assert flag_gradient_masking(table).tolist() == [False, False, False, False]
    table.loc[1, "target_asr_ci_low"] = 0.995
    assert flag_gradient_masking(table).tolist() == [False, True, False, False]


def test_checks_run_on_a_real_attack(tiny_store) -> None:
    from decoybench.data import load_split
    from decoybench.runtime import to_float

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    test = load_split(tiny_store, "test")
    x, y = to_float(test.images[:20]), torch.as_tensor(test.labels[:20])
    config = {"attack": "linf_pgd", "epsilon": 0.2, "steps": 5}
    from decoybench.attacks.registry import build_from_config

    result = build_from_config(config)(model, x, y, generator=torch.Generator().manual_seed(0))
    correct = np.ones(20, dtype=bool)  # untrained model: count every input as attempted
    checks = adversarial_set_checks(
        attack_config=config,
        model=model,
        x=x,
        y=y,
        success=result.success.numpy(),
        clean_correct=correct,
        generator=torch.Generator().manual_seed(1),
    )
    assert checks["epsilon_zero_consistent"] is True
    assert checks["monotone_in_epsilon"] is True
    assert checks["success_at_half_epsilon"] <= checks["success_at_epsilon_on_subset"] + 0.1
    unbounded = adversarial_set_checks(
        attack_config={"attack": "deepfool"},
        model=model,
        x=x,
        y=y,
        success=np.zeros(20, dtype=bool),
        clean_correct=correct,
        generator=torch.Generator(),
    )
    assert unbounded == {"epsilon_zero_consistent": None, "monotone_in_epsilon": None}


def test_every_bounded_preset_attack_rebuilds_at_zero_and_half_budget(repository_root) -> None:
    from decoybench.attacks.registry import build_from_config
    from decoybench.cells.sanity import at_epsilon
    from decoybench.config import expand_presets, load_yaml

    config = load_yaml(repository_root / "config" / "config.yaml")
    config["attack_presets"] = "paper"
    attacks = expand_presets(config, repository_root / "config" / "attacks")["attacks"]
    bounded = {label: entry for label, entry in attacks.items() if entry.get("epsilon")}
    assert len(bounded) > 50
    for label, entry in bounded.items():
        for budget in (0.0, entry["epsilon"] / 2):
            assert build_from_config(at_epsilon(entry, budget)).epsilon == budget, label


def test_epsilon_relative_parameters_scale_with_the_budget() -> None:
    from decoybench.cells.sanity import at_epsilon

    assert at_epsilon({"attack": "rfgsm", "epsilon": 0.3, "alpha": 0.15}, 0.15)["alpha"] == 0.075
    assert at_epsilon({"attack": "linf_pgd", "epsilon": 0.3, "steps": 40}, 0.0)["steps"] == 40
