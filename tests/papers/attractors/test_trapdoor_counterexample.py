"""Attractors paper Sec. IV-C / VI-C1 (Eq. 1, Fig. 3, Fig. 6): the weighted-sum trapdoor
counter-example, its training goals, the gradient split against hand formulas, the
clean-input dominance of the victim branch, the figure and the measurement job."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from decoybench.papers.attractors.counterexample import TrapdoorConfig, WeightedSumTrapdoorModel
from decoybench.papers.attractors.counterexample_analysis import (
    MAGNITUDES,
    MODEL_SETTINGS,
    gradient_parts,
    measure_trapdoor_counterexample,
    trapdoor_magnitudes,
)
from decoybench.papers.attractors.counterexample_figure import plot_trapdoor_strength

SHAPE = (1, 12, 12)
DIMS = 144
CLASSES = 4


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def linear_victim(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(DIMS, CLASSES)).double().eval()


def model(seed: int = 0, **options: object) -> WeightedSumTrapdoorModel:
    config = TrapdoorConfig(num_classes=CLASSES, input_shape=SHAPE, seed=seed, **options)
    return WeightedSumTrapdoorModel(linear_victim(), config).eval()


def smooth_images(count: int, seed: int = 1) -> Tensor:
    """Two Gaussian bumps (σ = 3 px) per image, values in [0.25, 0.75]: a host the local
    mean predicts well and that no trapdoor pushes out of [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.arange(12, dtype=torch.float64)
    rows, cols = torch.meshgrid(grid, grid, indexing="ij")
    centres = torch.rand(count, 2, 2, generator=generator, dtype=torch.float64) * 11
    bumps = torch.exp(
        -((rows - centres[..., 0, None, None]) ** 2 + (cols - centres[..., 1, None, None]) ** 2)
        / (2 * 3.0**2)
    ).sum(dim=1)
    return (0.25 + 0.5 * bumps / bumps.amax(dim=(1, 2), keepdim=True)).unsqueeze(1)


def uniform_images(count: int, seed: int = 2) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, *SHAPE, generator=generator, dtype=torch.float64)


# The trapdoors and the decoder's correlations.


