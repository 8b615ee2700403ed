"""Data sources and the canonical, checksummed store (on the real mnist5k subset)."""

from __future__ import annotations

import numpy as np
import pytest

from decoybench.data import (
    DataIntegrityError,
    DatasetUnavailable,
    load_source,
    load_split,
    prepare_dataset,
    read_manifest,
)
from decoybench.data.sources import RawDataset
from decoybench.data.store import split_dataset
from decoybench.io import write_json

SPLIT = {"train": 0.8, "val": 0.1, "test": 0.1}


def test_mnist5k_is_the_real_balanced_subset() -> None:
    raw = load_source("mnist5k", "unused")
    assert raw.images.shape == (5000, 1, 28, 28)
    assert raw.images.dtype == np.uint8 and raw.labels.dtype == np.int64
    assert np.bincount(raw.labels).tolist() == [500] * 10
    assert raw.images.max() == 255 and raw.images.min() == 0
    assert raw.official_test is None


def test_tiny_store_layout_and_stratified_split(tiny_store) -> None:
    manifest = read_manifest(tiny_store)
    assert {split: entry["size"] for split, entry in manifest["splits"].items()} == {
        "train": 240,
        "val": 30,
        "test": 30,
    }
    assert manifest["splits"]["test"]["class_counts"] == [3] * 10
    assert manifest["shape"] == [1, 28, 28] and manifest["num_classes"] == 10
    splits = [load_split(tiny_store, name) for name in ("train", "val", "test")]
    assert all(s.images.dtype == np.uint8 and s.images.shape[1:] == (1, 28, 28) for s in splits)
    flat = np.concatenate([s.images.reshape(len(s), -1) for s in splits])
    assert len(np.unique(flat, axis=0)) == len(flat), "splits overlap"


def test_store_is_deterministic_by_seed(tmp_path) -> None:
    settings = {"split": SPLIT, "max_images": 200}
    first = prepare_dataset("mnist5k", settings, seed=3, out_dir=tmp_path / "a")
    again = prepare_dataset("mnist5k", settings, seed=3, out_dir=tmp_path / "b")
    other = prepare_dataset("mnist5k", settings, seed=4, out_dir=tmp_path / "c")
    assert first["fingerprint"] == again["fingerprint"]
    assert first["fingerprint"] != other["fingerprint"]


def test_corrupted_split_is_refused(tiny_store, tmp_path) -> None:
    copy = tmp_path / "mnist5k"
    copy.mkdir()
    for path in tiny_store.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    data = bytearray((copy / "test.npz").read_bytes())
    data[-100] ^= 0xFF
    (copy / "test.npz").write_bytes(bytes(data))
    with pytest.raises(DataIntegrityError, match=r"test.npz: SHA-256 mismatch .*dvc pull"):
        load_split(copy, "test")
    load_split(copy, "train")  # untouched splits still load


def test_missing_manifest_and_wrong_dtype_are_named(tiny_store, tmp_path) -> None:
    with pytest.raises(DataIntegrityError, match=r"manifest\.json is missing"):
        load_split(tmp_path, "train")
    manifest = read_manifest(tiny_store)
    from decoybench.io import sha256_file, write_npz

    write_npz(tmp_path / "train.npz", {"images": np.zeros((2, 28, 28)), "labels": np.zeros(2)})
    manifest["splits"]["train"]["sha256"] = sha256_file(tmp_path / "train.npz")
    write_json(tmp_path / "manifest.json", manifest)
    with pytest.raises(DataIntegrityError, match="expected uint8 images"):
        load_split(tmp_path, "train")


def test_official_test_set_is_kept_as_the_test_split() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (100, 3, 4, 4), dtype=np.uint8)
    labels = np.repeat(np.arange(10), 10).astype(np.int64)
    test = (images[:20], labels[:20].copy())
    parts = split_dataset(RawDataset(images, labels, official_test=test), SPLIT, seed=0)
    assert (
        len(parts["test"][1]) == 20 and len(parts["val"][1]) == 11 and len(parts["train"][1]) == 89
    )
    np.testing.assert_array_equal(parts["test"][0], test[0])


def test_torchvision_dataset_offline_fails_fast_with_placement_hint(monkeypatch, tmp_path) -> None:
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(DatasetUnavailable) as raised:
        load_source("mnist", tmp_path)
    message = str(raised.value)
    assert "MNIST/raw/" in message and str(tmp_path / "mnist") in message and "mnist5k" in message


def test_unknown_dataset_lists_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; allowed: mnist5k, mnist"):
        load_source("imagenet", "unused")
