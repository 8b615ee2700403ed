"""Attractors paper Sec. VI-C (Fig. 5 and Fig. 7): gradient split, magnitudes, nearest
attractors, soft-label and local-density cosines against hand-derived values, the figures,
and the measurement job on a tiny store."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from decoybench.papers.attractors.analysis import (
    COSINES,
    LATTICE,
    MAGNITUDES,
    component_magnitudes,
    gradient_parts,
    local_density_cosines,
    local_density_gradient,
    measure_attractor_analysis,
    measure_batch,
    nearest_attractors,
    soft_label_cosines,
    summarize_attractor_analysis,
)
from decoybench.papers.attractors.attractors import nearest_attractor
from decoybench.papers.attractors.figures import (
    _density_title,
    _kde,
    plot_attractor_cosines,
    plot_strength_comparison,
)
from decoybench.papers.attractors.model import AttractorModel
from decoybench.papers.attractors.qim import AttractorConfig, QIMDecoder

SHAPE = (1, 4, 4)
DIMS = 16


pytestmark = pytest.mark.usefixtures("single_thread")


def linear_victim(classes: int = 3, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(DIMS, classes)).double().eval()


def decoder(classes: int = 3, **options: object) -> QIMDecoder:
    return QIMDecoder.from_config(
        AttractorConfig(num_classes=classes, input_shape=SHAPE, **options)
    )


def inputs(count: int, seed: int = 1) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, *SHAPE, generator=generator, dtype=torch.float64)


def row_gradient(values: Tensor, x: Tensor) -> Tensor:
    """∇ₓ of one scalar per row (rows independent), shaped like x."""
    (gradient,) = torch.autograd.grad(values.sum(), x)
    return gradient


# Fig. 5: the attacker's gradient is the sum of signals (1) and (2) of Fig. 2a.


def test_gradient_parts_sum_to_the_full_gradient_and_match_hand_formulas() -> None:
    model = AttractorModel(linear_victim(), decoder(A2=0.3))
    x, y = inputs(5), torch.tensor([0, 1, 2, 0, 1])
    through_victim, through_decoder = gradient_parts(model, x, y)

    leaf = x.clone().requires_grad_(True)
    rows = torch.arange(len(x))
    full = row_gradient(-torch.log(model.probabilities(leaf)[rows, y]), leaf)
    torch.testing.assert_close(through_victim + through_decoder, full)

    # J = −log(c_y + w_y) + log(1 + Σ w): ∂/∂c and ∂/∂w by hand, the other factor fixed.
    leaf = x.clone().requires_grad_(True)
    soft, w = torch.softmax(model.victim(leaf), dim=1), model.decoder(leaf)
    share = (soft[rows, y] + w[rows, y]).detach().view(-1, 1, 1, 1)
    total = (1 + w.sum(dim=1)).detach().view(-1, 1, 1, 1)
    grad_c = torch.autograd.grad(soft[rows, y].sum(), leaf, retain_graph=True)[0]
    grad_w = torch.autograd.grad(w[rows, y].sum(), leaf, retain_graph=True)[0]
    grad_sum_w = torch.autograd.grad(w.sum(), leaf)[0]
    torch.testing.assert_close(through_victim, -grad_c / share)
    torch.testing.assert_close(through_decoder, -grad_w / share + grad_sum_w / total)
    assert through_victim.abs().sum() > 0 and through_decoder.abs().sum() > 0


def test_component_magnitudes_by_hand() -> None:
    # Two input values, one message bit each, δ = 3 (pixel units), α = 1: Q_max = 6.
    qim = QIMDecoder(
        messages=torch.tensor([[0, 0], [1, 1]]),
        term_position=torch.tensor([0, 1]),
        term_bit=torch.tensor([0, 1]),
        term_interval=torch.tensor([3.0, 3.0]),
        term_weight=torch.tensor([1.0, 1.0]),
        input_shape=(1, 1, 2),
        A2=0.05,
    )
    victim = nn.Sequential(nn.Flatten(), nn.Linear(2, 2)).double()
    x = torch.tensor([[[[1.5, 3.0]]]], dtype=torch.float64) / 255.0
    # Value 1.5: q = 0 for bit 0 (codeword 1.5), 3 for bit 1; value 3.0: 1.5 for both bits.
    # Q = (1.5, 4.5), d = Q/6 = (1/4, 3/4), W = A2 tanh((1 − d)/d) = 0.05 (tanh 3, tanh 1/3).
    expected_w = 0.05 * (math.tanh(3.0) + math.tanh(1.0 / 3.0))
    measured = component_magnitudes(AttractorModel(victim, qim), x, torch.tensor([1]))
    assert set(measured) == set(MAGNITUDES)
    assert measured["decoder_output_l1"] == pytest.approx([expected_w], rel=1e-12)
    assert measured["victim_output_l1"] == pytest.approx([1.0], abs=1e-12)
    victim_part, decoder_part = gradient_parts(AttractorModel(victim, qim), x, torch.tensor([1]))
    assert measured["victim_gradient_l1"] == pytest.approx([float(victim_part.abs().sum())])
    assert measured["decoder_gradient_l1"] == pytest.approx([float(decoder_part.abs().sum())])
    # Through W: dq/dv = ±1 per pixel unit, so the 1-norm is a multiple of 255·(...) > 0.
    assert measured["decoder_gradient_l1"][0] > 0


# Fig. 7: nearest attractor, soft-label and local-density cosines.


@pytest.mark.parametrize("within_box", [True, False])
def test_nearest_attractors_is_the_brute_force_minimum_and_decodes_to_its_label(
    within_box: bool,
) -> None:
    qim = decoder(classes=4)
    x = inputs(8)
    x[0] = 0.0  # saturated: the lattice attractor leaves [0, 1] there
    attractor, label = nearest_attractors(qim, x, within_box=within_box)
    candidates = torch.stack(
        [nearest_attractor(qim, x, t, within_box=within_box) for t in range(4)]
    )  # (n, N, ...)
    distances = (candidates - x).flatten(start_dim=2).norm(dim=2)  # (n, N)
    assert torch.equal(label, distances.argmin(dim=0))
    torch.testing.assert_close(attractor, candidates[label, torch.arange(len(x))])
    assert torch.equal(qim.decode(attractor).argmin(dim=1), label)
    assert torch.equal(qim.decoded_label(attractor), label)
    assert len(set(label.tolist())) > 1, "the test needs inputs nearest to different classes"
    inside = bool(((attractor >= 0) & (attractor <= 1)).all())
    assert inside == within_box


def test_nearest_attractors_ties_go_to_the_lowest_label() -> None:
    twins = QIMDecoder(  # two classes with the same message: the same attractor
        messages=torch.tensor([[1], [1]]),
        term_position=torch.tensor([0]),
        term_bit=torch.tensor([0]),
        term_interval=torch.tensor([3.0]),
        term_weight=torch.tensor([1.0]),
        input_shape=(1, 1, 1),
    )
    _, label = nearest_attractors(twins, torch.full((3, 1, 1, 1), 0.5))
    assert label.tolist() == [0, 0, 0]


def analytic_soft_label_cosine(
    model: nn.Sequential, x: Tensor, direction: Tensor, target: int
) -> float:
    """−∇ₓ CE(Ax + b, t) = −Aᵀ(softmax(Ax + b) − e_t) for a linear model."""
    layer = model[1]
    with torch.no_grad():
        probabilities = torch.softmax(layer(x.flatten()), dim=0)
    probabilities[target] -= 1.0
    gradient = -(layer.weight.T @ probabilities).detach().numpy()
    d = direction.flatten().numpy()
    return float(d @ gradient / (np.linalg.norm(d) * np.linalg.norm(gradient)))


def test_soft_label_cosines_on_a_linear_model() -> None:
    victim, x = linear_victim(), inputs(4)
    target = torch.tensor([0, 1, 2, 1])
    attractor = inputs(4, seed=2)
    attractor[3] = x[3]  # x_w = x: no direction, nan
    cosines = soft_label_cosines(victim, x, attractor, target)
    for row in range(3):
        expected = analytic_soft_label_cosine(victim, x[row], attractor[row] - x[row], row)
        assert cosines[row] == pytest.approx(expected, abs=1e-10)
    assert math.isnan(cosines[3])
    # Log-probabilities (M's convention) give the same J as the logits they came from.
    log_probabilities = nn.Sequential(victim, nn.LogSoftmax(dim=1))
    np.testing.assert_allclose(
        soft_label_cosines(log_probabilities, x, attractor, target), cosines, atol=1e-12
    )
    # Pointing at −∇J itself gives cosine 1.
    toward = x[:1] - 0.01 * torch.tensor(_gradient(victim, x[:1], 0))
    assert soft_label_cosines(victim, x[:1], toward, torch.tensor([0]))[0] == pytest.approx(1.0)


def _gradient(model: nn.Module, x: Tensor, target: int) -> np.ndarray:
    leaf = x.clone().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(leaf), torch.tensor([target]))
    return torch.autograd.grad(loss, leaf)[0].numpy()


class HalfSpace(nn.Module):
    """Class 1 where n·x > b, class 0 elsewhere (logits (0, n·x − b))."""

    def __init__(self, normal: Tensor, offset: float) -> None:
        super().__init__()
        self.normal, self.offset = normal, offset

    def forward(self, x: Tensor) -> Tensor:
        score = x.flatten(start_dim=1) @ self.normal - self.offset
        return torch.stack([torch.zeros_like(score), score], dim=1)


def half_space(distance: float, count: int) -> tuple[HalfSpace, Tensor, Tensor]:
    """A half-space classifier through the point 0.5·1, its unit normal n, and `count` inputs
    near 0.5 at signed distance `distance` from its boundary (positive: inside class 1)."""
    normal = torch.randn(DIMS, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    normal = normal / normal.norm()
    model = HalfSpace(normal, offset=float(0.5 * normal.sum()))
    centres = (0.5 + 0.02 * (inputs(count, seed=4) - 0.5)).flatten(start_dim=1)
    shift = distance - (centres @ normal - model.offset)
    return model, (centres + shift.view(-1, 1) * normal).view(-1, *SHAPE), normal


def ball_marginal_density(s: float, dims: int) -> float:
    """Density of one coordinate of a point uniform in the d-ball: ∝ (1 − s²)^((d−1)/2)."""
    log_constant = math.lgamma(dims / 2 + 1) - math.lgamma(dims / 2 + 0.5) - 0.5 * math.log(math.pi)
    return math.exp(log_constant) * (1 - s * s) ** ((dims - 1) / 2)


RADIUS = 0.1


def test_local_density_gradient_matches_the_ball_share_gradient_of_a_half_space() -> None:
    # H_δ = P(v₁ > −a/δ) for v uniform in the unit ball: ∇H_δ = n · p(a/δ)/δ.
    model, x, normal = half_space(0.3 * RADIUS, count=3)
    assert torch.equal(model(x).argmax(dim=1), torch.ones(3, dtype=torch.int64))
    generator = torch.Generator().manual_seed(0)
    gradient = local_density_gradient(
        model, x, torch.ones(3, dtype=torch.int64), RADIUS, 4000, generator, 2048
    ).flatten(start_dim=1)
    along = gradient @ normal
    expected = ball_marginal_density(0.3, DIMS) / RADIUS
    np.testing.assert_allclose(along.numpy(), expected, rtol=0.1)
    across = (gradient - along.view(-1, 1) * normal).norm(dim=1)
    assert bool((across < 0.15 * expected).all())


def test_local_density_cosines_point_along_the_normal_and_are_deterministic() -> None:
    model, x, normal = half_space(0.3 * RADIUS, count=4)
    step = (0.2 * normal).view(1, *SHAPE)
    ones, zeros = torch.ones(4, dtype=torch.int64), torch.zeros(4, dtype=torch.int64)

    def cosines(attractor: Tensor, label: Tensor, seed: int = 0, batch: int = 1024) -> np.ndarray:
        generator = torch.Generator().manual_seed(seed)
        return local_density_cosines(model, x, attractor, label, RADIUS, 1000, generator, batch)

    toward = cosines(x + step, ones)
    assert bool((toward > 0.95).all()), toward
    assert bool((cosines(x - step, ones) < -0.95).all())
    assert bool((cosines(x - step, zeros) > 0.95).all()), "class 0's density grows along −n"
    np.testing.assert_array_equal(cosines(x + step, ones), toward)
    np.testing.assert_array_equal(cosines(x + step, ones, batch=300), toward)
    assert not np.array_equal(cosines(x + step, ones, seed=1), toward)


def soft_ball_gradient(a: float, radius: float, dims: int) -> float:
    """d/da E_v[σ(a + δ v₁)], v uniform in the unit d-ball: E[σ'(a + δ v₁)] by quadrature."""
    s = np.linspace(-1.0, 1.0, 20001)
    sigmoid = 1.0 / (1.0 + np.exp(-(a + radius * s)))
    density = np.array([ball_marginal_density(value, dims) for value in s])
    return float(np.trapezoid(sigmoid * (1.0 - sigmoid) * density, s))


def test_soft_local_density_gradient_matches_the_ball_average_of_the_soft_label() -> None:
    # Soft-label of class 1 = σ(n·x − b): its ball average has gradient n · E[σ'(a + δ v₁)].
    model, x, normal = half_space(0.3 * RADIUS, count=3)
    generator = torch.Generator().manual_seed(0)
    gradient = local_density_gradient(
        model, x, torch.ones(3, dtype=torch.int64), RADIUS, 4000, generator, 2048, density="soft"
    ).flatten(start_dim=1)
    along = gradient @ normal
    expected = soft_ball_gradient(0.3 * RADIUS, RADIUS, DIMS)  # ≈ 0.25
    np.testing.assert_allclose(along.numpy(), expected, rtol=0.1)
    across = (gradient - along.view(-1, 1) * normal).norm(dim=1)
    assert bool((across < 0.3 * expected).all())


def test_soft_local_density_cosines_are_finite_signed_and_deterministic() -> None:
    # Far from the boundary the hard density is flat (nan); the soft one still points along n.
    model, x, normal = half_space(2.0 * RADIUS, count=4)
    step = (0.2 * normal).view(1, *SHAPE)
    ones, zeros = torch.ones(4, dtype=torch.int64), torch.zeros(4, dtype=torch.int64)

    def cosines(
        attractor: Tensor, label: Tensor, seed: int = 0, batch: int = 1024, density: str = "soft"
    ) -> np.ndarray:
        generator = torch.Generator().manual_seed(seed)
        return local_density_cosines(
            model, x, attractor, label, RADIUS, 1000, generator, batch, density=density
        )

    toward = cosines(x + step, ones)
    assert bool((toward > 0.95).all()), toward
    assert bool((cosines(x - step, ones) < -0.95).all())
    assert bool((cosines(x - step, zeros) > 0.95).all()), "class 0's soft-label grows along −n"
    np.testing.assert_array_equal(cosines(x + step, ones), toward)
    np.testing.assert_array_equal(cosines(x + step, ones, batch=300), toward)
    assert not np.array_equal(cosines(x + step, ones, seed=1), toward)
    assert bool(np.isnan(cosines(x + step, ones, density="hard")).all())
    with pytest.raises(ValueError, match="density"):
        cosines(x + step, ones, density="sharp")


def test_local_density_cosine_is_nan_where_the_ball_holds_one_class() -> None:
    model, x, normal = half_space(2.0 * RADIUS, count=2)  # the boundary is out of reach
    generator = torch.Generator().manual_seed(0)
    attractor = x + (0.2 * normal).view(1, *SHAPE)
    labels = torch.ones(2, dtype=torch.int64)
    cosines = local_density_cosines(model, x, attractor, labels, RADIUS, 50, generator, 64)
    assert bool(np.isnan(cosines).all())


def density_generators(seed: int = 3) -> dict[str, torch.Generator]:
    return {
        f"{key}{suffix}": torch.Generator().manual_seed(seed)
        for key in ("S1", "S2")
        for suffix in ("", LATTICE)
    }


def test_fig7_uses_the_nearest_valid_attractor_and_keeps_the_lattice_one_as_a_diagnostic() -> None:
    # Issue 17 (defect 3): x_w must be a valid image (in [0, 1]), not the lattice point,
    # which leaves [0, 1] at saturated pixels.
    qim = decoder(classes=3)
    model = AttractorModel(linear_victim(), qim).eval()
    x = inputs(6)
    x[0], x[1] = 0.0, 1.0  # all black, all white
    x[2, 0, :2], x[3, 0, -1] = 0.0, 1.0  # partly saturated
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    options = {"density_radius": 0.5, "density_samples": 8, "batch_size": 64}
    batch = measure_batch(model, x, y, generators=density_generators(), **options)

    valid, target = nearest_attractors(qim, x, within_box=True)
    lattice, lattice_target = nearest_attractors(qim, x, within_box=False)
    assert bool(((valid >= 0) & (valid <= 1)).all())
    outside = ((lattice < 0) | (lattice > 1)).flatten(start_dim=1).any(dim=1)
    assert bool(outside[:4].all()), "the test needs lattice attractors outside [0, 1]"

    def distance(attractor: Tensor) -> np.ndarray:
        return (attractor - x).flatten(start_dim=1).norm(dim=1).numpy()

    for suffix, attractor, label in (("", valid, target), (LATTICE, lattice, lattice_target)):
        np.testing.assert_array_equal(batch[f"attractor_label{suffix}"], label.numpy())
        np.testing.assert_allclose(batch[f"attractor_distance{suffix}"], distance(attractor))
        expected_z1 = soft_label_cosines(model.victim, x, attractor, label)
        expected_z2 = soft_label_cosines(model, x, attractor, label)
        np.testing.assert_allclose(batch[f"Z1{suffix}"], expected_z1, atol=1e-12)
        np.testing.assert_allclose(batch[f"Z2{suffix}"], expected_z2, atol=1e-12)
        for key, network in (("S1", model.victim), ("S2", model)):
            generator = torch.Generator().manual_seed(3)
            expected = local_density_cosines(
                network, x, attractor, label, 0.5, 8, generator, 64, density="soft"
            )
            np.testing.assert_allclose(batch[f"{key}{suffix}"], expected, atol=1e-12)
    # Where the lattice point leaves [0, 1] the two attractors (and so Z2) differ.
    assert bool((batch["attractor_distance"][:4] > batch["attractor_distance_lattice"][:4]).all())
    assert not np.allclose(batch["Z2"][:4], batch["Z2_lattice"][:4])
    assert set(batch) == {
        *MAGNITUDES,
        "label",
        *(f"{key}{suffix}" for suffix in ("", LATTICE) for key in COSINES),
        *(f"attractor_{key}{suffix}" for suffix in ("", LATTICE) for key in ("label", "distance")),
    }


def test_summary_counts_defined_values_above_the_threshold() -> None:
    magnitudes = {key: np.array([1.0, 2.0, 3.0, 4.0, 5.0]) for key in MAGNITUDES}
    cosines = {
        "Z1": np.array([0.9, 0.81, 0.8, np.nan, -1.0]),  # 0.8 itself is not above
        "Z2": np.array([0.95, 0.9, 0.85, -0.2, 0.1]),
        "S1": np.full(5, np.nan),
        "S2": np.array([0.1, 0.2, 0.3, np.nan, np.nan]),
    }
    labels = {"attractor_label": np.array([0, 1, 2, 3, 4])}
    summary = summarize_attractor_analysis({**magnitudes, **cosines, **labels})
    assert summary["defined_Z1"] == 4 and summary["count_Z1_above_0.8"] == 2
    assert summary["share_Z1_above_0.8"] == pytest.approx(0.5)
    assert summary["defined_Z2"] == 5 and summary["count_Z2_above_0.8"] == 3
    assert summary["share_Z2_above_0.8"] == pytest.approx(0.6)
    assert summary["median_Z2"] == pytest.approx(0.85)
    assert math.isnan(summary["median_S1"]) and summary["nan_count_S1"] == 5
    assert summary["nan_count_S2"] == 2 and summary["median_S2"] == pytest.approx(0.2)
    assert isinstance(summary["count_Z2_above_0.8"], int)
    assert isinstance(summary["defined_Z2"], int)
    assert not any(LATTICE in key for key in summary)  # arrays without the diagnostic
    assert "same_attractor_label" not in summary

    lattice = {f"{key}{LATTICE}": values[::-1] for key, values in cosines.items()}
    lattice[f"attractor_label{LATTICE}"] = np.array([0, 1, 0, 0, 4])
    summary = summarize_attractor_analysis({**magnitudes, **cosines, **labels, **lattice})
    assert summary["defined_Z1_lattice"] == 4 and summary["count_Z1_lattice_above_0.8"] == 2
    assert summary["count_Z2_lattice_above_0.8"] == 3
    assert summary["median_Z2_lattice"] == pytest.approx(0.85)
    assert summary["nan_count_S2_lattice"] == 2
    assert summary["same_attractor_label"] == 3
    assert summary["count_Z2_above_0.8"] == 3  # the figure's keys are unchanged
    empty = summarize_attractor_analysis(
        {**magnitudes, **{key: np.full(2, np.nan) for key in COSINES}}
    )
    assert empty["defined_Z2"] == 0 and empty["count_Z2_above_0.8"] == 0
    assert math.isnan(empty["share_Z2_above_0.8"])
    json.dumps(summary)


# Figures.


def measurements(count: int = 60) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "victim_output_l1": 1.0 + rng.uniform(-1e-7, 1e-7, count),  # 1 up to rounding
        "decoder_output_l1": rng.normal(0.38, 0.02, count),
        "victim_gradient_l1": np.concatenate([rng.lognormal(-6, 1, count - 2), [0.0, np.nan]]),
        "decoder_gradient_l1": rng.lognormal(3, 0.3, count),
        "Z1": np.clip(rng.normal(0.0, 0.3, count), -1, 1),
        "Z2": np.clip(rng.normal(0.9, 0.05, count), -1, 1),
        "S1": np.concatenate([rng.normal(0.1, 0.2, count - 1), [np.nan]]),
        "S2": np.full(count, 0.5),  # constant: no KDE
        "Z1_lattice": np.clip(rng.normal(0.1, 0.3, count), -1, 1),
        "Z2_lattice": np.clip(rng.normal(0.95, 0.02, count), -1, 1),
        "S1_lattice": np.full(count, np.nan),  # nothing to draw
        "S2_lattice": np.full(count, 0.4),  # constant: a dotted line
        "density_radius": np.asarray(0.5),
        "density_kind": np.asarray("soft"),
    }


