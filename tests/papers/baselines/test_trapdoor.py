"""Trapdoor baseline (Shan et al., CCS 2020): trigger injection arithmetic, trigger drawing,
trapdoored batches, training a tiny CNN with trapdoors, signatures and the cosine detector."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from decoybench.models.architectures import Classifier
from decoybench.papers.baselines.trapdoor import (
    DEFAULT_INJECTION_RATIO,
    DEFAULT_MASK_RATIO,
    DEFAULT_MASK_SIZE,
    TrapdoorDetector,
    Trigger,
    build_signatures,
    inject,
    make_trigger,
    make_triggers,
    neuron_signature,
    train_trapdoored,
    trapdoored_batch,
)

pytestmark = pytest.mark.usefixtures("single_thread")

SHAPE = (1, 12, 12)
CLASSES = 3


class _TinyNet(Classifier):
    name = "tiny_trapdoor_net"

    def __init__(self) -> None:
        super().__init__(in_channels=1, image_size=12, num_classes=CLASSES)
        self.feature_dim = 32
        self.trunk = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(8 * 6 * 6, 32),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(32, CLASSES)


class _AppendZero(nn.Module):
    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.cat([hidden, torch.zeros(len(hidden), 1)], dim=1)


class _Stub(Classifier):
    """features(x) = the first two pixels; logits = those two features and a zero."""

    name = "stub"

    def __init__(self) -> None:
        super().__init__(in_channels=1, image_size=2, num_classes=3)
        self.feature_dim = 2
        self.trunk = nn.Flatten()
        self.head = _AppendZero()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :2]


def _hand_trigger() -> Trigger:
    mask = torch.zeros(1, 4, 4)
    mask[:, 1:3, 1:3] = 1.0
    pattern = torch.zeros(2, 4, 4)
    pattern[:, 1:3, 1:3] = torch.tensor([[0.0, 1.0], [0.25, 0.75]])
    return Trigger(mask=mask, pattern=pattern, label=2)


def _synthetic(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An easy 3-class task of dim images (values in [0, 0.3]): a fixed random template per
    class plus uniform noise. Dim images and an opaque trigger (mask ratio 1) make the
    trapdoor's features stand apart from the natural ones in this 32-neuron toy model; with
    brighter images or a faint trigger the trapdoor is learnt (success > 80%) but clean inputs
    sit as close to the signature as triggered ones."""
    templates = torch.rand(CLASSES, *SHAPE, generator=torch.Generator().manual_seed(123))
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, CLASSES, (n,), generator=g)
    noise = torch.rand(n, *SHAPE, generator=g)
    return 0.1 * templates[labels] + 0.2 * noise, labels


def test_defaults_are_the_papers() -> None:
    assert DEFAULT_MASK_SIZE == 6
    assert pytest.approx(0.1) == DEFAULT_MASK_RATIO
    assert pytest.approx(0.1) == DEFAULT_INJECTION_RATIO


def test_inject_arithmetic_on_hand_built_tensors() -> None:
    trigger = _hand_trigger()
    x = torch.rand(3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    inside = trigger.mask.bool().expand(3, 2, 4, 4)

    full = inject(x, trigger, 1.0)
    assert torch.equal(full[inside], trigger.pattern.expand(3, 2, 4, 4)[inside])
    assert torch.equal(full[~inside], x[~inside])

    assert torch.equal(inject(x, trigger, 0.0), x)

    half = inject(x, trigger, 0.25)
    expected = 0.75 * x + 0.25 * trigger.pattern
    assert torch.allclose(half[inside], expected[inside])
    assert torch.equal(half[~inside], x[~inside])
    assert half.min() >= 0.0 and half.max() <= 1.0

    single = inject(x[0], trigger, 0.25)
    assert torch.equal(single, half[0])

    with pytest.raises(ValueError, match="mask_ratio"):
        inject(x, trigger, 1.5)
    with pytest.raises(ValueError, match="shape"):
        inject(torch.rand(3, 1, 4, 4), trigger, 0.5)


def test_make_trigger_shape_and_range() -> None:
    trigger = make_trigger(
        (3, 10, 10), mask_size=4, generator=torch.Generator().manual_seed(1), label=7
    )
    assert trigger.label == 7
    assert trigger.mask.shape == (1, 10, 10) and trigger.pattern.shape == (3, 10, 10)
    assert set(trigger.mask.unique().tolist()) <= {0.0, 1.0}
    assert int(trigger.mask.sum()) == 16
    rows, cols = trigger.mask[0].nonzero(as_tuple=True)
    assert int(rows.max() - rows.min()) == 3 and int(cols.max() - cols.min()) == 3
    assert trigger.pattern.min() >= 0 and trigger.pattern.max() <= 1
    assert torch.all(trigger.pattern[:, ~trigger.mask[0].bool()] == 0)
    with pytest.raises(ValueError, match="mask_size"):
        make_trigger((1, 4, 4), mask_size=5, generator=torch.Generator(), label=0)


def test_make_triggers_deterministic_and_distinct() -> None:
    first = make_triggers(5, SHAPE, mask_size=3, generator=torch.Generator().manual_seed(4))
    again = make_triggers(5, SHAPE, mask_size=3, generator=torch.Generator().manual_seed(4))
    other = make_triggers(5, SHAPE, mask_size=3, generator=torch.Generator().manual_seed(5))
    assert [t.label for t in first] == list(range(5))
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a.mask, b.mask) and torch.equal(a.pattern, b.pattern)
    assert not all(torch.equal(a.pattern, b.pattern) for a, b in zip(first, other, strict=True))
    for i in range(5):
        for j in range(i + 1, 5):
            assert not torch.equal(first[i].pattern, first[j].pattern)


