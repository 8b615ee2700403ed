"""Attack registry and call convention: bounds hold exactly, results are deterministic."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from decoybench.attacks.base import distortions, project
from decoybench.attacks.registry import ATTACKS, attack_parameters, build, build_from_config


class _TinyNet(nn.Module):
    """A small fixed-seed MNIST-shaped classifier (untrained: any decision boundary will do)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@pytest.fixture
def batch(tiny_store):
    from decoybench.data import load_split
    from decoybench.runtime import to_float

    test = load_split(tiny_store, "test")
    return to_float(test.images[:16]), torch.as_tensor(test.labels[:16])


def test_unknown_attack_and_parameter_are_rejected_with_the_allowed_ones() -> None:
    with pytest.raises(
        ValueError,
        match=r"unknown attack 'zoo'; allowed: apgd_ce, apgd_dlr_targeted, bim, blb, bpda, "
        r"combined_cw2, combined_linf_pgd, cw2",
    ):
        build("zoo")
    with pytest.raises(ValueError, match="no parameter 'stepz'; allowed: epsilon, steps"):
        build("linf_pgd", epsilon=0.3, stepz=3)
    with pytest.raises(ValueError, match="needs parameter 'epsilon'"):
        build("fgsm")


@pytest.mark.parametrize(
    ("config", "norm", "epsilon"),
    [
        ({"attack": "linf_pgd", "epsilon": 0.1, "steps": 5}, "linf", 0.1),
        ({"attack": "bim", "epsilon": 0.05, "steps": 5}, "linf", 0.05),
        ({"attack": "l2_pgd", "epsilon": 1.5, "steps": 5}, "l2", 1.5),
        ({"attack": "fgsm", "epsilon": 0.2}, "linf", 0.2),
    ],
)
def test_attacks_respect_the_box_and_the_norm_bound_exactly(batch, config, norm, epsilon) -> None:
    x, y = batch
    model = _TinyNet()
    result = build_from_config(config)(model, x, y, generator=torch.Generator().manual_seed(1))
    assert result.x_adv.shape == x.shape and result.x_adv.dtype == torch.float32
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    bound = result.linf if norm == "linf" else result.l2
    assert (bound <= epsilon + 1e-5).all()
    with torch.no_grad():
        predicted = model(result.x_adv).argmax(dim=1)
    assert torch.equal(result.success, predicted != y)
    assert result.success.any(), "an untrained net must be fooled by some of these attacks"
    assert (result.queries > 0).all()


def test_same_generator_same_adversarial_examples(batch) -> None:
    x, y = batch
    attack = build("linf_pgd", epsilon=0.1, steps=3, random_start=True)
    first = attack(_TinyNet(), x, y, generator=torch.Generator().manual_seed(7))
    again = attack(_TinyNet(), x, y, generator=torch.Generator().manual_seed(7))
    other = attack(_TinyNet(), x, y, generator=torch.Generator().manual_seed(8))
    assert torch.equal(first.x_adv, again.x_adv)
    assert not torch.equal(first.x_adv, other.x_adv)


def test_fgsm_cannot_be_targeted_and_inputs_must_be_in_the_box(batch) -> None:
    x, y = batch
    with pytest.raises(ValueError, match="cannot be targeted"):
        build("fgsm", epsilon=0.1)(_TinyNet(), x, y, target=y)
    with pytest.raises(ValueError, match=r"inputs must lie in \[0, 1\]"):
        build("fgsm", epsilon=0.1)(_TinyNet(), x * 2, y)


def test_projection_and_distortions_hand_computed() -> None:
    x = torch.zeros(1, 1, 1, 4)
    x_adv = torch.tensor([[[[0.3, -0.2, 0.0, 0.05]]]])
    projected = project(x, x_adv, "linf", 0.1)
    assert projected.flatten().tolist() == pytest.approx([0.1, 0.0, 0.0, 0.05])
    l0, l2, linf = distortions(x, projected)
    assert (int(l0), float(linf)) == (2, pytest.approx(0.1))
    assert float(l2) == pytest.approx((0.1**2 + 0.05**2) ** 0.5)
    scaled = project(torch.full((1, 2), 0.5), torch.tensor([[0.5 + 3.0, 0.5 + 4.0]]), "l2", 1.0)
    assert scaled.flatten().tolist() == pytest.approx([1.0, 1.0])  # (0.6, 0.8) then the box


def test_registry_names_match_the_classes() -> None:
    assert all(cls.name == name for name, cls in ATTACKS.items())