def assert_written(png, pdf) -> None:
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000


def test_plots_write_png_and_pdf_with_nan_and_constant_arrays(tmp_path) -> None:
    values = measurements()
    plot_strength_comparison(values, tmp_path / "f5.png", tmp_path / "f5.pdf")
    plot_attractor_cosines(values, tmp_path / "f7.png", tmp_path / "f7.pdf")
    assert_written(tmp_path / "f5.png", tmp_path / "f5.pdf")
    assert_written(tmp_path / "f7.png", tmp_path / "f7.pdf")
    values = {key: np.full(3, np.nan) for key in MAGNITUDES + COSINES}  # nothing to draw
    plot_attractor_cosines(values, tmp_path / "empty.png", tmp_path / "empty.pdf")  # no lattice
    plot_strength_comparison(values, tmp_path / "empty5.png", tmp_path / "empty5.pdf")
    assert_written(tmp_path / "empty.png", tmp_path / "empty.pdf")


def test_figure7_draws_the_valid_attractor_filled_and_the_lattice_diagnostic_dashed(
    tmp_path, monkeypatch
) -> None:
    import matplotlib.pyplot as plt

    from decoybench.papers.attractors import figures

    kept: list = []
    monkeypatch.setattr(figures, "_save", lambda figure, png, pdf: kept.append(figure))
    plot_attractor_cosines(measurements(), tmp_path / "f7.png", tmp_path / "f7.pdf")
    soft_label, density = kept[0].axes
    lines = {line.get_label(): line for line in soft_label.get_lines()}
    z2 = next(line for label, line in lines.items() if label.startswith("$Z_2$: attractor model M"))
    z2_lattice = next(
        line for label, line in lines.items() if label.startswith("$Z_2$ on M, lattice $x_w$")
    )
    assert z2.get_linestyle() == "-" and z2.get_alpha() is None
    assert z2_lattice.get_linestyle() == "--" and z2_lattice.get_alpha() < 1
    assert z2_lattice.get_color() == z2.get_color()
    assert "(diagnostic)" in z2_lattice.get_label()
    assert len(soft_label.collections) == 2  # only the valid-attractor KDEs are filled
    labels = [line.get_label() for line in density.get_lines()]
    assert any(
        label.startswith("$S_1$ on C, lattice $x_w$ (diagnostic): nothing") for label in labels
    )
    assert any("S_2$ on M, lattice" in label and "constant 0.4" in label for label in labels)
    plt.close(kept[0])


