"""The leaderboard's scoring and ranking on hand-built inputs."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from decoybench.cells.adaptive import clean_rejections, defender_outcome
from decoybench.defenses.system import adaptive_system
from decoybench.leaderboard.row import worst_cases
from decoybench.leaderboard.tables import leaderboard_frame


class _FlagBrightFirstPixel:
    """Flags x when its first value exceeds 0.5 (margin x_0 − 0.5), at FPR 5%."""

    fpr_target = 0.05

    def margin(self, x: Tensor) -> Tensor:
        return x.flatten(1)[:, 0] - 0.5

    def score(self, x: Tensor) -> Tensor:
        return self.margin(x)

    def is_adversarial(self, x: Tensor) -> Tensor:
        return self.margin(x) > 0


def test_defender_outcome_counts_rejections_and_passing_examples() -> None:
    system = adaptive_system(nn.Flatten(), {}, [_FlagBrightFirstPixel()])
    x_clean = torch.tensor([[0.1, 0.0], [0.9, 0.0], [0.1, 0.0], [0.1, 0.0]])
    x_adv = torch.tensor([[0.9, 1.0], [0.9, 1.0], [0.1, 1.0], [0.1, 0.0]])
    rejected = clean_rejections(system, x_clean)
    assert rejected["fpr_0.05"].tolist() == [False, True, False, False]
    outcome = defender_outcome(
        system,
        clean_correct=np.array([True, True, True, False]),
        clean_rejected=rejected,
        fooled=np.array([True, True, True, False]),
        x_adv=x_adv,
    )
    point = outcome["operating_points"]["fpr_0.05"]
    # 0: fooled but detected; 1: clean rejected; 2: fooled and passed; 3: clean error.
    assert point["failures"] == [0, 1, 1, 1]
    assert point["detection_of_fooling"]["count"] == 2
    assert (point["charged_attack_success"]["count"], point["charged_attack_success"]["total"]) == (
        3,
        4,
    )
    assert point["fpr_target"] == 0.05
    assert system.attacked is not None and torch.equal(
        system.attacked.detection_margin(x_adv), x_adv[:, 0] - 0.5
    )


def _row(defense: str, oblivious: list[int], adaptive: list[int]) -> dict:
    def entry(threat: str, failures: list[int]) -> dict:
        rate = {"value": sum(failures) / 4, "count": sum(failures), "total": 4}
        point = {
            "failures": failures,
            "clean_rejection": {"value": 0.0, "count": 0, "total": 4},
            "charged_attack_success": rate,
        }
        return {
            "threat": threat,
            "setting": threat,
            "attack": "a",
            "clean_accuracy": {"value": 1.0, "count": 4, "total": 4},
            "operating_points": {"fpr_0.05": point},
        }

    attacks = [entry("oblivious", oblivious), entry("adaptive", adaptive)]
    return {
        "defense": defense,
        "n": 4,
        "attacks": attacks,
        "worst_case": worst_cases(attacks),
        "gradient": {"zero_share": 0.0},
    }


def test_leaderboard_ranks_by_the_adaptive_worst_case_and_flags_weak_attacks() -> None:
    rows = [_row("strong", [1, 0, 0, 0], [1, 1, 1, 0]), _row("weak", [1, 1, 0, 0], [1, 0, 0, 0])]
    frame = leaderboard_frame(rows, [0.05])
    assert frame["defense"].tolist() == ["weak", "strong"]  # lower adaptive success first
    assert math.isclose(frame.loc[1, "adaptive_fpr_0.05"], 0.75)
    assert frame.loc[0, "flags"] == "weak_adaptive@fpr_0.05"
    assert frame.loc[1, "flags"] == ""
