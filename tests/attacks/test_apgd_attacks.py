"""APGD-CE and targeted APGD-DLR (torchattacks) on the adaptive attacks' toy, widened to K
classes: plain classifier, detector-aware model, the detector folded into the label."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from decoybench.attacks.adaptive import CombinedLogits, DetectorAwareClassifier
from decoybench.attacks.apgd import fold_detector
from decoybench.attacks.base import AttackResult
from decoybench.attacks.registry import build

# The toy of tests/attacks/test_adaptive_attacks.py with K classes on x in [0, 1]^16:
# Z_0 = 0, Z_j = 10·(x_{j−1} − 0.5) + (x_d − 0.5) for j = 1 … K−1 (d = K−1, the detector's
# pixel); the detector flags max_j x_{j−1} + x_d > 1. Clean: x_{j−1} in [0.3, 0.45], x_d in
# [0.45, 0.5] (class 0, not flagged). The classifier's gradient raises x_{j−1} and x_d and
# trips the detector; lowering x_d by ε and raising x_{j−1} fools it unflagged.
CLASSES = 6
DETECTOR_PIXEL = CLASSES - 1


class _ToyClassifier(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        flat = x.flatten(1)
        wrong = 10.0 * (flat[:, : CLASSES - 1] - 0.5) + (flat[:, DETECTOR_PIXEL:CLASSES] - 0.5)
        return torch.cat([torch.zeros_like(flat[:, :1]), wrong], dim=1)


def _toy_margin(x: Tensor) -> Tensor:
    flat = x.flatten(1)
    return flat[:, : CLASSES - 1].amax(dim=1) + flat[:, DETECTOR_PIXEL] - 1.0


def _toy_inputs(count: int = 64) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = 0.4 + 0.2 * torch.rand(count, 1, 4, 4, generator=generator)
    flat = x.view(count, 16)
    flat[:, : CLASSES - 1] = 0.3 + 0.15 * torch.rand(count, CLASSES - 1, generator=generator)
    flat[:, DETECTOR_PIXEL] = 0.45 + 0.05 * torch.rand(count, generator=generator)
    return x, torch.zeros(count, dtype=torch.long)


def _system() -> DetectorAwareClassifier:
    return DetectorAwareClassifier(_ToyClassifier(), _toy_margin)


def _attack(name: str, model: nn.Module, seed: int = 1, **params: object) -> AttackResult:
    x, y = _toy_inputs()
    return build(name, **params)(model, x, y, generator=torch.Generator().manual_seed(seed))


def _scored(x_adv: Tensor) -> tuple[float, float]:
    """(share fooled and not flagged, share fooled) of the examples on the toy system
    (every clean input is of class 0)."""
    fooled = _ToyClassifier()(x_adv).argmax(1) != 0
    undetected = _toy_margin(x_adv) <= 0
    return float((fooled & undetected).float().mean()), float(fooled.float().mean())


LINF = {"norm": "linf", "epsilon": 0.3, "steps": 20}
ATTACKS = [
    ("apgd_ce", LINF),
    ("apgd_ce", {"norm": "l2", "epsilon": 1.0, "steps": 20}),
    ("apgd_dlr_targeted", {**LINF, "n_target_classes": 3}),
]


def test_toy_is_clean_and_folding_merges_the_detector_into_the_label() -> None:
    x, y = _toy_inputs()
    assert (_toy_margin(x) <= 0).all() and (_ToyClassifier()(x).argmax(1) == y).all()
    g = torch.tensor([[1.0, 3.0, 2.0, 5.0], [1.0, 3.0, 2.0, 0.0]])
    folded = fold_detector(g, torch.tensor([0, 2]))
    assert folded.tolist() == [[5.0, 3.0, 2.0], [1.0, 3.0, 2.0]]


@pytest.mark.parametrize(("name", "params"), ATTACKS)
def test_apgd_fools_the_undefended_toy(name: str, params: dict[str, object]) -> None:
    result = _attack(name, _ToyClassifier(), **params)
    assert float(result.success.float().mean()) >= 0.95
    assert float(getattr(result, str(params["norm"])).max()) <= float(params["epsilon"]) + 1e-5
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1


class _RankedToy(nn.Module):
    """K = 5 on x in [0, 1]^64 near 0.4: Z_0 = 0, Z_j = offset_j + gain_j·(mean of block j −
    0.4) (blocks of 16 values, so random starts average out): ranked 0 > 1 > 2 > 3 > 4;
    class 1 is barely reachable at ε = 0.3, class 2 easily."""

    offsets = torch.tensor([-0.5, -3.0, -4.0, -5.0])
    gains = torch.tensor([4.0, 15.0, 15.0, 15.0])

    def forward(self, x: Tensor) -> Tensor:
        wrong = self.offsets + self.gains * (x.flatten(1).view(-1, 4, 16).mean(2) - 0.4)
        return torch.cat([torch.zeros_like(wrong[:, :1]), wrong], dim=1)


def test_targeted_dlr_hits_its_target() -> None:
    """One target, the clean runner-up class 1: targeted DLR ends there in ≥ 95 % of the
    examples (measured: 63/64), where untargeted CE ends in the easy class 2 (64/64)."""
    x = 0.38 + 0.04 * torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(64, dtype=torch.long)
    model = _RankedToy()
    assert (model(x).sort(1, descending=True)[1][:, :2] == torch.tensor([0, 1])).all()
    outcomes = {}
    for name, params in [("apgd_ce", {}), ("apgd_dlr_targeted", {"n_target_classes": 1})]:
        attack = build(name, epsilon=0.3, steps=20, **params)
        result = attack(model, x, y, generator=torch.Generator().manual_seed(1))
        assert bool(result.success.all())
        outcomes[name] = model(result.x_adv).argmax(1)
    assert float((outcomes["apgd_dlr_targeted"] == 1).float().mean()) >= 0.95
    assert bool((outcomes["apgd_ce"] == 2).all())


@pytest.mark.parametrize(("name", "params"), ATTACKS)
def test_apgd_on_the_detector_aware_toy_fools_it_unflagged(
    name: str, params: dict[str, object]
) -> None:
    """≥ 95 % fooled and unflagged (measured: 100 %); the same attack blind to the detector
    (on the classifier alone) ends flagged (measured: 0 % CE, 1/64 DLR undetected)."""
    result = _attack(name, _system(), **params)
    success, _ = _scored(result.x_adv)
    assert torch.equal(
        result.success,
        (_ToyClassifier()(result.x_adv).argmax(1) != 0) & (_toy_margin(result.x_adv) <= 0),
    )
    assert success >= 0.95
    oblivious = _attack(name, _ToyClassifier(), **params)
    blind_success, blind_fooled = _scored(oblivious.x_adv)
    assert blind_fooled >= 0.95 and blind_success <= 0.05


def test_torchattacks_on_g_as_it_is_ends_detected() -> None:
    """Why the detector is folded into the label: on G(x) itself, argmax = K counts as
    fooled, and APGD-CE's examples all end flagged."""
    import torchattacks

    x, y = _toy_inputs()
    combined = CombinedLogits(_system())
    combined.anchor = nn.Parameter(torch.empty(0), requires_grad=False)
    with torch.random.fork_rng():
        x_adv = torchattacks.APGD(combined, eps=0.3, steps=20, seed=0, loss="ce")(x, y)
    assert _scored(x_adv)[0] <= 0.05
    assert bool((combined(x_adv).argmax(1) == CLASSES).all())