# Small, fast settings for every Foolbox-backed attack: (config, norm bound checked).
FOOLBOX_CASES = [
    ({"attack": "fgsm", "epsilon": 0.2}, ("linf", 0.2)),
    ({"attack": "bim", "epsilon": 0.2, "steps": 5, "abs_stepsize": 0.05}, ("linf", 0.2)),
    ({"attack": "igs", "epsilon": 0.2, "steps": 5}, ("linf", 0.2)),
    ({"attack": "linf_pgd", "epsilon": 0.2, "steps": 5}, ("linf", 0.2)),
    ({"attack": "l2_pgd", "epsilon": 2.0, "steps": 5}, ("l2", 2.0)),
    ({"attack": "llc", "epsilon": 0.3}, ("linf", 0.3)),
    ({"attack": "illc", "epsilon": 0.3, "steps": 5, "abs_stepsize": 0.1}, ("linf", 0.3)),
    ({"attack": "mim", "epsilon": 0.2, "steps": 5}, ("linf", 0.2)),
    ({"attack": "mim_l2", "epsilon": 2.0, "steps": 5}, ("l2", 2.0)),
    ({"attack": "umifgsm", "epsilon": 0.2, "steps": 5}, ("linf", 0.2)),
    ({"attack": "tmifgsm", "epsilon": 0.3, "steps": 5}, ("linf", 0.3)),
    ({"attack": "deepfool", "steps": 20}, None),
    ({"attack": "deepfool_linf", "steps": 20}, None),
    ({"attack": "cw2", "binary_search_steps": 2, "steps": 30, "learning_rate": 0.05}, None),
    ({"attack": "ead", "binary_search_steps": 2, "steps": 30, "learning_rate": 0.05}, None),
]


@pytest.mark.parametrize(("config", "bound"), FOOLBOX_CASES, ids=lambda v: str(v)[:40])
def test_every_foolbox_attack_keeps_the_convention(batch, config, bound) -> None:
    from decoybench.attacks.base import choose_targets, degenerate

    x, y = batch
    model = _TinyNet()
    attack = build_from_config(config)
    generator = torch.Generator().manual_seed(3)
    target = choose_targets(attack.target_mode, model, x, y, generator)
    result = attack(model, x, y, target=target, generator=generator)
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    if bound is not None:
        norm, epsilon = bound
        assert ((result.linf if norm == "linf" else result.l2) <= epsilon + 1e-5).all()
    with torch.no_grad():
        predicted = model(result.x_adv).argmax(dim=1)
    expected = predicted == target if target is not None else predicted != y
    assert torch.equal(result.success, expected & ~degenerate(result.x_adv))
    assert result.success.float().mean() > 0.2, "an untrained net is easy to fool"


def test_least_likely_and_random_targets(batch) -> None:
    from decoybench.attacks.base import choose_targets

    x, y = batch
    model = _TinyNet()
    with torch.no_grad():
        least_likely = model(x).argmin(dim=1)
    assert torch.equal(choose_targets("least_likely", model, x, y, torch.Generator()), least_likely)
    random = choose_targets("random", model, x, y, torch.Generator().manual_seed(0))
    assert (random != y).all() and random.min() >= 0 and random.max() <= 9
    again = choose_targets("random", model, x, y, torch.Generator().manual_seed(0))
    assert torch.equal(random, again)
    assert choose_targets("none", model, x, y, torch.Generator()) is None
    with pytest.raises(ValueError, match="does not support target mode 'random'; allowed: least_"):
        build("llc", epsilon=0.1, target="random")


def test_epsilon_zero_reproduces_clean_accuracy(batch) -> None:
    x, y = batch
    model = _TinyNet()
    with torch.no_grad():
        wrong = model(x).argmax(dim=1) != y
    for name in ("fgsm", "linf_pgd", "mim", "bim"):
        result = build(name, epsilon=0.0)(model, x, y)
        assert torch.equal(result.x_adv, x) and torch.equal(result.success, wrong), name


def test_blank_outputs_count_as_failures() -> None:
    from decoybench.attacks.base import degenerate

    images = torch.rand(3, 1, 4, 4)
    images[1] = 0.0
    images[2] = 1.0
    assert degenerate(images).tolist() == [False, True, True]


BOUNDED_ATTACKS = sorted(name for name in ATTACKS if "epsilon" in attack_parameters(name))


@pytest.mark.parametrize("name", BOUNDED_ATTACKS)
def test_every_bounded_attack_at_epsilon_zero_returns_the_clean_input(batch, name) -> None:
    from decoybench.attacks.base import choose_targets

    x, y = batch
    model = _TinyNet()
    attack = build(name, epsilon=0.0)
    generator = torch.Generator().manual_seed(0)
    target = choose_targets(attack.target_mode, model, x, y, generator)
    result = attack(model, x, y, target=target, generator=generator)
    with torch.no_grad():
        predicted = model(x).argmax(dim=1)
    assert torch.equal(result.x_adv, x)
    expected = predicted == target if target is not None else predicted != y
    assert torch.equal(result.success, expected)


def test_the_registry_holds_every_attack_of_the_three_papers() -> None:
    papers = {
        # attractors (DEEPSEC + Trapdoor settings)
        "fgsm", "rfgsm", "bim", "linf_pgd", "umifgsm", "uap", "deepfool", "optmargin", "bpda",
        "spsa", "llc", "rllc", "illc", "tmifgsm", "jsma", "blb", "cw2", "ead",
        # luring
        "mim", "mim_l2", "dim", "mim_ti", "dim_ti", "eco",
        # multitask
        "igs", "deepfool_linf",
    }  # fmt: skip
    assert papers <= set(ATTACKS)


@pytest.mark.parametrize("name", ["llc", "illc", "tmifgsm", "rllc", "jsma", "blb"])
def test_targeted_only_attacks_refuse_to_run_untargeted(batch, name) -> None:
    x, y = batch
    attack = build(name, **({"epsilon": 0.1} if "epsilon" in attack_parameters(name) else {}))
    with pytest.raises(ValueError, match=f"{name} is a targeted attack: pass target labels"):
        attack(_TinyNet(), x, y)
