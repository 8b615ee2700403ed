"""Safetensors checkpoints with JSON sidecars: round trip, integrity and atomicity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from decoybench.io import read_json, sha256_file, write_json
from decoybench.models import CheckpointError, build_model, load_checkpoint, read_sidecar
from decoybench.models import checkpoint as checkpoint_module
from decoybench.models.checkpoint import save_checkpoint


def metadata(architecture: str = "multitask_substitute_mnist", **extra: Any) -> dict[str, Any]:
    return {
        "architecture": architecture,
        "dataset": "mnist5k",
        "in_channels": 1,
        "image_size": 28,
        "num_classes": 10,
        "seed": 0,
        "config_hash": "c0ffee",
        "test_accuracy": 0.5,
        "data_sha256": "ab" * 32,
        **extra,
    }


def saved(tmp_path: Path, architecture: str = "multitask_substitute_mnist") -> tuple[Path, Any]:
    torch.manual_seed(0)
    model = build_model(architecture, in_channels=1, image_size=28, num_classes=10)
    path = tmp_path / "victim.safetensors"
    save_checkpoint(path, model, metadata(architecture))
    return path, model


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    path, model = saved(tmp_path)
    loaded, sidecar = load_checkpoint(path)
    assert not loaded.training
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))
    assert sidecar == read_sidecar(path)


def test_round_trip_keeps_batchnorm_buffers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("luring_svhn_cnn", in_channels=1, image_size=28, num_classes=10)
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 1, 28, 28))  # moves the running statistics away from 0/1
    path = tmp_path / "luring.safetensors"
    save_checkpoint(path, model, metadata("luring_svhn_cnn"))
    loaded, _ = load_checkpoint(path.with_suffix(".json"))
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_sidecar_fields(tmp_path: Path) -> None:
    path, _ = saved(tmp_path)
    sidecar = read_json(tmp_path / "victim.json")
    assert sidecar == {
        **metadata(),
        "weights_sha256": sha256_file(path),
        "format": "safetensors",
    }
    assert read_sidecar(path) == read_sidecar(tmp_path / "victim.json") == sidecar
    # A safetensors file starts with an 8-byte header length then a JSON header: no pickle.
    assert path.read_bytes()[8:9] == b"{"


def test_save_returns_the_sidecar(tmp_path: Path) -> None:
    model = build_model("deepsec_mnist_cnn", in_channels=1, image_size=28, num_classes=10)
    returned = save_checkpoint(tmp_path / "m.safetensors", model, metadata("deepsec_mnist_cnn"))
    assert returned == read_json(tmp_path / "m.json")


def test_flipped_byte_is_detected(tmp_path: Path) -> None:
    path, _ = saved(tmp_path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256 mismatch") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_expected_metadata_mismatch_names_the_key(tmp_path: Path) -> None:
    path, _ = saved(tmp_path)
    load_checkpoint(path, expected={"dataset": "mnist5k", "data_sha256": "ab" * 32})
    with pytest.raises(CheckpointError, match="dataset") as info:
        load_checkpoint(path, expected={"dataset": "cifar10"})
    assert "'cifar10'" in str(info.value) and "'mnist5k'" in str(info.value)
    with pytest.raises(CheckpointError, match="missing_key"):
        load_checkpoint(path, expected={"missing_key": 1})


def test_missing_metadata_key_is_rejected(tmp_path: Path) -> None:
    model = build_model("deepsec_mnist_cnn", in_channels=1, image_size=28, num_classes=10)
    incomplete = metadata("deepsec_mnist_cnn")
    del incomplete["image_size"]
    with pytest.raises(ValueError, match="image_size"):
        save_checkpoint(tmp_path / "m.safetensors", model, incomplete)
    assert list(tmp_path.iterdir()) == []


def test_missing_files_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nothing\.json"):
        load_checkpoint(tmp_path / "nothing.safetensors")
    path, _ = saved(tmp_path)
    path.unlink()
    with pytest.raises(CheckpointError, match=r"victim\.safetensors"):
        load_checkpoint(path)


def test_weights_not_fitting_the_architecture(tmp_path: Path) -> None:
    path, _ = saved(tmp_path)  # multitask_substitute_mnist: no dropout layer in the trunk
    sidecar = read_json(path.with_suffix(".json"))
    sidecar["architecture"] = "deepsec_mnist_cnn"  # same shapes, different layer indices
    write_json(path.with_suffix(".json"), sidecar)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(path)


def test_killed_write_leaves_no_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def dying_save_file(tensors: dict[str, torch.Tensor], filename: str) -> None:
        Path(filename).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(checkpoint_module, "save_file", dying_save_file)
    model = build_model("deepsec_mnist_cnn", in_channels=1, image_size=28, num_classes=10)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "m.safetensors", model, metadata("deepsec_mnist_cnn"))
    assert not (tmp_path / "m.safetensors").exists()
    assert not (tmp_path / "m.json").exists()
    assert list(tmp_path.iterdir()) == []


def test_path_stem_with_dots(tmp_path: Path) -> None:
    model = build_model("deepsec_mnist_cnn", in_channels=1, image_size=28, num_classes=10)
    save_checkpoint(tmp_path / "lr0.01", model, metadata("deepsec_mnist_cnn"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr0.01.json", "lr0.01.safetensors"]
    load_checkpoint(tmp_path / "lr0.01.safetensors")
