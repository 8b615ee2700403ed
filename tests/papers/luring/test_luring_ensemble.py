"""Issue 16's luring settings: the T + substitute ensemble (LogitEnsemble,
`ensemble_with_public`) and the decision setting, in the config and the leaderboard."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from decoybench.cells.craft import _ensemble
from decoybench.config import ConfigError, load_yaml, validate_config
from decoybench.leaderboard.workflow import ranked_defenses, row_sets
from decoybench.models.ensemble import LogitEnsemble


class Fixed(nn.Module):
    """Logits x @ W: a hand-built member."""

    def __init__(self, weight: list[list[float]]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(weight))

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.weight


def test_logit_ensemble_is_the_mean_of_its_members() -> None:
    first, second = (
        Fixed([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]]),
        Fixed([[3.0, 1.0, 0.0], [1.0, 1.0, 1.0]]),
    )
    x = torch.tensor([[1.0, 2.0], [0.5, -1.0]])
    ensemble = LogitEnsemble([first, second])
    # [1, 2, 2] and [5, 3, 2]; [0.5, -1, 1] and [0.5, -0.5, -1].
    expected = torch.tensor([[3.0, 2.5, 2.0], [0.5, -0.75, 0.0]])
    assert torch.allclose(ensemble(x), expected)
    # Mean of logits = mean of log-softmax up to a per-sample shift: the same softmax.
    log_softmax = torch.stack([m(x).log_softmax(dim=1) for m in (first, second)]).mean(dim=0)
    assert torch.allclose(ensemble(x).softmax(dim=1), log_softmax.softmax(dim=1), atol=1e-6)
    # Gradients reach every member (the attack differentiates both at once).
    ensemble(x).sum().backward()
    assert first.weight.grad is not None and second.weight.grad is not None
    with pytest.raises(ValueError, match="at least one member"):
        LogitEnsemble([])


def test_crafting_ensemble_is_named_after_both_models() -> None:
    public, source = Fixed([[1.0], [0.0]]), Fixed([[0.0], [1.0]])
    model, sidecar = _ensemble(
        public, {"name": "victim+luring[luring]"}, source, {"name": "s_mnist"}
    )
    assert sidecar == {"name": "ensemble[victim+luring[luring]+s_mnist]"}
    assert torch.allclose(model(torch.tensor([[2.0, 4.0]])), torch.tensor([[3.0]]))


@pytest.fixture(scope="module")
def default_config(repository_root) -> dict[str, Any]:
    return load_yaml(repository_root / "config" / "config.yaml")


def test_default_config_has_the_issue_16_luring_cells(default_config) -> None:
    settings = default_config["settings"]
    ensemble = settings["transfer_public_s_mnist"]
    assert ensemble == {"kind": "transfer", "source": "s_mnist", "ensemble_with_public": True}
    assert settings["decision_hidden"]["kind"] == "decision"
    cells = {
        (cell["setting"], attack)
        for cell in default_config["evaluation"]["cells"]
        if cell["defense"] == "luring"
        for attack in cell["attacks"]
    }
    assert {("transfer_public", f"cw2_k{k}") for k in (0, 10, 20)} <= cells
    assert {("transfer_public_s_mnist", "mim_0.3"), ("decision_hidden", "hsj_l2")} <= cells
    assert default_config["attacks"]["hsj_l2"]["attack"] == "hop_skip_jump"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["settings"]["transfer_public_s_mnist"].pop("source"), "needs kind transfer"),
        (
            lambda c: c["settings"]["decision_hidden"].update(ensemble_with_public=True),
            "needs kind transfer",
        ),
        (
            lambda c: c["settings"]["transfer_public_s_mnist"].update(ensemble_with_public="yes"),
            "ensemble_with_public",
        ),
        (
            lambda c: c["evaluation"]["cells"].append(
                {"setting": "transfer_public_s_mnist", "defense": "multitask", "attacks": ["igs"]}
            ),
            "publishes none",
        ),
        (
            lambda c: c["evaluation"]["cells"].append(
                {"setting": "decision_hidden", "defense": "attractor", "attacks": ["hsj_l2"]}
            ),
            "kind 'decision'",
        ),
    ],
)
def test_bad_issue_16_settings_are_named(default_config, mutate, expected) -> None:
    config = copy.deepcopy(default_config)
    validate_config(copy.deepcopy(config))
    mutate(config)
    with pytest.raises(ConfigError, match=expected):
        validate_config(config)


def test_leaderboard_counts_a_decision_setting_as_adaptive_knowledge(default_config) -> None:
    threats = {
        (entry["setting"], entry["attack"]): entry["threat"]
        for entry in row_sets(default_config, "mnist5k", "luring")
    }
    assert threats["decision_hidden", "hsj_l2"] == "adaptive"
    assert threats["transfer_public_s_mnist", "mim_0.3"] == "oblivious"
    assert threats["transfer_public", "cw2_k20"] == "oblivious"
    assert threats["adaptive", "gx_pgd_0.3"] == "adaptive"
    # A decision cell alone does not rank a defense: its adaptive cells do.
    config = copy.deepcopy(default_config)
    config["evaluation"]["cells"] = [
        cell for cell in config["evaluation"]["cells"] if cell["setting"] != "adaptive"
    ]
    assert "luring" not in ranked_defenses(config)