@pytest.mark.parametrize(("batch", "ratio"), [(20, 0.1), (32, 0.1), (10, 0.25), (8, 0.0), (6, 1.0)])
def test_trapdoored_batch_replaces_round_ratio_samples(batch: int, ratio: float) -> None:
    triggers = make_triggers(
        CLASSES, SHAPE, mask_size=3, generator=torch.Generator().manual_seed(0)
    )
    x, y = _synthetic(batch, seed=1)
    out = trapdoored_batch(x, y, triggers, ratio, torch.Generator().manual_seed(2), mask_ratio=1.0)
    assert int(out.injected.sum()) == round(ratio * batch)
    assert torch.equal(out.x[~out.injected], x[~out.injected])
    assert torch.equal(out.y[~out.injected], y[~out.injected])
    by_label = {t.label: t for t in triggers}
    for i in out.injected.nonzero().flatten().tolist():
        trigger = by_label[int(out.y[i])]
        assert torch.equal(out.x[i], inject(x[i], trigger, 1.0))
    assert torch.equal(x, _synthetic(batch, seed=1)[0])  # the input batch is not modified
    again = trapdoored_batch(
        x, y, triggers, ratio, torch.Generator().manual_seed(2), mask_ratio=1.0
    )
    assert torch.equal(again.x, out.x) and torch.equal(again.y, out.y)


def test_cosine_score_hand_checked_on_a_stub() -> None:
    model = _Stub()
    signatures = {0: torch.tensor([1.0, 0.0]), 1: torch.tensor([1.0, 1.0])}
    detector = TrapdoorDetector(model, signatures)
    x = torch.tensor(
        [
            [[[2.0, 1.0], [0.0, 0.0]]],  # predicts 0: cos((2,1), (1,0)) = 2/sqrt(5)
            [[[1.0, 3.0], [0.0, 0.0]]],  # predicts 1: cos((1,3), (1,1)) = 4/sqrt(20)
            [[[-1.0, -2.0], [0.0, 0.0]]],  # predicts 2, no signature: -1
        ]
    )
    scores = detector.score(x)
    assert scores.dtype == torch.float64
    expected = torch.tensor([2 / math.sqrt(5), 4 / math.sqrt(20), -1.0], dtype=torch.float64)
    assert torch.allclose(scores, expected)
    signature = neuron_signature(model, x[:2])
    assert torch.allclose(signature, torch.tensor([1.5, 2.0], dtype=torch.float64))
    net = _TinyNet().eval()
    inputs = torch.rand(4, *SHAPE)
    hooked = neuron_signature(net, inputs, layer=net.trunk[2])  # the max-pool output
    assert hooked.shape == (8 * 6 * 6,)
    with torch.no_grad():
        assert torch.allclose(hooked, net.trunk[:3](inputs).flatten(1).mean(0).double())
        assert torch.allclose(neuron_signature(net, inputs), net.features(inputs).mean(0).double())


def test_trapdoored_training_and_detection() -> None:
    torch.manual_seed(0)
    model = _TinyNet()
    triggers = make_triggers(
        CLASSES, SHAPE, mask_size=4, generator=torch.Generator().manual_seed(7)
    )
    images, labels = _synthetic(600, seed=3)
    history = train_trapdoored(
        model,
        images,
        labels,
        triggers,
        epochs=10,
        batch_size=32,
        learning_rate=1e-2,
        injection_ratio=0.25,
        mask_ratio=1.0,
        generator=torch.Generator().manual_seed(8),
    )
    assert len(history) == 10 and set(history[0]) == {
        "epoch",
        "loss",
        "clean_accuracy",
        "trigger_success",
    }
    assert history[-1]["loss"] < history[0]["loss"]

    test_x, test_y = _synthetic(300, seed=4)
    with torch.no_grad():
        assert (model(test_x).argmax(1) == test_y).float().mean() > 0.9
        for trigger in triggers:
            others = test_x[test_y != trigger.label]
            hit = model(inject(others, trigger, 1.0)).argmax(1) == trigger.label
            assert hit.float().mean() > 0.8, trigger.label

    signatures = build_signatures(model, images[:200], triggers, mask_ratio=1.0, per_label=100)
    assert sorted(signatures) == list(range(CLASSES))
    detector = TrapdoorDetector(model, signatures)
    clean_scores = detector.score(test_x)
    triggered = torch.cat([inject(test_x[:100], t, 1.0) for t in triggers])
    trap_scores = detector.score(triggered)
    assert trap_scores.mean() > clean_scores.mean()

    val_x, _ = _synthetic(200, seed=5)
    points = detector.calibrate(val_x, [0.05])
    assert points[0].fpr_realized <= 0.05
    flags = detector.is_adversarial(triggered, 0.05)
    assert flags.dtype == torch.bool and flags.shape == (len(triggered),)
    assert flags.float().mean() > detector.is_adversarial(test_x, 0.05).float().mean()
    with pytest.raises(ValueError, match="no operating point"):
        detector.is_adversarial(test_x, 0.01)
