"""Luring defense build (Bernhard et al. 2021): train P (Algorithm 1 and the comparison
objectives), save and reload M∘P, and Table 8's accuracy/agreement measurements."""

from __future__ import annotations

import dataclasses
import io
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from decoybench.data import load_split
from decoybench.metrics import accuracy
from decoybench.models.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_sidecar,
    save_checkpoint,
    sidecar_path,
)
from decoybench.models.training import predict
from decoybench.papers.luring import build as luring_build
from decoybench.papers.luring.build import build_luring_defense
from decoybench.papers.luring.checkpoint import TARGET_PREFIX, load_augmented, save_augmented
from decoybench.papers.luring.defense.schedules import APPROACHES, paper_recipe
from decoybench.runtime import to_float

SETTINGS = {
    "component": "mnist",
    "epochs": 2,
    "batch_size": 64,
    "learning_rates": [1e-3, 5e-4],
    "lr_milestones": [1],
    "optimizer": "adam",
    "luring_coefficient": 1.0,
    "dropout": 0.25,
}


def _build(store: Path, victim: Path, out: Path, approach: str, settings: dict[str, Any]):
    return build_luring_defense(
        target_path=victim,
        data_dir=store,
        approach=approach,
        settings=settings,
        out=out,
        device=torch.device("cpu"),
        seed=0,
        progress=io.StringIO(),
    )


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def built(tiny_store, tiny_victim, tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Each approach built once; `model` is the trained M∘P that the build saved (spied)."""
    folder = tmp_path_factory.mktemp("luring")
    results: dict[str, dict[str, Any]] = {}
    for approach in APPROACHES:
        saved: list[Any] = []

        def spy(path, augmented, metadata, saved=saved):
            saved.append(augmented)
            return save_augmented(path, augmented, metadata)

        out = folder / f"{approach}.safetensors"
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(luring_build, "save_augmented", spy)
            measurements = _build(tiny_store, tiny_victim, out, approach, SETTINGS)
        assert len(saved) == 1
        results[approach] = {"out": out, "measurements": measurements, "model": saved[0]}
    return results


@pytest.fixture(scope="module")
def test_images(tiny_store) -> torch.Tensor:
    return to_float(load_split(tiny_store, "test").images[:8])


@pytest.mark.parametrize("approach", APPROACHES)
def test_reload_gives_bit_equal_logits(built, tiny_victim, test_images, approach) -> None:
    entry = built[approach]
    loaded, sidecar = load_augmented(entry["out"], tiny_victim)
    assert not loaded.training and not loaded.target.training
    assert not any(parameter.requires_grad for parameter in loaded.target.parameters())
    with torch.no_grad():
        expected = entry["model"].eval()(test_images)
        found = loaded(test_images)
    assert torch.equal(found, expected)
    assert sidecar["approach"] == approach
    assert sidecar["component"] == "mnist"
    assert (sidecar["in_channels"], sidecar["image_size"], sidecar["dropout"]) == (1, 28, 0.25)
    victim_sidecar = read_sidecar(tiny_victim)
    assert sidecar["target_weights_sha256"] == victim_sidecar["weights_sha256"]
    assert sidecar["target_name"] == victim_sidecar["name"] == "victim"
    assert sidecar["data_sha256"] == victim_sidecar["data_sha256"]
    assert sidecar["recipe"]["learning_rates"] == [1e-3, 5e-4]
    assert [record["epoch"] for record in sidecar["history"]] == [1, 2]


@pytest.mark.parametrize("approach", APPROACHES)
def test_only_stack_stores_its_trained_copy_of_the_target(built, tiny_victim, approach) -> None:
    stored = load_file(str(built[approach]["out"]))
    copy = {k[len(TARGET_PREFIX) :]: v for k, v in stored.items() if k.startswith(TARGET_PREFIX)}
    victim, _ = load_checkpoint(tiny_victim)
    original = victim.state_dict()
    loaded, _ = load_augmented(built[approach]["out"], tiny_victim)
    if approach == "stack":
        assert set(copy) == set(original)
        assert any(not torch.equal(copy[key], original[key]) for key in original)  # trained
        for key, value in loaded.target.state_dict().items():
            assert torch.equal(value, copy[key])
    else:
        assert copy == {}
        for key, value in loaded.target.state_dict().items():
            assert torch.equal(value, original[key])


@pytest.mark.parametrize("approach", APPROACHES)
def test_table_eight_numbers_are_consistent(built, tiny_store, tiny_victim, approach) -> None:
    result = built[approach]["measurements"]
    augmented = result["test_accuracy_augmented"]["value"]
    target = result["test_accuracy_target"]["value"]
    both = result["agreement_both_correct"]["value"]
    same = result["agreement_same_label"]["value"]
    assert both <= min(augmented, target)
    assert same >= both
    assert result["test_accuracy_target"]["total"] == 30
    assert target == pytest.approx(read_sidecar(tiny_victim)["test_accuracy"])
    test = load_split(tiny_store, "test")
    loaded, sidecar = load_augmented(built[approach]["out"], tiny_victim)
    recomputed = accuracy(predict(loaded, to_float(test.images)), test.labels).as_dict()
    assert recomputed == result["test_accuracy_augmented"]
    assert sidecar["table8"]["agreement_both_correct"] == result["agreement_both_correct"]
    assert result["seconds"] > 0 and len(result["history"]) == 2


def test_tampered_weights_are_refused(built, tiny_victim, tmp_path) -> None:
    source = built["luring"]["out"]
    copy = tmp_path / "tampered.safetensors"
    shutil.copy(source, copy)
    shutil.copy(sidecar_path(source), sidecar_path(copy))
    load_augmented(copy, tiny_victim)  # the untouched copy loads
    data = bytearray(copy.read_bytes())
    data[-1] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        load_augmented(copy, tiny_victim)


def test_a_different_target_is_refused(built, tiny_victim, tmp_path) -> None:
    victim, sidecar = load_checkpoint(tiny_victim)
    with torch.no_grad():
        next(victim.parameters()).add_(1e-3)
    other = tmp_path / "other.safetensors"
    metadata = {k: v for k, v in sidecar.items() if k not in ("weights_sha256", "format")}
    save_checkpoint(other, victim, metadata)
    out = built["auto"]["out"]
    with pytest.raises(CheckpointError, match="trained in front of") as error:
        load_augmented(out, other)
    assert str(out) in str(error.value) and str(other) in str(error.value)


def test_expected_values_are_checked(built, tiny_victim) -> None:
    with pytest.raises(CheckpointError, match="approach mismatch"):
        load_augmented(built["luring"]["out"], tiny_victim, expected={"approach": "auto"})
    _, sidecar = load_augmented(built["luring"]["out"], tiny_victim, expected={"seed": 0})
    assert sidecar["seed"] == 0


def test_unknown_settings_are_named_and_nothing_is_written(
    tiny_store, tiny_victim, tmp_path
) -> None:
    out = tmp_path / "p.safetensors"
    with pytest.raises(ValueError, match="bogus, learning_rate") as error:
        _build(tiny_store, tiny_victim, out, "luring", {**SETTINGS, "bogus": 1, "learning_rate": 1})
    assert "epochs" not in str(error.value).split(";")[0]
    assert list(tmp_path.iterdir()) == []


def test_failed_training_writes_no_file(tiny_store, tiny_victim, tmp_path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(luring_build, "train_component", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        _build(tiny_store, tiny_victim, tmp_path / "p.safetensors", "luring", SETTINGS)
    assert list(tmp_path.iterdir()) == []


def test_missing_recipe_keys_come_from_the_paper(tiny_store, tiny_victim, tmp_path) -> None:
    out = tmp_path / "stack.safetensors"
    settings = {"component": "mnist", "paper_dataset": "mnist", "epochs": 1}
    _build(tiny_store, tiny_victim, out, "stack", settings)
    recorded = read_sidecar(out)
    paper = dataclasses.replace(paper_recipe("mnist", "stack"), epochs=1)
    assert recorded["recipe"] == {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dataclasses.asdict(paper).items()
    }
    assert recorded["recipe"]["batch_size"] == 28  # Appendix B's MNIST Stack schedule


def test_the_build_is_seeded(built, tiny_store, tiny_victim, tmp_path) -> None:
    again = tmp_path / "again.safetensors"
    _build(tiny_store, tiny_victim, again, "luring", SETTINGS)  # dropout masks included
    first = read_sidecar(built["luring"]["out"])
    assert read_sidecar(again)["weights_sha256"] == first["weights_sha256"]
    assert first["training_seed"] != read_sidecar(built["auto"]["out"])["training_seed"]


def test_cifar10_auto_needs_a_full_recipe(tiny_store, tiny_victim, tmp_path) -> None:
    with pytest.raises(ValueError, match="no 'auto' schedule"):
        luring_build.component_recipe({"component": "cifar10", "epochs": 1}, "auto")
    full = {key: value for key, value in SETTINGS.items() if key != "component"}
    recipe = luring_build.component_recipe({"component": "cifar10", **full}, "auto")
    assert (recipe.epochs, recipe.learning_rates) == (2, (1e-3, 5e-4))


def test_stack_warm_start_fits_p_as_an_autoencoder_first(
    tiny_store, tiny_victim, tmp_path, monkeypatch
) -> None:
    calls: list[tuple[str, int]] = []
    real = luring_build.train_component

    def recording(approach, component, target, images, *, recipe, **kwargs):
        calls.append((approach, recipe.epochs))
        return real(approach, component, target, images, recipe=recipe, **kwargs)

    monkeypatch.setattr(luring_build, "train_component", recording)
    out = tmp_path / "stack.safetensors"
    _build(tiny_store, tiny_victim, out, "stack", {**SETTINGS, "warm_start_epochs": 1})
    assert calls == [("auto", 1), ("stack", SETTINGS["epochs"])]
    assert read_sidecar(out)["warm_start_epochs"] == 1
    with pytest.raises(ValueError, match="stack approach only"):
        _build(tiny_store, tiny_victim, tmp_path / "l.safetensors", "luring",
               {**SETTINGS, "warm_start_epochs": 1})  # fmt: skip
