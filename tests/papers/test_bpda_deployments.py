"""BPDA deployments of an adaptive setting (issue 16): `gradient: bpda` keeps every forward
value of the deployed system and back-propagates the type's surrogate (attractor: log
softmax C for M, F_d's margin kept; multitask: Z for Z*); `deployed: integrated` is the
attractor's M_(d,r), with no input rejected; the config check refuses options a type lacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import Tensor, nn

from decoybench.attacks.adaptive import CombinedLogits
from decoybench.config import ConfigError, load_yaml, prepare_config, validate_config
from decoybench.defense_registry import ADAPTIVE_GRADIENTS, defense_types
from decoybench.defenses.system import DeployRequest
from decoybench.models.architectures import Classifier
from decoybench.papers.attractors.defense import AttractorDefense
from decoybench.papers.attractors.model import (
    IntegratedAttractorModel,
    StraightThroughIntegratedModel,
)
from decoybench.papers.attractors.system import adaptive_deployment
from decoybench.papers.multitask.defense.classmap import Classmap
from decoybench.papers.multitask.defense.model import MultitaskModel
from decoybench.papers.multitask.system import adaptive_deployment as multitask_deployment

pytestmark = pytest.mark.usefixtures("single_thread")
ROOT = Path(__file__).resolve().parents[2]


def _uniform(count: int, seed: int) -> Tensor:
    return torch.rand(count, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def attractor() -> AttractorDefense:
    torch.manual_seed(0)
    victim = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval().requires_grad_(False)
    built = AttractorDefense(victim, {"num_classes": 10, "input_shape": (1, 28, 28)})
    built.calibrate(_uniform(400, 5), (0.05, 0.005))
    return built


def _request(attractor: AttractorDefense, **options: str) -> DeployRequest:
    return DeployRequest(
        victim=attractor.victim,
        victim_sidecar={"name": "victim"},
        defense="attractor",
        kind="adaptive",
        defense_path=Path("unused.json"),
        model_path=Path("unused.safetensors"),
        device="cpu",
        data_sha256="0",
        **options,
    )


def _loss_gradient(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """G(x)'s logits and the gradient of its runner-up-class cross-entropy."""
    inputs = x.clone().requires_grad_(True)
    logits = CombinedLogits(model)(inputs)
    target = torch.full((len(x),), 3)
    (gradient,) = torch.autograd.grad(nn.functional.cross_entropy(logits, target), inputs)
    return logits.detach(), gradient


def test_attractor_bpda_keeps_ms_values_and_takes_cs_gradient(attractor) -> None:
    x = _uniform(20, 1)
    exact = adaptive_deployment(attractor, _request(attractor))
    bpda = adaptive_deployment(attractor, _request(attractor, gradient="bpda"))
    assert set(bpda.operating_points) == set(exact.operating_points) == {"fpr_0.05", "fpr_0.005"}
    assert bpda.sidecar["name"].endswith(",bpda]")
    exact_logits, exact_gradient = _loss_gradient(exact.crafting_model, x)
    bpda_logits, bpda_gradient = _loss_gradient(bpda.crafting_model, x)
    assert torch.allclose(bpda_logits, exact_logits, atol=1e-6)
    # The reference: G(x) at M's values with log softmax C's Jacobian, F_d's margin at 5%
    # FPR (the largest: the lowest threshold) kept.
    margin = attractor.detector_at(0.05).margin
    inputs = x.clone().requires_grad_(True)
    of_c = torch.log_softmax(attractor.victim(inputs), dim=1)
    classifier = exact.model(x).detach() + (of_c - of_c.detach())
    top = classifier.max(dim=1).values
    reference_logits = torch.cat([classifier, (top + margin(inputs)).unsqueeze(1)], dim=1)
    target = torch.full((len(x),), 3)
    loss = nn.functional.cross_entropy(reference_logits, target)
    (reference,) = torch.autograd.grad(loss, inputs)
    assert torch.allclose(bpda_gradient, reference, atol=1e-6)
    assert not torch.allclose(bpda_gradient, exact_gradient, atol=1e-4)


def test_attractor_integrated_deployment_rejects_nothing(attractor) -> None:
    system = adaptive_deployment(attractor, _request(attractor, deployed="integrated"))
    assert isinstance(system.model, IntegratedAttractorModel)
    assert system.operating_points == {}
    exact = adaptive_deployment(attractor, _request(attractor, deployed="integrated"))
    assert exact.crafting_model is exact.model
    bpda = adaptive_deployment(
        attractor, _request(attractor, deployed="integrated", gradient="bpda")
    )
    assert isinstance(bpda.crafting_model, StraightThroughIntegratedModel)
    x = _uniform(10, 2)
    assert torch.equal(bpda.crafting_model(x).detach(), bpda.model(x).detach())


