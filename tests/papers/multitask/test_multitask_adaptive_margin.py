"""The Classmap check as an adaptive attacker differentiates it (issue 16): the margin's sign
is the defense's own detection, argmax Z* is a forward-pass constant, the margin has an
input gradient, and the check is a label check (no calibrated FPR)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from decoybench.defenses.system import adaptive_system
from decoybench.models.architectures import Classifier
from decoybench.papers.multitask.adaptive import ClassmapDetector
from decoybench.papers.multitask.defense.classmap import Classmap
from decoybench.papers.multitask.defense.model import MultitaskModel

pytestmark = pytest.mark.usefixtures("single_thread")
CLASSES = 3


class _Tiny(Classifier):
    def __init__(self) -> None:
        super().__init__(in_channels=1, image_size=4, num_classes=CLASSES)
        self.feature_dim = 5
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(16, 5), nn.ReLU())
        self.head = nn.Linear(5, CLASSES)


def _model(lock_hidden: int | None) -> MultitaskModel:
    torch.manual_seed(0)
    classmap = Classmap((1, 2, 0), np.zeros((3, 3)), np.full((3, 3), 1 / 3))
    model = MultitaskModel(_Tiny(), classmap, lock_hidden)
    if model.lock is not None:
        with torch.no_grad():  # a lock that depends on Z′ (its start is the identity)
            model.lock.layers[2].weight.normal_(std=0.3)
    return model.eval()


def _inputs() -> Tensor:
    generator = torch.Generator().manual_seed(1)
    clean = torch.rand(100, 1, 4, 4, generator=generator)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    strong = (clean + 0.5 * torch.randn(clean.shape, generator=generator).sign()).clamp(0, 1)
    return torch.cat([clean, noisy, strong])


@pytest.mark.parametrize("lock_hidden", [None, 4])
def test_margin_sign_is_the_classmap_check_and_it_has_a_gradient(
    lock_hidden: int | None,
) -> None:
    model = _model(lock_hidden)
    detector = ClassmapDetector(model)
    x = _inputs().requires_grad_(True)
    margin = detector.margin(x)
    flagged = detector.is_adversarial(x)
    assert margin.shape == (len(x),)
    assert flagged.any() and (~flagged).any()
    assert torch.equal(margin.detach() > 0, flagged)
    # The check is the one the cell scores (predict_with_detection).
    _, _, detected = model.predict_with_detection(x.detach())
    assert torch.equal(flagged, detected)
    torch.testing.assert_close(detector.score(x.detach()), margin.detach())
    (gradient,) = torch.autograd.grad(margin.sum(), x)
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0


def test_paired_class_is_a_forward_pass_constant() -> None:
    model = _model(lock_hidden=4)
    ClassmapDetector(model).margin(_inputs()).sum().backward()
    assert model.base.head.weight.grad is None  # only Z′ (and the trunk) carry the margin
    assert model.lock is not None and model.lock.layers[0].weight.grad is None
    assert model.auxiliary.weight.grad is not None and model.auxiliary.weight.grad.any()


def test_margin_is_the_auxiliary_gap_to_the_paired_class_by_hand() -> None:
    model = _model(lock_hidden=None)
    detector = ClassmapDetector(model)
    x = _inputs()[:20]
    with torch.no_grad():
        outputs = model.heads(x)
        margin = detector.margin(x)
    paired = model.classmap[outputs.combined.argmax(dim=1)]
    for row in range(len(x)):
        others = [outputs.auxiliary[row, j] for j in range(CLASSES) if j != int(paired[row])]
        expected = max(others) - outputs.auxiliary[row, paired[row]]
        assert float(margin[row]) == float(expected)


def test_label_check_has_no_calibrated_fpr_and_is_the_adaptive_point() -> None:
    model = _model(lock_hidden=4)
    detector = ClassmapDetector(model)
    assert math.isnan(detector.fpr_target)
    system = adaptive_system(model, {}, [detector])
    assert system.operating_points == {"label_check": detector}
    x = _inputs()
    margin = system.crafting_model.detection_margin(x)
    assert torch.equal(margin > 0, detector.is_adversarial(x))
