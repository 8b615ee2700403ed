"""Sanity flags in the spirit of AutoAttack's checks (Croce & Hein, ICML 2020).

Per adversarial set: at ε = 0 the attacked model's accuracy must equal its clean accuracy
(same predictions), and success must not fall as ε grows (checked at ε/2 on a subset).
Per table: a gradient-free attack that beats every white-box gradient attack of the same
norm and budget on the same target is flagged as possible gradient masking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from decoybench.attacks.base import choose_targets
from decoybench.attacks.registry import build_from_config
from decoybench.metrics import Rate


def epsilon_zero_consistent(clean_predicted: Any, zero_budget_predicted: Any) -> bool:
    """ε = 0 reproduces clean accuracy: every prediction at ε = 0 equals the clean one."""
    return bool(np.array_equal(np.asarray(clean_predicted), np.asarray(zero_budget_predicted)))


def monotone_in_epsilon(smaller: Rate, larger: Rate, tolerance: int = 1) -> bool:
    """Success must not fall as ε grows: count at the smaller ε ≤ count at the larger ε
    (+ `tolerance` samples for randomised attacks), over the same inputs."""
    return smaller.count <= larger.count + tolerance


def at_epsilon(attack_config: dict[str, Any], budget: float) -> dict[str, Any]:
    """The same attack at budget `budget`: ε-relative parameters (the class's
    `epsilon_scaled_parameters`, e.g. RFGSM's α) scale with it."""
    from decoybench.attacks.registry import ATTACKS

    scale = budget / attack_config["epsilon"]
    scaled = {**attack_config, "epsilon": budget}
    for key in ATTACKS[attack_config["attack"]].epsilon_scaled_parameters:
        if scaled.get(key) is not None:
            scaled[key] = scaled[key] * scale
    return scaled


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x).argmax(dim=1).cpu()


def adversarial_set_checks(
    *,
    attack_config: dict[str, Any],
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    success: np.ndarray,
    clean_correct: np.ndarray,
    generator: torch.Generator,
) -> dict[str, Any]:
    """Run the ε = 0 and ε/2 checks of one attack on a subset (x, y) whose full-budget
    `success` is known; attacks without an ε budget report None for both."""
    epsilon = attack_config.get("epsilon")
    if epsilon is None or epsilon == 0:
        return {"epsilon_zero_consistent": None, "monotone_in_epsilon": None}
    clean_predicted = _predict(model, x)
    checks: dict[str, Any] = {}
    for label, budget in (("zero", 0.0), ("half", epsilon / 2)):
        attack = build_from_config(at_epsilon(attack_config, budget))
        target = choose_targets(attack.target_mode, model, x, y, generator)
        result = attack(model, x, y, target=target, generator=generator)
        if label == "zero":
            checks["epsilon_zero_consistent"] = epsilon_zero_consistent(
                clean_predicted, _predict(model, result.x_adv.to(x.device))
            )
        else:
            half = Rate.of(result.success.numpy(), clean_correct)
            full = Rate.of(success, clean_correct)
            checks["monotone_in_epsilon"] = monotone_in_epsilon(half, full)
            checks["success_at_half_epsilon"] = half.value
            checks["success_at_epsilon_on_subset"] = full.value
    return checks


if TYPE_CHECKING:
    import pandas as pd


def flag_gradient_masking(table: pd.DataFrame) -> pd.Series:
    """True where a gradient-free attack's target ASR beats every white-box gradient
    attack with the same norm and an ε at least as large, on the same dataset, setting
    and defense: gradient-based attacks should be stronger unless gradients are masked.

    "Beats" is statistical when intervals are given: the gradient-free attack's lower 95%
    bound (`target_asr_ci_low`) exceeds every peer's upper bound (`target_asr_ci_high`),
    so a 48/48 against a 470/480 is not flagged; without intervals, the rates compare."""
    import pandas as pd  # only the table jobs need it; attack jobs import this module too

    flags = pd.Series(False, index=table.index)
    required = {"gradient_free", "norm", "epsilon", "target_asr"}
    low = "target_asr_ci_low" if "target_asr_ci_low" in table.columns else "target_asr"
    high = "target_asr_ci_high" if "target_asr_ci_high" in table.columns else "target_asr"
    if not required <= set(table.columns):
        return flags
    groups = table.groupby(["dataset", "setting", "defense", "norm"], dropna=False)
    for _, group in groups:
        gradient = group[~group["gradient_free"].astype(bool)]
        for index, row in group[group["gradient_free"].astype(bool)].iterrows():
            peers = gradient[gradient["epsilon"] >= row["epsilon"]]
            if len(peers) and row[low] > peers[high].max():
                flags[index] = True
    return flags