class _Tiny(Classifier):
    def __init__(self) -> None:
        super().__init__(in_channels=1, image_size=4, num_classes=3)
        self.feature_dim = 5
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(16, 5), nn.ReLU())
        self.head = nn.Linear(5, 3)


def test_multitask_bpda_passes_the_gradient_lock_straight_through() -> None:
    torch.manual_seed(0)
    classmap = Classmap((1, 2, 0), np.zeros((3, 3)), np.full((3, 3), 1 / 3))
    model = MultitaskModel(_Tiny(), classmap, lock_hidden=4)
    with torch.no_grad():
        model.lock.layers[2].weight.normal_(std=0.3)
    model.eval()
    x = torch.rand(30, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    exact = multitask_deployment(model, {"name": "victim+multitask[adaptive]"})
    bpda = multitask_deployment(model, {"name": "victim+multitask[adaptive]"}, "bpda")
    assert bpda.sidecar["name"] == "victim+multitask[adaptive,bpda]"
    assert list(bpda.operating_points) == ["label_check"]
    inputs = x.clone().requires_grad_(True)
    values = bpda.crafting_model(inputs)
    assert torch.equal(values.detach(), model(x).detach())  # Z*'s values
    (gradient,) = torch.autograd.grad(values[:, 1].sum(), inputs)
    reference_inputs = x.clone().requires_grad_(True)
    (reference,) = torch.autograd.grad(model.base(reference_inputs)[:, 1].sum(), reference_inputs)
    assert torch.allclose(gradient, reference)  # Z's gradient: the lock held constant
    exact_inputs = x.clone().requires_grad_(True)
    (of_exact,) = torch.autograd.grad(exact.crafting_model(exact_inputs)[:, 1].sum(), exact_inputs)
    assert not torch.allclose(gradient, of_exact)
    # The detector margin is the same in both: only the classifier's gradient changes.
    assert torch.equal(
        bpda.crafting_model.detection_margin(x).detach(),
        exact.crafting_model.detection_margin(x).detach(),
    )


def _default_config() -> dict:
    return load_yaml(ROOT / "config" / "config.yaml")


def _validate(config: dict) -> None:
    validate_config(prepare_config(config, ROOT / "config" / "attacks"))


def test_config_refuses_deploy_options_a_type_or_kind_lacks() -> None:
    config = _default_config()
    config["evaluation"]["cells"].append(
        {"setting": "adaptive_bpda", "defense": "lid", "attacks": ["gx_pgd_0.3"]}
    )
    with pytest.raises(ConfigError, match=r"'adaptive_bpda'.*gradient: bpda.*'lid'"):
        _validate(config)
    config = _default_config()
    config["settings"]["greybox"]["gradient"] = "bpda"
    with pytest.raises(ConfigError, match=r"settings\.greybox\.gradient.*adaptive"):
        _validate(config)
    config = _default_config()
    config["settings"]["adaptive_integrated"]["defense_unused"] = 1
    with pytest.raises(ConfigError, match="defense_unused"):
        _validate(config)


def test_schema_enums_are_the_registrys() -> None:
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    setting = schema["properties"]["settings"]["additionalProperties"]["properties"]
    assert tuple(setting["gradient"]["enum"]) == ADAPTIVE_GRADIENTS
    deployments = {name for entry in defense_types() for name in entry.deployments}
    assert set(setting["deployed"]["enum"]) == deployments


def test_the_leaderboard_scores_an_integrated_set_on_its_own_deployment() -> None:
    from decoybench.leaderboard.workflow import row_sets

    config = prepare_config(_default_config(), ROOT / "config" / "attacks")
    sets = row_sets(config, "mnist5k", "attractor")
    deployed = {(entry["setting"], entry["attack"]): entry["deployed"] for entry in sets}
    assert deployed[("adaptive_integrated", "gx_pgd_0.3")] == "integrated"
    assert deployed[("adaptive_bpda", "opgd_0.3")] == "default"
    assert deployed[("forensic", "pgd_linf_0.3")] == "default"
    assert {entry["threat"] for entry in sets if entry["setting"].startswith("adaptive")} == {
        "adaptive"
    }