def test_density_panel_title_names_the_variant_and_radius() -> None:
    title = _density_title({"density_kind": np.asarray("soft"), "density_radius": np.asarray(2.0)})
    assert title.startswith(r"(b) soft local density, $\delta$ = 2: cos(")
    assert _density_title({"density_kind": np.asarray("hard")}).startswith(
        "(b) hard local density:"
    )
    assert _density_title({}).startswith("(b) local density: cos(")


def test_kde_draws_constants_as_lines_and_counts_hidden_values() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    _kde(axes, np.array([1.0, 1.0 + 1e-9, np.nan]), "H2", "C1")
    _kde(axes, np.array([0.0, 1e-3, 1e-1, 1.0, np.nan]), "T2", "C0", log=True)
    lines = axes.get_lines()
    labels = [line.get_label() for line in lines]
    assert labels[0].startswith("H2 (n=2, 1 not shown), constant 1")
    assert list(lines[0].get_xdata()) == pytest.approx([1.0, 1.0])
    assert labels[1] == "T2 (n=3, 2 not shown)"
    assert len(lines[1].get_xdata()) > 100 and min(lines[1].get_xdata()) > 0
    plt.close(figure)


# The measurement job on a tiny store.


def test_measure_attractor_analysis_writes_every_array(tiny_store, tmp_path) -> None:
    from decoybench.data import read_manifest
    from decoybench.io import read_npz
    from decoybench.models import build_model
    from decoybench.models.checkpoint import save_checkpoint
    from decoybench.papers.attractors.build import build_attractor_defense

    torch.manual_seed(0)
    shape = {"in_channels": 1, "image_size": 28, "num_classes": 10}
    victim = build_model("multitask_substitute_mnist", **shape)
    fingerprint = read_manifest(tiny_store)["fingerprint"]
    save_checkpoint(
        tmp_path / "victim.safetensors",
        victim,
        {"architecture": "multitask_substitute_mnist", **shape, "data_sha256": fingerprint},
    )
    cpu = torch.device("cpu")
    build_attractor_defense(
        victim_path=tmp_path / "victim.safetensors", data_dir=tiny_store,
        settings={"seed": 0, "fprs": [0.1]}, out=tmp_path / "defense.json", device=cpu,
    )  # fmt: skip
    options = {"n_samples": 5, "density_radius": 1.0, "density_samples": 4, "batch_size": 3}

    def measure(out: str, **extra: str) -> dict[str, float]:
        return measure_attractor_analysis(
            victim_path=tmp_path / "victim.safetensors", defense_path=tmp_path / "defense.json",
            data_dir=tiny_store, out=tmp_path / out, device=cpu, seed=7, **options, **extra,
        )  # fmt: skip

    summary = measure("a.npz")
    arrays = read_npz(tmp_path / "a.npz")
    per_attractor = {*COSINES, "attractor_label", "attractor_distance"}
    lattice = {f"{key}{LATTICE}" for key in per_attractor}
    per_sample = {*MAGNITUDES, "label", *per_attractor, *lattice}
    assert set(arrays) == per_sample | {"density_radius", "density_samples", "density_kind"}
    # Fig. 7's x_w is the nearest valid image; real MNIST's black pixels put the lattice
    # point outside [0, 1], so the two distances differ.
    from decoybench.data import load_split
    from decoybench.io import read_json
    from decoybench.papers.attractors.defense import AttractorDefense
    from decoybench.runtime import to_float

    x = to_float(load_split(tiny_store, "test").images[:5], cpu)
    defense = AttractorDefense.from_json(
        json.dumps(read_json(tmp_path / "defense.json")["defense"]), victim.eval()
    )
    valid, target = nearest_attractors(defense.decoder, x, within_box=True)
    lattice_point, _ = nearest_attractors(defense.decoder, x, within_box=False)
    assert float(x.min()) == 0.0 and bool((lattice_point < 0).any())
    np.testing.assert_array_equal(arrays["attractor_label"], target.numpy())
    np.testing.assert_allclose(
        arrays["attractor_distance"], (valid - x).flatten(start_dim=1).norm(dim=1).numpy()
    )
    np.testing.assert_allclose(
        arrays["attractor_distance_lattice"],
        (lattice_point - x).flatten(start_dim=1).norm(dim=1).numpy(),
    )
    assert bool((arrays["attractor_distance"] > arrays["attractor_distance_lattice"]).all())
    assert str(arrays["density_kind"]) == "soft"  # the default
    assert not np.isnan(arrays["S1"]).any() and not np.isnan(arrays["S2"]).any()
    for key in per_sample:
        assert arrays[key].shape == (5,), key
    np.testing.assert_allclose(arrays["victim_output_l1"], 1.0, atol=1e-5)
    assert bool((arrays["decoder_gradient_l1"] > 0).all())
    assert bool((np.abs(arrays["Z2"]) <= 1 + 1e-9).all())
    assert summary["nan_count_S1"] == float(np.isnan(arrays["S1"]).sum())
    assert summary == summarize_attractor_analysis(arrays)
    for key in ("Z1", "Z2", "Z1_lattice", "Z2_lattice"):
        assert summary[f"defined_{key}"] == int(np.isfinite(arrays[key]).sum())
        assert summary[f"count_{key}_above_0.8"] == int((arrays[key] > 0.8).sum())
    assert {"median_Z2", "share_Z2_above_0.8", "share_Z1_above_0.8"} <= set(summary)
    json.dumps(summary)  # plain floats for MLflow
    measure("b.npz")
    again = read_npz(tmp_path / "b.npz")
    for key in arrays:
        np.testing.assert_array_equal(again[key], arrays[key], err_msg=key)
    hard = measure("c.npz", density="hard")
    arrays_hard = read_npz(tmp_path / "c.npz")
    assert str(arrays_hard["density_kind"]) == "hard"
    for key in ("Z1", "Z2", "attractor_label", "attractor_distance", "Z2_lattice"):
        np.testing.assert_array_equal(arrays_hard[key], arrays[key], err_msg=key)
    assert hard["nan_count_S2"] == float(np.isnan(arrays_hard["S2"]).sum())
