"""Building the attractor defense around a trained victim (the build_defense rule's work)."""

from __future__ import annotations

import io
import json

import pytest
import torch

from decoybench.defenses.attractor import AttractorDefense
from decoybench.defenses.build import build_attractor_defense
from decoybench.models.checkpoint import load_checkpoint
from decoybench.models.training import train_and_save


@pytest.fixture(scope="module")
def victim(tiny_store, tmp_path_factory):
    path = tmp_path_factory.mktemp("victim") / "victim.safetensors"
    train_and_save(
        model_name="victim",
        model_config={
            "architecture": "multitask_substitute_mnist",
            "epochs": 3,
            "batch_size": 32,
            "optimizer": "adam",
            "learning_rate": 0.001,
        },
        dataset="mnist5k",
        data_dir=tiny_store,
        out=path,
        seed=0,
        device=torch.device("cpu"),
        progress=io.StringIO(),
    )
    return path


SETTINGS = {"seed": 0, "intervals": [3, 128], "weights": [0.2, 0.8], "fprs": [0.1, 0.05]}


def test_build_records_the_defense_and_table_two(tiny_store, victim, tmp_path) -> None:
    out = tmp_path / "defense.json"
    measurements = build_attractor_defense(
        victim_path=victim, data_dir=tiny_store, settings=SETTINGS, out=out,
        device=torch.device("cpu"),
    )  # fmt: skip
    stored = json.loads(out.read_text())
    assert stored["clean"] == json.loads(json.dumps(measurements))
    victim_accuracy = measurements["clean_accuracy_victim"]["value"]
    defended_accuracy = measurements["clean_accuracy_defended"]["value"]
    assert victim_accuracy > 0.3
    assert abs(defended_accuracy - victim_accuracy) <= 0.05, "M must keep C's clean accuracy"
    points = measurements["operating_points"]
    assert [point["fpr_target"] for point in points] == [0.1, 0.05]
    for point in points:  # calibrated on the 30 validation images: never above the target
        assert point["fpr_validation"] <= point["fpr_target"]
    # The stored defense rebuilds around the same victim with the same detector.
    model, _ = load_checkpoint(victim)
    rebuilt = AttractorDefense.from_json(json.dumps(stored["defense"]), model)
    assert [p.fpr_target for p in rebuilt.operating_points] == [0.1, 0.05]


def test_bad_defense_settings_are_named(tiny_store, victim, tmp_path) -> None:
    with pytest.raises(ValueError, match="colour"):
        build_attractor_defense(
            victim_path=victim, data_dir=tiny_store, settings={"colour": "red"},
            out=tmp_path / "d.json", device=torch.device("cpu"),
        )  # fmt: skip
    assert not (tmp_path / "d.json").exists()