def test_trapdoors_are_balanced_seeded_sign_patterns_and_embedding_clamps() -> None:
    first = model(seed=3, amplitude=0.3, mask_fraction=0.4)
    k = int(0.4 * DIMS) // 2 * 2
    trapdoors = first.trapdoors
    assert trapdoors.shape == (CLASSES, *SHAPE)
    flat = trapdoors.flatten(start_dim=1)
    assert torch.equal(flat.unique(), torch.tensor([-0.3, 0.0, 0.3]))
    assert ((flat != 0).sum(dim=1) == k).all()
    assert ((flat > 0).sum(dim=1) == k // 2).all()
    assert torch.equal(model(seed=3, amplitude=0.3, mask_fraction=0.4).signs, first.signs)
    assert not torch.equal(model(seed=4, amplitude=0.3, mask_fraction=0.4).signs, first.signs)

    x = torch.cat([torch.zeros(1, *SHAPE), torch.ones(1, *SHAPE), torch.full((1, *SHAPE), 0.5)])
    x = x.double()
    embedded = first.embed_trapdoor(x, 2)
    delta = trapdoors[2].double()
    torch.testing.assert_close(embedded[0], delta.clamp_min(0))  # black: only + survives
    torch.testing.assert_close(embedded[1], 1 + delta.clamp_max(0))  # white: only −
    torch.testing.assert_close(embedded[2], 0.5 + delta)  # grey: all of it
    per_row = first.embed_trapdoor(x, torch.tensor([0, 1, 3]))
    for row, target in enumerate((0, 1, 3)):
        torch.testing.assert_close(per_row[row], first.embed_trapdoor(x[row : row + 1], target)[0])


def test_correlations_by_hand_with_the_constant_reference() -> None:
    trapdoored = model(reference="half")
    signs = trapdoored.signs.double()
    k = trapdoored.config.mask_size
    grey = torch.full((1, *SHAPE), 0.5, dtype=torch.float64)
    for target in range(CLASSES):
        rho = trapdoored.correlations(trapdoored.embed_trapdoor(grey, target))[0]
        # x − 0.5 = Δ_t = a s_t, so ρ_u = a ⟨s_t, s_u⟩ / (a k) = ⟨s_t, s_u⟩ / k; ρ_t = 1.
        torch.testing.assert_close(rho, signs @ signs[target] / k)
        assert float(rho[target]) == pytest.approx(1.0)
    # Balanced signs: any constant host correlates to 0.
    assert trapdoored.correlations(grey * 0.2).abs().max() < 1e-12


# Sec. IV-C training goals.


def test_training_goals_clean_behaves_like_the_victim_embedded_decodes_the_trapdoor() -> None:
    trapdoored = model()
    x = smooth_images(16)
    with torch.no_grad():
        victim = torch.softmax(trapdoored.victim(x), dim=1)
        clean = trapdoored.probabilities(x)
        assert trapdoored.detect(x).max() < 1e-6
        assert (clean - victim).abs().max() < 1e-6
        assert torch.equal(clean.argmax(dim=1), victim.argmax(dim=1))
        torch.testing.assert_close(clean.sum(dim=1), torch.ones(16, dtype=torch.float64))
        torch.testing.assert_close(trapdoored(x), torch.log(clean))
        victim_hits = 0
        for target in range(CLASSES):
            embedded = trapdoored.embed_trapdoor(x, target)
            assert trapdoored.detect(embedded).min() > 1 - 1e-6
            assert (trapdoored.probabilities(embedded).argmax(dim=1) == target).all()
            assert (trapdoored.decode(embedded).argmax(dim=1) == target).all()
            victim_hits += int((trapdoored.victim(embedded).argmax(dim=1) == target).sum())
    assert victim_hits < CLASSES * 16 / 2, "the victim alone must not already follow Δ_t"


# Fig. 3 / Fig. 6b: the gradient split.


def test_gradient_parts_sum_to_the_full_gradient_and_match_hand_formulas() -> None:
    # Soft D and W (β = 10, T = 0.5) so that both parts are of comparable size.
    trapdoored = model(reference="half", sharpness=10.0, temperature=0.5)
    x, y = uniform_images(6), torch.tensor([0, 1, 2, 3, 0, 1])
    through_n1, through_n2 = gradient_parts(trapdoored, x, y)

    leaf = x.clone().requires_grad_(True)
    rows = torch.arange(len(x))
    full = torch.autograd.grad(-torch.log(trapdoored.probabilities(leaf)[rows, y]).sum(), leaf)[0]
    torch.testing.assert_close(through_n1 + through_n2, full)

    # With r = 0.5: ∇ρ_u = s_u / (a k); D = σ(β(ρ_max − θ)); W = softmax(ρ / T); C linear.
    config = trapdoored.config
    signs = trapdoored.signs.double()
    layer = trapdoored.victim[1]
    with torch.no_grad():
        rho = trapdoored.correlations(x)
        d = torch.sigmoid(config.sharpness * (rho.max(dim=1).values - config.threshold))
        w = torch.softmax(rho / config.temperature, dim=1)
        c = torch.softmax(layer(x.flatten(start_dim=1)), dim=1)
    assert float(d.min()) > 0.01 and float(d.max()) < 0.99, "the test needs a soft detector"
    scale = config.amplitude * config.mask_size
    grad_d = (config.sharpness * d * (1 - d))[:, None] * signs[rho.argmax(dim=1)] / scale
    grad_w = w[rows, y][:, None] * (signs[y] - w @ signs) / (config.temperature * scale)
    grad_c = c[rows, y][:, None] * (layer.weight[y] - c @ layer.weight).detach()
    m = d * w[rows, y] + (1 - d) * c[rows, y]
    n1 = -(w[rows, y][:, None] * grad_d + d[:, None] * grad_w) / m[:, None]
    n2 = -((1 - d)[:, None] * grad_c - c[rows, y][:, None] * grad_d) / m[:, None]
    torch.testing.assert_close(through_n1.flatten(start_dim=1), n1)
    torch.testing.assert_close(through_n2.flatten(start_dim=1), n2)


def test_on_clean_inputs_the_gradient_through_n1_is_orders_of_magnitude_below_n2() -> None:
    trapdoored = model()
    x, y = smooth_images(16), torch.arange(16) % CLASSES
    clean = trapdoor_magnitudes(trapdoored, x, y)
    assert set(clean) == set(MAGNITUDES)
    detector = trapdoored.detect(x).detach().numpy()
    np.testing.assert_allclose(clean["N1_l1"], detector, rtol=1e-12)  # ‖W‖₁ = 1
    np.testing.assert_allclose(clean["N2_l1"], 1 - detector, rtol=1e-12)
    assert (clean["M1_l1"] > 0).all(), "the trapdoor branch's gradient is measured, not zero"
    assert (clean["M1_l1"] < 1e-4 * clean["M2_l1"]).all()
    # The contrast: on trapdoor-embedded inputs the trapdoor branch dominates instead.
    embedded = trapdoor_magnitudes(trapdoored, trapdoored.embed_trapdoor(x, 1), y)
    assert (embedded["N1_l1"] > 1e4 * embedded["N2_l1"]).all()


def test_model_and_magnitudes_are_deterministic_given_the_seed() -> None:
    x, y = uniform_images(5), torch.tensor([0, 1, 2, 3, 0])
    first, second = model(seed=5, sharpness=10.0), model(seed=5, sharpness=10.0)
    torch.testing.assert_close(first(x), second(x), rtol=0, atol=0)
    a, b = trapdoor_magnitudes(first, x, y), trapdoor_magnitudes(second, x, y)
    for key in MAGNITUDES:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    other = trapdoor_magnitudes(model(seed=6, sharpness=10.0), x, y)
    assert not np.array_equal(other["N1_l1"], a["N1_l1"])


def test_config_rejects_bad_constants() -> None:
    with pytest.raises(ValueError, match="reference"):
        TrapdoorConfig(num_classes=2, input_shape=SHAPE, reference="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="amplitude"):
        TrapdoorConfig(num_classes=2, input_shape=SHAPE, amplitude=0.0)
    with pytest.raises(ValueError, match="at least 2 input values"):
        TrapdoorConfig(num_classes=2, input_shape=(1, 1, 2), mask_fraction=0.5)


# Fig. 6.


def test_plot_writes_png_and_pdf_with_tiny_zero_and_nan_values(tmp_path) -> None:
    generator = np.random.default_rng(0)
    values = {
        "N1_l1": 10 ** generator.normal(-9, 1, 50),
        "N2_l1": np.ones(50),  # 1 − D rounds to 1: drawn as a line
        "M1_l1": np.concatenate([10 ** generator.normal(-7, 1, 48), [0.0, np.nan]]),
        "M2_l1": 10 ** generator.normal(-2, 1, 50),
    }
    plot_trapdoor_strength(values, tmp_path / "f6.png", tmp_path / "f6.pdf")
    empty = {key: np.full(3, np.nan) for key in MAGNITUDES}
    plot_trapdoor_strength(empty, tmp_path / "empty.png", tmp_path / "empty.pdf")
    for stem in ("f6", "empty"):
        png, pdf = tmp_path / f"{stem}.png", tmp_path / f"{stem}.pdf"
        assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000


# The measurement job on a tiny store.


def test_measure_trapdoor_counterexample_writes_goals_and_magnitudes(tiny_store, tmp_path) -> None:
    from decoybench.data import read_manifest
    from decoybench.io import read_npz
    from decoybench.models import build_model
    from decoybench.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    shape = {"in_channels": 1, "image_size": 28, "num_classes": 10}
    victim = build_model("multitask_substitute_mnist", **shape)
    fingerprint = read_manifest(tiny_store)["fingerprint"]
    save_checkpoint(
        tmp_path / "victim.safetensors",
        victim,
        {"architecture": "multitask_substitute_mnist", **shape, "data_sha256": fingerprint},
    )

    def measure(out: str, **settings: object) -> dict[str, float]:
        return measure_trapdoor_counterexample(
            victim_path=tmp_path / "victim.safetensors", data_dir=tiny_store,
            out=tmp_path / out, device=torch.device("cpu"), n_samples=5, batch_size=3, seed=7,
            settings=settings,
        )  # fmt: skip

    summary = measure("a.npz", sharpness=100.0)
    arrays = read_npz(tmp_path / "a.npz")
    per_sample = {
        *MAGNITUDES,
        "label",
        "victim_prediction",
        "model_prediction",
        "detector_clean",
        "embedded_prediction",
        "embedded_detector",
    }
    assert set(arrays) == per_sample | set(MODEL_SETTINGS) | {"seed"}
    assert arrays["embedded_prediction"].shape == (5, 10)
    at_label = arrays["embedded_prediction"][np.arange(5), arrays["label"]]
    assert (at_label == -1).all()
    assert np.isnan(arrays["embedded_detector"][np.arange(5), arrays["label"]]).all()
    assert str(arrays["reference"]) == "local_mean" and int(arrays["seed"]) == 7
    # Real MNIST digits: the training goals hold, and the victim branch dominates ∇J.
    assert summary["clean_agreement"] == 1.0
    assert summary["trapdoor_success_rate"] == 1.0
    assert summary["max_detector_clean"] < 1e-3 and summary["min_detector_embedded"] > 0.999
    assert (arrays["M1_l1"] < arrays["M2_l1"]).all()
    assert summary["median_M1_l1"] == pytest.approx(float(np.median(arrays["M1_l1"])))
    assert all(isinstance(value, float) for value in summary.values())
    json.dumps(summary)  # plain floats for MLflow
    assert not math.isnan(summary["median_M1_over_M2"])
    measure("b.npz", sharpness=100.0)
    again = read_npz(tmp_path / "b.npz")
    for key in arrays:
        np.testing.assert_array_equal(again[key], arrays[key], err_msg=key)
    soft = measure("c.npz", sharpness=10.0)
    assert float(read_npz(tmp_path / "c.npz")["sharpness"]) == 10.0
    assert soft["median_N1_l1"] > summary["median_N1_l1"]
    with pytest.raises(ValueError, match="unknown trapdoor setting"):
        measure("d.npz", sharpnes=1.0)