@pytest.mark.parametrize(("name", "params"), ATTACKS)
def test_apgd_is_seeded_and_leaves_the_global_generator_alone(
    name: str, params: dict[str, object]
) -> None:
    state = torch.get_rng_state()
    first = _attack(name, _system(), **params)
    assert torch.equal(torch.get_rng_state(), state)
    second = _attack(name, _system(), **params)
    other = _attack(name, _system(), seed=2, **params)
    assert torch.equal(first.x_adv, second.x_adv)
    assert not torch.equal(first.x_adv, other.x_adv)


def test_apgd_rejects_what_torchattacks_cannot_run() -> None:
    x, y = _toy_inputs(4)
    with pytest.raises(ValueError, match="norm must be linf or l2"):
        build("apgd_ce", epsilon=0.3, norm="l1")
    with pytest.raises(ValueError, match="apgd_ce cannot be targeted"):
        build("apgd_ce", epsilon=0.3)(_ToyClassifier(), x, y, target=y)
    with pytest.raises(ValueError, match="needs ≥ 4 classes"):
        two_classes = nn.Sequential(_ToyClassifier(), nn.Linear(CLASSES, 2))
        build("apgd_dlr_targeted", epsilon=0.3)(two_classes, x, y)


def test_apgd_keeps_a_loss_trace_of_the_folded_margin() -> None:
    """One value per labelled forward pass; on the detector-aware toy it ends positive."""
    attack = build("apgd_ce", **LINF)
    x, y = _toy_inputs()
    attack(_system(), x, y, generator=torch.Generator().manual_seed(0))
    trace = attack.loss_trace["wrong_class_margin"]
    assert len(trace) >= 2 and trace[-1] > trace[0]
