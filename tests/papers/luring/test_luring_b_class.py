"""Class b of the luring loss (Bernhard et al. 2021, Eq. 2): the two readings ("best_other",
the default, and "second_max", Algorithm 1 line 6) and the config key `b_class` that picks one,
from the `defenses` entry through the recipe to the loss and the sidecar (issue 17)."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from decoybench.config import ConfigError, load_yaml, validate_config
from decoybench.models.checkpoint import read_sidecar
from decoybench.papers.luring import build as luring_build
from decoybench.papers.luring.build import build_luring_defense, component_recipe
from decoybench.papers.luring.defense import training
from decoybench.papers.luring.defense.augmented import AugmentedModel
from decoybench.papers.luring.defense.components import build_component
from decoybench.papers.luring.defense.loss import B_CLASSES, luring_loss
from decoybench.papers.luring.defense.schedules import PAPER_SCHEDULES, ComponentRecipe
from decoybench.papers.luring.defense.training import train_component

pytestmark = pytest.mark.usefixtures("single_thread")

# One input per row, four classes; λ = 1. Eq. 2 = -(h_{M(x)} - h_a) + max(0, h_b - h_{M(x)})
# on M∘P's logits, M(x) = argmax h^M, a = M's runner-up.
# Top class of M∘P is 3, M(x) = 0 its runner-up.
#   gap = h0 - h1 = 3.0 - 0.5 = 2.5
#   best_other: b = argmax_{j≠0} = 3, hinge = 4.0 - 3.0 = 1 → loss -2.5 + 1 = -1.5
#   second_max: b = class of the 2nd max = 0 = M(x), hinge = 0 → loss -2.5
RUNNER_UP = (torch.tensor([[3.0, 1.0, 0.0, 0.0]]), torch.tensor([[3.0, 0.5, 1.0, 4.0]]))
# Top class of M∘P is 3, M(x) = 2 ranks third (after 3 and 1).
#   gap = h2 - h3 = 1.0 - 3.0 = -2
#   best_other: b = 3, hinge = 3.0 - 1.0 = 2 → loss 2 + 2 = 4
#   second_max: b = 1 (1.5), hinge = 1.5 - 1.0 = 0.5 → loss 2 + 0.5 = 2.5
THIRD = (torch.tensor([[1.0, 0.0, 2.5, 2.0]]), torch.tensor([[0.0, 1.5, 1.0, 3.0]]))
# Top class of M∘P is M(x) = 1: both readings take b = 2 (its 2nd max).
#   gap = h1 - h2 = 3.0 - 2.0 = 1, hinge = max(0, 2.0 - 3.0) = 0 → loss -1
AGREE = (torch.tensor([[0.0, 2.0, 1.0, -1.0]]), torch.tensor([[0.5, 3.0, 2.0, 1.0]]))


def _loss(case: tuple[Tensor, Tensor], b_class: str) -> float:
    target, augmented = case
    return luring_loss(augmented, target, 1.0, b_class=b_class).item()


@pytest.mark.parametrize(
    ("case", "best_other", "second_max"),
    [(RUNNER_UP, -1.5, -2.5), (THIRD, 4.0, 2.5), (AGREE, -1.0, -1.0)],
    ids=["m_x_runner_up", "m_x_third", "top_is_m_x"],
)
def test_the_two_readings_of_b_by_hand(case, best_other: float, second_max: float) -> None:
    assert _loss(case, "best_other") == pytest.approx(best_other)
    assert _loss(case, "second_max") == pytest.approx(second_max)
    target, augmented = case
    assert luring_loss(augmented, target, 1.0).item() == pytest.approx(best_other)  # default


def test_second_max_hinge_gives_no_gradient_when_m_x_is_the_runner_up() -> None:
    target, augmented = RUNNER_UP
    augmented = augmented.clone().requires_grad_(True)
    luring_loss(augmented, target, 1.0, b_class="second_max").backward()
    assert torch.equal(augmented.grad, torch.tensor([[-1.0, 1.0, 0.0, 0.0]]))  # -(h0 - h1) only


def test_batch_mean_per_reading() -> None:
    target = torch.cat([RUNNER_UP[0], THIRD[0], AGREE[0]])
    augmented = torch.cat([RUNNER_UP[1], THIRD[1], AGREE[1]])
    assert luring_loss(augmented, target, 1.0).item() == pytest.approx((-1.5 + 4.0 - 1.0) / 3)
    second = luring_loss(augmented, target, 1.0, b_class="second_max").item()
    assert second == pytest.approx((-2.5 + 2.5 - 1.0) / 3)


def test_unknown_b_class_is_rejected_by_name() -> None:
    target, augmented = AGREE
    with pytest.raises(ValueError, match="'third_max'"):
        luring_loss(augmented, target, 1.0, b_class="third_max")
    with pytest.raises(ValueError, match="'bogus'"):
        ComponentRecipe(1, 16, (1e-3,), b_class="bogus")


def test_recipes_default_to_best_other_old_sidecars_included() -> None:
    assert B_CLASSES[0] == "best_other"
    assert all(
        recipe.b_class == "best_other"
        for schedules in PAPER_SCHEDULES.values()
        for recipe in schedules.values()
    )
    old = {"epochs": 1, "batch_size": 16, "learning_rates": [1e-3], "lr_milestones": []}
    assert ComponentRecipe.from_config(old).b_class == "best_other"  # no key: the old reading


def test_component_recipe_carries_b_class_for_luring_only() -> None:
    entry = {"component": "mnist", "epochs": 1, "b_class": "second_max"}
    assert component_recipe(entry, "luring").b_class == "second_max"
    assert component_recipe({"component": "mnist"}, "luring").b_class == "best_other"
    assert component_recipe({**entry, "b_class": "best_other"}, "stack").b_class == "best_other"
    with pytest.raises(ValueError, match="luring approach only"):
        component_recipe(entry, "stack")


def test_the_config_schema_takes_b_class(repository_root: Path) -> None:
    config = load_yaml(repository_root / "config" / "config.yaml")
    for value in B_CLASSES:
        good = copy.deepcopy(config)
        good["defenses"]["luring"]["b_class"] = value
        validate_config(good)
    config["defenses"]["luring"]["b_class"] = "third_max"
    with pytest.raises(ConfigError, match="b_class"):
        validate_config(config)


def test_training_calls_the_loss_with_the_recipe_b_class(monkeypatch) -> None:
    seen: list[str] = []

    def recording(augmented: Tensor, target: Tensor, coefficient: float, b_class: str) -> Tensor:
        seen.append(b_class)
        return luring_loss(augmented, target, coefficient, b_class=b_class)

    monkeypatch.setattr(training, "luring_loss", recording)
    torch.manual_seed(0)
    victim = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    images = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for b_class in B_CLASSES:
        seen.clear()
        train_component(
            "luring",
            build_component("mnist", 1, 28),
            victim,
            images,
            recipe=ComponentRecipe(1, 8, (1e-3,), b_class=b_class),  # one step
            generator=torch.Generator().manual_seed(0),
            progress=io.StringIO(),
        )
        assert seen == [b_class]


def test_the_build_trains_and_records_the_entry_b_class(
    tiny_store, tiny_victim, tmp_path, monkeypatch
) -> None:
    recipes: list[ComponentRecipe] = []

    def untrained(approach, component, target, images, *, recipe, **kwargs) -> dict[str, Any]:
        recipes.append(recipe)
        return {"approach": approach, "history": [], "model": AugmentedModel(component, target)}

    monkeypatch.setattr(luring_build, "train_component", untrained)
    out = tmp_path / "p.safetensors"
    build_luring_defense(
        target_path=tiny_victim,
        data_dir=tiny_store,
        approach="luring",
        settings={"component": "mnist", "epochs": 1, "b_class": "second_max"},
        out=out,
        device=torch.device("cpu"),
        seed=0,
        progress=io.StringIO(),
    )
    assert [recipe.b_class for recipe in recipes] == ["second_max"]
    assert read_sidecar(out)["recipe"]["b_class"] == "second_max"
