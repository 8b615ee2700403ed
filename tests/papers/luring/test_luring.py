"""Luring defense (Bernhard et al. 2021): Eq. 2, components P (Tables 5-7), M∘P, training."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from decoybench.data import load_split
from decoybench.models.checkpoint import load_checkpoint
from decoybench.papers.luring.defense.augmented import AugmentedModel, agreement
from decoybench.papers.luring.defense.components import build_component
from decoybench.papers.luring.defense.loss import luring_loss
from decoybench.papers.luring.defense.schedules import (
    PAPER_SCHEDULES,
    ComponentRecipe,
    paper_recipe,
)
from decoybench.papers.luring.defense.training import train_component
from decoybench.runtime import seed_everything, to_float

# Three inputs, four classes. Columns: classes 0..3.
TARGET_LOGITS = torch.tensor(
    [
        [2.0, 1.0, 0.5, -1.0],  # M(x) = 0, a = 1
        [0.0, 3.0, 1.0, 2.0],  # M(x) = 1, a = 3
        [1.0, 0.0, 2.5, 2.0],  # M(x) = 2, a = 3
    ]
)
AUGMENTED_LOGITS = torch.tensor(
    [
        [3.0, 0.5, 1.0, -2.0],  # top 0 = M(x): b = 2, hinge inactive
        [1.0, 2.0, 4.0, 0.5],  # top 2 != M(x) = 1 (the runner-up): b = 2, hinge active
        [0.0, 1.5, 1.0, 3.0],  # top 3 = a, M(x) = 2 ranks third: b = 3, hinge active
    ]
)
# Per input, Eq. 2 = -λ·gap + hinge with gap = h_{M(x)} - h_a and hinge = max(0, h_b - h_{M(x)}):
#   x1: gap = 3.0 - 0.5 =  2.5, hinge = max(0, 1.0 - 3.0) = 0
#   x2: gap = 2.0 - 0.5 =  1.5, hinge = max(0, 4.0 - 2.0) = 2   (the literal "2nd max of
#       h^{M∘P}" would be class 1 = M(x) itself, giving hinge 0 although M∘P misclassifies)
#   x3: gap = 1.0 - 3.0 = -2.0, hinge = max(0, 3.0 - 1.0) = 2
GAPS = (2.5, 1.5, -2.0)
HINGES = (0.0, 2.0, 2.0)


def test_luring_loss_matches_hand_computed_example() -> None:
    for row, (gap, hinge) in enumerate(zip(GAPS, HINGES, strict=True)):
        single = luring_loss(AUGMENTED_LOGITS[row : row + 1], TARGET_LOGITS[row : row + 1], 1.0)
        assert single.item() == pytest.approx(-gap + hinge)
    # mean of (-2.5 + 0, -1.5 + 2, 2.0 + 2) = (-2.5 + 0.5 + 4.0) / 3 = 2/3
    assert luring_loss(AUGMENTED_LOGITS, TARGET_LOGITS, 1.0).item() == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("coefficient", "expected"),
    [
        (0.0, 4 / 3),  # hinges only: (0 + 2 + 2) / 3
        (0.15, 3.7 / 3),  # (-0.375 + (-0.225 + 2) + (0.3 + 2)) / 3
        (2.0, 0.0),  # (-5 + (-3 + 2) + (4 + 2)) / 3
    ],
)
def test_luring_coefficient_scales_the_gap_term_only(coefficient: float, expected: float) -> None:
    loss = luring_loss(AUGMENTED_LOGITS, TARGET_LOGITS, coefficient)
    assert loss.item() == pytest.approx(expected)


def test_luring_loss_gradient_flows_through_augmented_logits_only() -> None:
    augmented = AUGMENTED_LOGITS.clone().requires_grad_(True)
    target = TARGET_LOGITS.clone().requires_grad_(True)
    coefficient = 0.5
    luring_loss(augmented, target, coefficient).backward()
    lam = coefficient
    expected = (
        torch.tensor(
            [
                [-lam, lam, 0.0, 0.0],  # -λ(h0 - h1)
                [0.0, -lam - 1, 1.0, lam],  # -λ(h1 - h3) + (h2 - h1)
                [0.0, 0.0, -lam - 1, lam + 1],  # -λ(h2 - h3) + (h3 - h2)
            ]
        )
        / 3
    )
    assert torch.allclose(augmented.grad, expected)
    assert target.grad is None


def test_luring_loss_rejects_bad_shapes_and_negative_coefficient() -> None:
    with pytest.raises(ValueError, match="equal shape"):
        luring_loss(AUGMENTED_LOGITS, TARGET_LOGITS[:, :3], 1.0)
    with pytest.raises(ValueError, match="luring_coefficient"):
        luring_loss(AUGMENTED_LOGITS, TARGET_LOGITS, -0.1)


# Parameters: conv 3·3·c_in·c_out + c_out, BN 2·c (γ, β; running stats are buffers).
# Table 5 (MNIST, no BN): 1→16: 9·1·16+16 = 160; 16→8: 9·16·8+8 = 1160; three 8→8: 3·(9·8·8+8)
#   = 3·584 = 1752; 8→16: 9·8·16+16 = 1168; 16→1: 9·16·1+1 = 145. Total 4385.
# Tables 6 and 7 have the same filter sequence 3→128→256→512→1024→512→512→256→128→64→3
#   (they differ only in pooling/upsampling), each conv followed by BN:
#   3→128: 3456+128+256 = 3840; 128→256: 294912+256+512 = 295680;
#   256→512: 1179648+512+1024 = 1181184; 512→1024: 4718592+1024+2048 = 4721664;
#   1024→512: 4718592+512+1024 = 4720128; 512→512: 2359296+512+1024 = 2360832;
#   512→256: 1179648+256+512 = 1180416; 256→128: 294912+128+256 = 295296;
#   128→64: 73728+64+128 = 73920; 64→3: 1728+3+6 = 1737. Total 14834697.
@pytest.mark.parametrize(
    ("name", "channels", "size", "parameters"),
    [("mnist", 1, 28, 4385), ("svhn", 3, 32, 14834697), ("cifar10", 3, 32, 14834697)],
)
def test_component_preserves_shape_and_range(
    name: str, channels: int, size: int, parameters: int
) -> None:
    torch.manual_seed(0)
    component = build_component(name, channels, size)
    assert sum(parameter.numel() for parameter in component.parameters()) == parameters
    images = torch.stack(
        [torch.zeros(channels, size, size), torch.ones(channels, size, size)]
        + [torch.rand(channels, size, size) for _ in range(2)]
    )
    with torch.no_grad():
        for mode in (True, False):
            output = component.train(mode)(images)
            assert output.shape == images.shape
            assert float(output.min()) >= 0.0 and float(output.max()) <= 1.0


def test_build_component_rejects_unknown_names_and_sizes() -> None:
    with pytest.raises(ValueError, match="allowed: cifar10, mnist, svhn"):
        build_component("imagenet", 3, 32)
    with pytest.raises(ValueError, match="not supported"):
        build_component("svhn", 3, 28)  # 28 → 14 → 7 → 4 → 8 → 16 → 32


@pytest.fixture()
def victim(tiny_victim):
    model, _ = load_checkpoint(tiny_victim)
    return model


@pytest.fixture(scope="module")
def train_images(tiny_store) -> torch.Tensor:
    return to_float(load_split(tiny_store, "train").images)


def test_augmented_model_keeps_target_frozen_and_in_eval(victim, train_images) -> None:
    component = build_component("mnist", 1, 28)
    model = AugmentedModel(component, victim).train()
    assert model.training and component.training and not victim.training
    assert all(not parameter.requires_grad for parameter in victim.parameters())
    inputs = train_images[:4]
    with torch.no_grad():
        assert torch.equal(model(inputs), victim(component(inputs)))
    luring_loss(model(inputs), victim(inputs), 1.0).backward()
    assert all(parameter.grad is None for parameter in victim.parameters())
    gradients = [parameter.grad for parameter in component.parameters()]
    assert all(grad is not None for grad in gradients)
    assert any(float(grad.abs().sum()) > 0 for grad in gradients)


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def _moved(before: dict[str, torch.Tensor], module: nn.Module) -> bool:
    after = module.state_dict()
    return any(not torch.equal(before[key], after[key]) for key in before)


def _train_luring(victim, images, seed: int, epochs: int = 3):
    generator = seed_everything(seed)
    component = build_component("mnist", 1, 28)
    result = train_component(
        "luring",
        component,
        victim,
        images,
        recipe=ComponentRecipe(epochs, 32, (1e-3,)),
        generator=generator,
        validation_images=images[:30],
        progress=io.StringIO(),
    )
    return component, result


def test_luring_training_lowers_the_loss_and_is_deterministic(tiny_victim, train_images) -> None:
    victim, _ = load_checkpoint(tiny_victim)
    victim_before = _state(victim)
    torch.manual_seed(0)
    untrained = build_component("mnist", 1, 28).eval()
    with torch.no_grad():
        reference = victim(train_images)
        loss_before = luring_loss(victim(untrained(train_images)), reference, 1.0).item()

    component, result = _train_luring(victim, train_images, seed=0)
    with torch.no_grad():
        loss_after = luring_loss(result["model"](train_images), reference, 1.0).item()
    assert loss_after < loss_before - 0.5
    assert not _moved(victim_before, victim)
    assert [record["epoch"] for record in result["history"]] == [1, 2, 3]
    assert all(0.0 <= record["val_agreement"] <= 1.0 for record in result["history"])

    again, repeated = _train_luring(victim, train_images, seed=0)
    assert repeated["history"] == result["history"]
    assert all(
        torch.equal(value, again.state_dict()[key]) for key, value in _state(component).items()
    )
    other, _ = _train_luring(victim, train_images, seed=1, epochs=1)
    assert _moved(_state(component), other)


@pytest.mark.parametrize("approach", ["auto", "cross_entropy", "stack"])
def test_comparison_approach_moves_the_right_parameters(
    approach: str, victim, tiny_store, train_images
) -> None:
    labels = torch.as_tensor(load_split(tiny_store, "train").labels)[:16]
    component = build_component("mnist", 1, 28)
    component_before, victim_before = _state(component), _state(victim)
    result = train_component(
        approach,
        component,
        victim,
        train_images[:16],
        recipe=ComponentRecipe(1, 16, (1e-3,)),  # 16 images, batch 16: one step
        generator=seed_everything(0),
        progress=io.StringIO(),
        train_labels=labels if approach == "stack" else None,
    )
    model = result["model"]
    assert _moved(component_before, component)
    assert not _moved(victim_before, victim)
    assert all(parameter.grad is None for parameter in victim.parameters())
    if approach == "stack":
        assert model.target is not victim
        assert _moved(victim_before, model.target)
    else:
        assert model.target is victim


def test_stack_needs_labels_and_inputs_must_be_float(victim, train_images) -> None:
    component = build_component("mnist", 1, 28)
    arguments = {"recipe": ComponentRecipe(1, 16, (1e-3,)), "generator": torch.Generator()}
    with pytest.raises(ValueError, match="train_labels"):
        train_component("stack", component, victim, train_images[:16], **arguments)
    with pytest.raises(ValueError, match="float"):
        uint8 = (train_images[:16] * 255).to(torch.uint8)
        train_component("luring", component, victim, uint8, **arguments)
    with pytest.raises(ValueError, match="approach"):
        train_component("magnet", component, victim, train_images[:16], **arguments)


def test_piecewise_learning_rates_reach_the_optimizer(victim, train_images) -> None:
    component = build_component("mnist", 1, 28)
    recipe = ComponentRecipe(3, 16, (1e-3, 5e-4, 1e-4), (1, 2))
    result = train_component(
        "cross_entropy",
        component,
        victim,
        train_images[:16],
        recipe=recipe,
        generator=seed_everything(0),
        progress=io.StringIO(),
    )
    assert [record["learning_rate"] for record in result["history"]] == [1e-3, 5e-4, 1e-4]


def test_paper_schedules_follow_appendix_b_and_c() -> None:
    svhn = paper_recipe("svhn", "luring")
    assert (svhn.epochs, svhn.batch_size, svhn.luring_coefficient) == (210, 256, 1.0)
    # 1e-4, then 1e-5 after 126 epochs and 8e-6 after 168 (Appendix B, SVHN Luring)
    assert [svhn.learning_rate_at(done) for done in (0, 125, 126, 167, 168, 209)] == [
        1e-4,
        1e-4,
        1e-5,
        1e-5,
        8e-6,
        8e-6,
    ]
    assert paper_recipe("cifar10", "luring").luring_coefficient == 0.15
    assert paper_recipe("mnist", "luring").luring_coefficient == 1.0
    assert set(PAPER_SCHEDULES["cifar10"]) == {"stack", "cross_entropy", "luring"}
    with pytest.raises(ValueError, match="no 'auto' schedule"):
        paper_recipe("cifar10", "auto")
    with pytest.raises(ValueError, match="one value more"):
        ComponentRecipe(10, 32, (1e-3,), (5,))


class _LabelModel(nn.Module):
    """Predicts table[i] for an image whose pixels all equal i / 10."""

    def __init__(self, table: list[int]) -> None:
        super().__init__()
        self.table = torch.tensor(table)
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = (x[:, 0, 0, 0] * 10).round().long()
        return nn.functional.one_hot(self.table[index], 3).float() + self.dummy


def test_agreement_counts_same_predictions_and_optionally_true_ones() -> None:
    images = torch.arange(4).float().div(10).reshape(4, 1, 1, 1).expand(4, 1, 2, 2)
    first, second = _LabelModel([0, 1, 2, 0]), _LabelModel([0, 1, 0, 0])
    labels = torch.tensor([0, 2, 2, 0])
    same = agreement(first, second, images, batch_size=3)
    assert (same.count, same.total) == (3, 4)  # all but input 2 (2 vs 0)
    both_true = agreement(first, second, images, batch_size=3, labels=labels)
    assert (both_true.count, both_true.total) == (2, 4)  # inputs 0 and 3


def test_dropout_masks_come_from_the_generator_and_global_rng_is_restored(
    victim, train_images
) -> None:
    def run(global_seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        component = build_component("mnist", 1, 28, dropout=0.5)
        torch.manual_seed(global_seed)  # a different global RNG state at training time
        state = torch.get_rng_state()
        train_component(
            "luring",
            component,
            victim,
            train_images[:32],
            recipe=ComponentRecipe(1, 16, (1e-3,)),
            generator=torch.Generator().manual_seed(7),
            progress=io.StringIO(),
        )
        assert torch.equal(torch.get_rng_state(), state)
        return _state(component)

    first, second = run(1), run(2)
    assert all(torch.equal(value, second[key]) for key, value in first.items())


def test_stack_reinitialize_starts_the_copy_from_fresh_weights(victim, train_images) -> None:
    victim_before = _state(victim)
    copies = []
    for _ in range(2):
        result = train_component(
            "stack",
            build_component("mnist", 1, 28),
            victim,
            train_images[:16],
            recipe=ComponentRecipe(1, 16, (1e-9,)),  # a negligible step: weights ≈ initial
            generator=torch.Generator().manual_seed(3),
            progress=io.StringIO(),
            train_labels=torch.zeros(16, dtype=torch.long),
            reinitialize=True,
        )
        copies.append(_state(result["model"].target))
    weight = "trunk.0.weight"
    assert (copies[0][weight] - victim_before[weight]).abs().max() > 1e-3
    assert torch.equal(copies[0][weight], copies[1][weight])
    assert not _moved(victim_before, victim)
