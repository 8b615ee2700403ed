"""Training: deterministic by seed, learns, and writes a verified checkpoint."""

from __future__ import annotations

import io
import json

import pytest
import torch

from decoybench.models.checkpoint import load_checkpoint
from decoybench.models.training import TrainingRecipe, train_and_save

RECIPE = {
    "architecture": "multitask_substitute_mnist",
    "epochs": 2,
    "batch_size": 32,
    "optimizer": "adam",
    "learning_rate": 0.001,
}


def _train(tiny_store, out, seed=0, name="victim"):
    return train_and_save(
        model_name=name,
        model_config=RECIPE,
        dataset="mnist5k",
        data_dir=tiny_store,
        out=out,
        seed=seed,
        device=torch.device("cpu"),
        progress=io.StringIO(),
    )


def test_same_seed_same_weights_and_sidecar(tiny_store, tmp_path) -> None:
    first = _train(tiny_store, tmp_path / "a.safetensors")
    again = _train(tiny_store, tmp_path / "b.safetensors")
    assert first["weights_sha256"] == again["weights_sha256"]
    assert first["history"] == again["history"]
    other = _train(tiny_store, tmp_path / "c.safetensors", name="substitute")
    assert other["weights_sha256"] != first["weights_sha256"], "model seeds must differ by name"


def test_training_learns_and_records_what_the_sidecar_promises(tiny_store, tmp_path) -> None:
    sidecar = _train(tiny_store, tmp_path / "m.safetensors")
    assert sidecar["test_accuracy"] > 0.3, "two epochs on 240 MNIST images: far above chance (0.1)"
    assert sidecar["history"][-1]["train_loss"] < sidecar["history"][0]["train_loss"]
    on_disk = json.loads((tmp_path / "m.json").read_text())
    for key in ("architecture", "dataset", "seed", "config_hash", "test_accuracy", "data_sha256"):
        assert key in on_disk
    manifest = json.loads((tiny_store / "manifest.json").read_text())
    assert on_disk["data_sha256"] == manifest["fingerprint"]
    model, _ = load_checkpoint(tmp_path / "m.safetensors", expected={"dataset": "mnist5k"})
    assert not model.training


def test_recipe_rejects_an_unknown_optimizer() -> None:
    recipe = TrainingRecipe.from_config({**RECIPE, "optimizer": "lbfgs"})
    with pytest.raises(ValueError, match="optimizer 'lbfgs' is not allowed; allowed values"):
        recipe.make_optimizer([torch.nn.Parameter(torch.zeros(1))])


def test_recipe_learning_rate_schedule() -> None:
    recipe = TrainingRecipe.from_config({**RECIPE, "lr_milestones": [1], "lr_gamma": 0.5})
    assert recipe.lr_milestones == (1,) and recipe.lr_gamma == 0.5
