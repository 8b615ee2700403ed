"""The near-white-box combined-loss C&W L2 (Wang et al. 2019, Eq. 11) on tiny hand-built models."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from decoybench.attacks.base import choose_targets
from decoybench.attacks.cw2_combined import CombinedLossCarliniWagnerL2, is_multitask
from decoybench.attacks.registry import build, build_from_config
from decoybench.config import ConfigError, load_yaml, validate_schema
from decoybench.models.architectures import Classifier
from decoybench.papers.multitask.defense.classmap import Classmap
from decoybench.papers.multitask.defense.model import MultitaskModel

pytestmark = pytest.mark.usefixtures("single_thread")

CLASSES = 4
FAST = {"binary_search_steps": 4, "steps": 60, "learning_rate": 0.1}


def _fill(module: nn.Module, seed: int, scale: float) -> nn.Module:
    """Overwrite every parameter from a local generator (independent of the global RNG)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    return module.eval()


class _Linear(nn.Module):
    """A plain classifier on 1x4x4 inputs: logits = W x + b."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, CLASSES))
        _fill(self, seed, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _TinyClassifier(Classifier):
    name = "tiny"

    def __init__(self) -> None:
        super().__init__(in_channels=1, image_size=4, num_classes=CLASSES)
        self.feature_dim = 12
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU())
        self.head = nn.Linear(12, CLASSES)


def _multitask(lock_hidden: int | None = None, seed: int = 1) -> MultitaskModel:
    classmap = Classmap(
        pairs=(1, 2, 3, 0),
        counts=np.zeros((CLASSES, CLASSES), dtype=np.int64),
        confidence=np.zeros((CLASSES, CLASSES)),
    )
    model = MultitaskModel(_TinyClassifier(), classmap, lock_hidden=lock_hidden)
    return _fill(model, seed, 1.0)


def _inputs(model: nn.Module, count: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(count, 1, 4, 4, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return x, model(x).argmax(dim=1)


def _margin(logits: torch.Tensor, labels: torch.Tensor, targeted: bool) -> torch.Tensor:
    own = logits.gather(1, labels.view(-1, 1)).squeeze(1)
    other = logits.scatter(1, labels.view(-1, 1), float("-inf")).amax(dim=1)
    return own - other if targeted else other - own


def _attack(**params) -> CombinedLossCarliniWagnerL2:
    return CombinedLossCarliniWagnerL2(**{**FAST, **params})


@pytest.mark.parametrize("targeted", [False, True])
def test_plain_classifier_small_l2_and_confidence_margin(targeted: bool) -> None:
    model = _Linear()
    x, y = _inputs(model)
    target = choose_targets("random", model, x, y, torch.Generator().manual_seed(0))
    target = target if targeted else None
    labels = target if targeted else y
    results = {}
    for kappa in (0.0, 5.0):
        result = _attack(confidence=kappa)(model, x, y, target=target)
        with torch.no_grad():
            margin = _margin(model(result.x_adv), labels, targeted)
        assert result.success.float().mean() >= 0.9
        assert (margin[result.success] >= kappa - 1e-4).all()
        assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
        results[kappa] = (result, margin)
    low, high = results[0.0][0], results[5.0][0]
    both = low.success & high.success
    assert low.l2[both].mean() < 1.5, "a linear 4-class model is close to its boundaries"
    assert (high.l2[both] > low.l2[both]).all()
    assert results[5.0][1][both].mean() > results[0.0][1][both].mean() + 4


def test_unreachable_target_returns_the_clean_input_and_counts_queries() -> None:
    model = _Linear()
    with torch.no_grad():  # class 3 can never win
        model.body[1].weight[3] = 0.0
        model.body[1].bias[3] = -1e3
    x, y = _inputs(model, 8)
    target = torch.full_like(y, 3)
    result = _attack(abort_early=False)(model, x, y, target=target)
    assert torch.equal(result.x_adv, x) and not result.success.any()
    assert (result.queries == FAST["binary_search_steps"] * FAST["steps"]).all()
    early = _attack()(model, x, y, target=target)
    assert (early.queries < FAST["binary_search_steps"] * FAST["steps"]).all()


def test_multitask_examples_fool_z_star_and_keep_a_classmap_pair() -> None:
    for lock_hidden in (None, 6):
        model = _multitask(lock_hidden)
        assert is_multitask(model) and not is_multitask(_Linear())
        x, y = _inputs(model)
        for target in (None, choose_targets("random", model, x, y, torch.Generator())):
            result = _attack(confidence=1.0)(model, x, y, target=target)
            assert result.success.any()
            with torch.no_grad():
                outputs = model.heads(result.x_adv)
            detected = model.is_adversarial_of(outputs)
            main = outputs.combined.argmax(dim=1)
            fooled = main == target if target is not None else main != y
            assert torch.equal(result.success, fooled)
            assert not detected[result.success].any()
            assert torch.equal(result.x_adv[~result.success], x[~result.success])


def test_eta_auxiliary_zero_ignores_the_auxiliary_head() -> None:
    model = _multitask(lock_hidden=None)  # Z* = Z: the grey-box attack is C&W on the base
    x, y = _inputs(model)
    grey = _attack(eta_auxiliary=0.0)(model, x, y)
    plain = _attack()(model.base, x, y)
    assert torch.allclose(grey.x_adv, plain.x_adv, atol=1e-6)
    assert grey.success.float().mean() >= 0.9
    with torch.no_grad():
        detected = model.is_adversarial_of(model.heads(grey.x_adv))
    assert detected[grey.success].any(), "ignoring Z′ leaves detectable examples"
    paired = _attack()(model, x, y)
    with torch.no_grad():
        assert not model.is_adversarial_of(model.heads(paired.x_adv))[paired.success].any()


def test_deterministic() -> None:
    model = _multitask(lock_hidden=6)
    x, y = _inputs(model, 8)
    first = _attack(confidence=2.0)(model, x, y)
    second = _attack(confidence=2.0)(model, x, y)
    assert torch.equal(first.x_adv, second.x_adv) and torch.equal(first.queries, second.queries)


def test_registry_and_parameter_validation() -> None:
    attack = build("cw2_combined", confidence=5)
    assert isinstance(attack, CombinedLossCarliniWagnerL2)
    assert attack.confidence == 5.0 and attack.target_mode == "none" and attack.epsilon is None
    entry = {"attack": "cw2_combined", "confidence": 20, "target": "random", "eta_auxiliary": 0}
    assert build_from_config(entry).target_mode == "random"
    with pytest.raises(ValueError, match="does not support target mode 'least_likely'"):
        build("cw2_combined", target="least_likely")
    for key, value in [
        ("confidence", -1.0),
        ("binary_search_steps", 0),
        ("steps", 2.5),
        ("learning_rate", 0.0),
        ("initial_const", -0.1),
        ("eta_main", 0.0),
        ("eta_auxiliary", -1.0),
        ("abort_early", "yes"),
    ]:
        with pytest.raises(ValueError, match=f"cw2_combined: {key} must be"):
            build("cw2_combined", **{key: value})


def test_config_schema_accepts_the_attack(repository_root) -> None:
    config = load_yaml(repository_root / "config" / "config.yaml")
    config["attacks"]["cw2_combined_k20"] = {
        "attack": "cw2_combined",
        "confidence": 20,
        "target": "random",
    }
    validate_schema(config)
    for bad in ({"target": "least_likely"}, {"kappa": 20}, {"steps": "many"}):
        broken = copy.deepcopy(config)
        broken["attacks"]["cw2_combined_k20"].update(bad)
        with pytest.raises(ConfigError, match="cw2_combined_k20"):
            validate_schema(broken)
