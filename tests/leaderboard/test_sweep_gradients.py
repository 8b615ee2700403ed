"""The ε sweep takes, per sample, the worst over the gradients a defense type offers (exact,
and its BPDA surrogate where it has one), never the first or a mean."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from decoybench.leaderboard.sweep import sweep_defense, worst_over_gradients

pytestmark = pytest.mark.usefixtures("single_thread")


def test_the_worst_case_over_gradients_is_per_sample() -> None:
    failures = {
        0.3: {
            "fpr_0.05": {
                "exact": np.array([1, 0, 0, 1], dtype=bool),
                "bpda": np.array([0, 1, 0, 1], dtype=bool),
            }
        },
        1.0: {"fpr_0.05": {"exact": np.ones(4, dtype=bool), "bpda": np.zeros(4, dtype=bool)}},
    }
    points = worst_over_gradients(failures)
    assert [point["epsilon"] for point in points] == [0.3, 1.0]
    low = points[0]["operating_points"]["fpr_0.05"]
    assert (low["count"], low["total"]) == (3, 4)  # not 2 (either alone), not 2.0 (a mean)
    assert points[1]["operating_points"]["fpr_0.05"]["value"] == 1.0


def test_success_cannot_fall_as_epsilon_grows() -> None:
    """An example found within ε = 0.3 is within ε = 1: the larger budget keeps it even when
    the attack run at ε = 1 (its larger steps) finds less."""
    failures = {
        1.0: {"fpr_0.05": {"exact": np.array([0, 0, 1, 0], dtype=bool)}},
        0.3: {"fpr_0.05": {"exact": np.array([1, 1, 0, 0], dtype=bool)}},
    }
    points = worst_over_gradients(failures)
    assert [point["epsilon"] for point in points] == [0.3, 1.0]
    assert [point["operating_points"]["fpr_0.05"]["count"] for point in points] == [2, 3]


def test_an_undefended_sweep_runs_its_one_gradient(tiny_store, tiny_victim, tmp_path) -> None:
    config = yaml.safe_load(
        "{attack: combined_linf_pgd, epsilon: 0.3, steps: 5, abs_stepsize: 0.05, "
        "random_start: true}"
    )
    result = sweep_defense(
        defense="undefended",
        victim=tiny_victim,
        defense_path=None,
        data_dir=tiny_store,
        attack_config=config,
        epsilons=[0.1, 1.0],
        n_samples=10,
        seed=0,
        out=tmp_path / "sweep.json",
        device="cpu",
    )
    assert result["gradients"] == ["exact"]
    assert [point["epsilon"] for point in result["points"]] == [0.1, 1.0]
    first, last = (point["operating_points"]["no_detector"] for point in result["points"])
    assert last["total"] == 10
    assert last["value"] >= 0.9 and last["value"] > first["value"]  # ε = 1 ≫ ε = 0.1
    assert (tmp_path / "sweep.json").exists()
