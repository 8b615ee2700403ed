"""Luring Appendix D.3 (Eq. 5) and Fig. 3 (right) measurements
(decoybench.papers.luring.analysis) on the tiny store, with two briefly trained P."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from decoybench.data import load_split
from decoybench.io import read_npz
from decoybench.models.checkpoint import load_checkpoint
from decoybench.models.training import predict
from decoybench.papers.luring import analysis as luring_analysis
from decoybench.papers.luring.analysis import analyze_luring
from decoybench.papers.luring.build import build_luring_defense
from decoybench.papers.luring.checkpoint import load_augmented, save_augmented
from decoybench.papers.luring.logits_analysis import logit_gradients, opposite_effect_counts
from decoybench.runtime import to_float

pytestmark = pytest.mark.usefixtures("single_thread")

SETTINGS = {
    "component": "mnist",
    "epochs": 10,
    "batch_size": 32,
    "learning_rates": [1e-3],
    "lr_milestones": [],
    "optimizer": "adam",
}
DEFENSES = {"luring_ce": "cross_entropy", "luring": "luring"}


@pytest.fixture(scope="module")
def defenses(tiny_store, tiny_victim, tmp_path_factory) -> dict[str, Path]:
    """Defense name -> the .json sidecar of its P. "luring_ce" is P trained with C.E for ten
    epochs at Adam's 1e-3 on 240 images (at 3e-3 for four epochs P barely learned on some
    CPUs: 4 of the 30 test images agreed with M, fewer than the 6 sampled; here 11 are right
    for both); "luring" is that P with its weights perturbed by 1% noise, saved under the
    luring approach, so that both agree with M on most of the same images but differ in
    their gradients."""
    folder = tmp_path_factory.mktemp("luring_analysis")
    trained = folder / "luring_ce.safetensors"
    build_luring_defense(
        target_path=tiny_victim,
        data_dir=tiny_store,
        approach="cross_entropy",
        settings=SETTINGS,
        out=trained,
        device=torch.device("cpu"),
        seed=0,
        progress=io.StringIO(),
    )
    augmented, sidecar = load_augmented(trained, tiny_victim)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in augmented.component.parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            parameter.mul_(1 + 0.01 * noise)
    metadata = {key: sidecar[key] for key in sidecar if key not in ("weights_sha256", "format")}
    perturbed = folder / "luring.safetensors"
    save_augmented(perturbed, augmented, {**metadata, "approach": "luring"})
    return {"luring_ce": trained.with_suffix(".json"), "luring": perturbed.with_suffix(".json")}


def _analyze(tiny_store, tiny_victim, defenses, out: Path, **options: Any) -> dict[str, float]:
    return analyze_luring(
        victim_path=tiny_victim,
        defense_paths=defenses,
        data_dir=tiny_store,
        out=out,
        device=torch.device("cpu"),
        **options,
    )


@pytest.fixture(scope="module")
def analysis(tiny_store, tiny_victim, defenses, tmp_path_factory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("analysis") / "analysis.npz"
    summary = _analyze(
        tiny_store, tiny_victim, defenses, out, n_samples=6, saliency_samples=3, batch_size=4
    )
    return {"summary": summary, "arrays": read_npz(out)}


def test_npz_has_the_documented_keys_and_shapes(analysis, defenses) -> None:
    arrays = analysis["arrays"]
    names = list(defenses)
    expected = {
        "index",
        "defenses",
        "approaches",
        "saliency_target",
        "saliency_images",
        "saliency_index",
        "n_candidates",
        *(f"omega__{name}" for name in names),
        *(f"saliency__{name}" for name in names),
    }
    assert set(arrays) == expected
    n = len(arrays["index"])
    assert arrays["index"].dtype == np.int64
    assert n == 6, "the fixture's models should agree on at least 6 of the 30 test images"
    assert list(arrays["defenses"]) == names
    assert list(arrays["approaches"]) == [DEFENSES[name] for name in names]
    for name in names:
        assert arrays[f"omega__{name}"].shape == (n, 10)
        assert arrays[f"omega__{name}"].dtype == np.int64
        assert arrays[f"saliency__{name}"].shape == (min(3, n), 1, 28, 28)
        assert arrays[f"saliency__{name}"].dtype == np.float32
    for key in ("saliency_target", "saliency_images"):
        assert arrays[key].shape == (min(3, n), 1, 28, 28)
        assert arrays[key].dtype == np.float32
    np.testing.assert_array_equal(arrays["saliency_index"], arrays["index"][:3])
    assert arrays["saliency_index"].dtype == np.int64
    # n_samples were found: the selection ends at the last selected image.
    assert arrays["n_candidates"].shape == () and arrays["n_candidates"] == arrays["index"][-1] + 1
    summary = analysis["summary"]
    assert summary["n_examples"] == n
    for name in names:
        assert summary[f"mean_omega_{name}"] == pytest.approx(arrays[f"omega__{name}"].mean())


def test_selected_images_are_the_first_correct_on_every_model(
    analysis, tiny_store, tiny_victim, defenses
) -> None:
    arrays = analysis["arrays"]
    test = load_split(tiny_store, "test")
    candidates = int(arrays["n_candidates"])
    x, y = to_float(test.images[:candidates]), torch.as_tensor(test.labels[:candidates])
    victim, _ = load_checkpoint(tiny_victim)
    correct = predict(victim, x) == y
    for path in defenses.values():
        augmented, _ = load_augmented(path, tiny_victim)
        correct &= predict(augmented, x) == y
    np.testing.assert_array_equal(arrays["index"], np.flatnonzero(correct.numpy()))
    np.testing.assert_array_equal(
        arrays["saliency_images"], to_float(test.images[arrays["saliency_index"]]).numpy()
    )


def test_omega_and_saliency_match_a_direct_computation(
    analysis, tiny_store, tiny_victim, defenses
) -> None:
    """Row 0 against Eq. 5 and the two gradients computed directly, on the same batch of
    selected images as the analysis (batch_size 4), so that the floats agree exactly."""
    arrays = analysis["arrays"]
    test = load_split(tiny_store, "test")
    x = to_float(test.images[arrays["index"][:4]])
    y = torch.as_tensor(test.labels[arrays["index"][:4]])
    victim, _ = load_checkpoint(tiny_victim)
    grad_target = logit_gradients(victim, x)
    for name, path in defenses.items():
        augmented, _ = load_augmented(path, tiny_victim)
        expected = opposite_effect_counts(grad_target, logit_gradients(augmented, x))
        np.testing.assert_array_equal(arrays[f"omega__{name}"][0], expected[0])
        assert expected[0].sum() > 0  # the two gradients do disagree somewhere
        # ∇x Σ P(x): the vector-Jacobian product of P with ones.
        inputs = x[:3].clone().requires_grad_(True)
        augmented.component(inputs).sum().backward()
        np.testing.assert_allclose(
            arrays[f"saliency__{name}"][0], inputs.grad[0], rtol=1e-4, atol=1e-7
        )
    inputs = x[:3].clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(victim(inputs), y[:3], reduction="sum").backward()
    np.testing.assert_allclose(arrays["saliency_target"][0], inputs.grad[0], rtol=1e-4, atol=1e-7)
    assert not np.array_equal(arrays["saliency__luring"], arrays["saliency__luring_ce"])


def test_no_image_correct_on_every_model_is_a_clear_error(
    tiny_store, tiny_victim, defenses, tmp_path, monkeypatch
) -> None:
    def wrong(model, images, batch_size=500):
        return torch.full((len(images),), -1, dtype=torch.int64)

    monkeypatch.setattr(luring_analysis, "predict", wrong)
    out = tmp_path / "analysis.npz"
    with pytest.raises(ValueError, match="luring_ce, luring"):
        _analyze(tiny_store, tiny_victim, defenses, out, n_samples=4)
    assert not out.exists()


def test_rejects_bad_arguments(tiny_store, tiny_victim, defenses, tmp_path) -> None:
    out = tmp_path / "analysis.npz"
    with pytest.raises(ValueError, match="at least one"):
        _analyze(tiny_store, tiny_victim, {}, out)
    with pytest.raises(ValueError, match="n_samples"):
        _analyze(tiny_store, tiny_victim, defenses, out, n_samples=0)


def test_all_images_and_no_saliency(analysis, tiny_store, tiny_victim, defenses, tmp_path) -> None:
    out = tmp_path / "all.npz"
    summary = _analyze(
        tiny_store, tiny_victim, defenses, out, n_samples=None, saliency_samples=0, batch_size=7
    )
    arrays, first = read_npz(out), analysis["arrays"]
    assert int(arrays["n_candidates"]) == len(load_split(tiny_store, "test"))
    assert summary["n_examples"] == len(arrays["index"]) >= len(first["index"])
    # The selection is a prefix of the full one, whatever the batch size.
    np.testing.assert_array_equal(arrays["index"][: len(first["index"])], first["index"])
    for name in defenses:
        np.testing.assert_array_equal(
            arrays[f"omega__{name}"][: len(first["index"])], first[f"omega__{name}"]
        )
        assert arrays[f"saliency__{name}"].shape == (0, 1, 28, 28)
    assert arrays["saliency_target"].shape == arrays["saliency_images"].shape == (0, 1, 28, 28)
    assert arrays["saliency_index"].shape == (0,)
