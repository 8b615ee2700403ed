"""The leaderboard's scoring and ranking on hand-built inputs."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from decoybench.cells.adaptive import clean_rejections, defender_outcome
from decoybench.defenses.system import adaptive_system
from decoybench.leaderboard.row import budget_masks, worst_cases
from decoybench.leaderboard.sweep import at_epsilon, saturation
from decoybench.leaderboard.tables import leaderboard_frame, worst_cases_frame


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
    """Unbounded failures as given; within linf_0.3 only the first two inputs' x' count."""

    def entry(threat: str, failures: list[int]) -> dict:
        def rate(flags: list[int]) -> dict:
            return {"value": sum(flags) / 4, "count": sum(flags), "total": 4}

        within = [*failures[:2], 0, 0]
        point = {
            "failures": failures,
            "clean_rejection": {"value": 0.0, "count": 0, "total": 4},
            "charged_attack_success": rate(failures),
            "threat_models": {
                "any": {"charged_attack_success": rate(failures), "failures": failures},
                "linf_0.3": {"charged_attack_success": rate(within), "failures": within},
            },
        }
        return {
            "threat": threat,
            "setting": threat,
            "attack": "a",
            "clean_accuracy": {"value": 1.0, "count": 4, "total": 4},
            "operating_points": {"fpr_0.05": point},
        }

    attacks = [entry("oblivious", oblivious), entry("adaptive", adaptive)]
    models = [{"name": "any", "norm": None}, {"name": "linf_0.3", "norm": "linf", "epsilon": 0.3}]
    return {
        "defense": defense,
        "n": 4,
        "attacks": attacks,
        "threat_models": models,
        "worst_case": worst_cases(attacks, ["any", "linf_0.3"]),
        "gradient": {"zero_share": 0.0},
    }


def test_leaderboard_ranks_by_the_adaptive_worst_case_and_flags_weak_attacks() -> None:
    rows = [_row("strong", [1, 0, 0, 0], [1, 1, 1, 0]), _row("weak", [1, 1, 0, 0], [1, 0, 0, 0])]
    frame = leaderboard_frame(rows, [0.05])
    assert frame["defense"].tolist() == ["weak", "strong"]  # lower adaptive success first
    assert math.isclose(frame.loc[1, "adaptive_any"], 0.75)
    assert math.isclose(frame.loc[1, "adaptive_linf_0.3"], 0.5)  # x'_3 is over the budget
    assert frame.loc[0, "flags"] == "weak_adaptive(any@fpr_0.05), weak_adaptive(linf_0.3@fpr_0.05)"
    assert frame.loc[1, "flags"] == ""
    saturation = {"strong": {"epsilon": 1.0, "value": 0.6, "saturated": False}}
    flagged = leaderboard_frame(rows, [0.05], saturation).set_index("defense")
    assert flagged.loc["strong", "flags"] == "unsaturated_sweep(60%@1)"


def test_the_worst_case_is_per_sample_over_the_attacks_of_one_knowledge() -> None:
    row = _row("d", [1, 0, 0, 0], [0, 1, 0, 1])
    adaptive = row["worst_case"]["adaptive"]["any"]["fpr_0.05"]
    assert (adaptive["count"], adaptive["total"]) == (2, 4)
    frame = worst_cases_frame([row], [0.05])
    assert len(frame) == 4  # 2 threat models x 2 knowledges
    within = frame.set_index(["threat_model", "knowledge"]).loc[("linf_0.3", "adaptive")]
    assert within["attack_success_count"] == 1 and within["attacks"] == "adaptive/a"


def test_budget_masks_keep_only_the_examples_within_each_norm_budget() -> None:
    arrays = {
        "index": np.arange(4),
        "linf": np.array([0.1, 0.3, 0.3000001, 0.5], dtype=np.float32),
        "l2": np.array([3.0, 1.0, 2.0, 2.1], dtype=np.float32),
    }
    masks = budget_masks(
        arrays,
        {
            "linf_0.3": {"norm": "linf", "epsilon": 0.3},
            "l2_2.0": {"norm": "l2", "epsilon": 2.0},
            "any": {"norm": None},
        },
    )
    assert masks["linf_0.3"].tolist() == [True, True, True, False]  # float32 round-off in
    assert masks["l2_2.0"].tolist() == [False, True, True, False]
    assert masks["any"].tolist() == [True] * 4


def test_an_example_over_the_budget_counts_as_its_clean_input() -> None:
    system = adaptive_system(nn.Flatten(), {}, [_FlagBrightFirstPixel()])
    x_clean = torch.tensor([[0.1, 0.0], [0.1, 0.0], [0.1, 0.0]])
    x_adv = torch.tensor([[0.1, 1.0], [0.1, 1.0], [0.1, 1.0]])
    outcome = defender_outcome(
        system,
        clean_correct=np.array([True, True, False]),
        clean_rejected=clean_rejections(system, x_clean),
        fooled=np.array([True, True, True]),
        x_adv=x_adv,
        budgets={"small": np.array([True, False, False])},
    )
    point = outcome["operating_points"]["fpr_0.05"]
    assert point["failures"] == [1, 1, 1]
    # 1: over the budget, its clean input is classified right; 2: a clean error anyway.
    assert point["threat_models"]["small"]["failures"] == [1, 0, 1]


def test_sweep_saturation_is_the_lowest_point_at_the_largest_epsilon() -> None:
    def rate(value: float) -> dict:
        return {"value": value, "count": round(10 * value), "total": 10}

    sweep = {
        "points": [
            {"epsilon": 0.1, "operating_points": {"a": rate(0.2), "b": rate(0.1)}},
            {"epsilon": 1.0, "operating_points": {"a": rate(1.0), "b": rate(0.9)}},
        ]
    }
    assert saturation(sweep) == {"epsilon": 1.0, "value": 0.9, "saturated": False}
    sweep["points"][1]["operating_points"]["b"] = rate(1.0)
    assert saturation(sweep)["saturated"]


def test_the_sweep_scales_an_absolute_step_with_epsilon() -> None:
    entry = {"attack": "combined_linf_pgd", "epsilon": 0.3, "abs_stepsize": 0.01, "steps": 50}
    scaled = at_epsilon(entry, 0.9)
    assert scaled["epsilon"] == 0.9 and math.isclose(scaled["abs_stepsize"], 0.03)
    assert entry["epsilon"] == 0.3  # the config entry itself is left alone


def test_a_null_threat_model_is_dropped_and_all_null_is_an_error() -> None:
    from decoybench.leaderboard.workflow import threat_models

    def config(models: dict) -> dict:
        return {"evaluation": {"leaderboard": {"threat_models": models}}}

    merged = {"linf_0.3": None, "linf_8": {"norm": "linf", "epsilon": 8 / 255}}
    assert list(threat_models(config(merged))) == ["linf_8"]
    try:
        threat_models(config({"linf_0.3": None}))
    except ValueError as error:
        assert "evaluation.leaderboard.threat_models" in str(error)
    else:
        raise AssertionError("an all-null threat_models was accepted")
