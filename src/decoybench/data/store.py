"""The canonical dataset store: data/{dataset}/{split}.npz plus a checksummed manifest.

Each split is an uncompressed, pickle-free .npz holding `images` (uint8, N×C×H×W) and
`labels` (int64). `manifest.json` records the SHA-256 of every split file; loading
verifies it, so a corrupted or replaced file is refused instead of silently used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from decoybench.config import config_hash
from decoybench.data.sources import RawDataset, load_source
from decoybench.io import read_json, read_npz, sha256_file, write_json, write_npz

SPLITS = ("train", "val", "test")
MANIFEST = "manifest.json"


class DataIntegrityError(ValueError):
    """A dataset file is missing, corrupted, or does not match its manifest."""


@dataclass(frozen=True)
class Split:
    """One split of a canonical dataset."""

    images: np.ndarray  # uint8, N×C×H×W
    labels: np.ndarray  # int64, N
    sha256: str

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape(self) -> tuple[int, int, int]:
        channels, height, width = self.images.shape[1:]
        return int(channels), int(height), int(width)


def _stratified_take(
    images: np.ndarray, labels: np.ndarray, size: int | float, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Seeded stratified split: (`size` part, remainder)."""
    # Imported here: scikit-learn costs ~0.8 s, and every job imports this module.
    from sklearn.model_selection import train_test_split

    taken_x, rest_x, taken_y, rest_y = train_test_split(
        images, labels, train_size=size, stratify=labels, random_state=seed, shuffle=True
    )
    return (taken_x, taken_y), (rest_x, rest_y)


def split_dataset(
    raw: RawDataset, fractions: dict[str, float], seed: int, max_images: int | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fixed, stratified train/val/test split by seed.

    Without an official test set, the (shuffled, optionally capped) pool is split by the
    three fractions. With one (torchvision datasets), the official test set is the test
    split and the official training set is split into train/val in the ratio train:val;
    `max_images` then caps each official part in proportion.
    """
    images, labels = raw.images, raw.labels
    if raw.official_test is None:
        if max_images is not None and max_images < len(labels):
            (images, labels), _ = _stratified_take(images, labels, max_images, seed)
        total = len(labels)
        n_test = round(total * fractions["test"])
        n_val = round(total * fractions["val"])
        rest, test = _stratified_take(images, labels, total - n_test, seed)
        train, val = _stratified_take(*rest, len(rest[1]) - n_val, seed + 1)
        return {"train": train, "val": val, "test": test}
    test_images, test_labels = raw.official_test
    if max_images is not None:
        test_share = round(max_images * fractions["test"])
        if test_share < len(test_labels):
            (test_images, test_labels), _ = _stratified_take(
                test_images, test_labels, test_share, seed
            )
        train_share = max_images - len(test_labels)
        if train_share < len(labels):
            (images, labels), _ = _stratified_take(images, labels, train_share, seed)
    val_ratio = fractions["val"] / (fractions["train"] + fractions["val"])
    n_val = round(len(labels) * val_ratio)
    train, val = _stratified_take(images, labels, len(labels) - n_val, seed + 1)
    return {"train": train, "val": val, "test": (test_images, test_labels)}


def prepare_dataset(
    name: str,
    settings: dict[str, Any],
    seed: int,
    out_dir: str | Path,
    raw_root: str | Path = "data/raw",
) -> dict[str, Any]:
    """Build data/{name}/{split}.npz and manifest.json from the dataset's source.

    Every file is written atomically; the manifest, written last, is what marks the store
    complete. Returns the manifest.
    """
    out_dir = Path(out_dir)
    raw = load_source(name, raw_root)
    parts = split_dataset(raw, settings["split"], seed, settings.get("max_images"))
    manifest: dict[str, Any] = {
        "dataset": name,
        "seed": seed,
        "settings_hash": config_hash(settings),
        "shape": list(raw.images.shape[1:]),
        "num_classes": int(raw.labels.max()) + 1,
        "splits": {},
    }
    for split in SPLITS:
        images, labels = parts[split]
        path = out_dir / f"{split}.npz"
        write_npz(path, {"images": np.ascontiguousarray(images), "labels": labels})
        manifest["splits"][split] = {
            "file": path.name,
            "size": len(labels),
            "sha256": sha256_file(path),
            "class_counts": np.bincount(labels, minlength=manifest["num_classes"]).tolist(),
        }
    manifest["fingerprint"] = dataset_fingerprint(manifest)
    write_json(out_dir / MANIFEST, manifest)
    return manifest


def dataset_fingerprint(manifest: dict[str, Any]) -> str:
    """One SHA-256 over the split checksums: names the exact data a model was trained on."""
    joined = "|".join(f"{split}:{manifest['splits'][split]['sha256']}" for split in SPLITS)
    return hashlib.sha256(joined.encode()).hexdigest()


def read_manifest(data_dir: str | Path) -> dict[str, Any]:
    path = Path(data_dir) / MANIFEST
    if not path.exists():
        raise DataIntegrityError(
            f"{path} is missing: the dataset store is incomplete; re-run the prepare_dataset rule"
        )
    return read_json(path)


def load_split(data_dir: str | Path, split: str, verify: bool = True) -> Split:
    """Load one split, refusing it if its SHA-256 differs from the manifest's."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    expected = manifest["splits"][split]["sha256"]
    path = data_dir / f"{split}.npz"
    if not path.exists():
        raise DataIntegrityError(
            f"{path} is missing; re-run the prepare_dataset rule (or dvc pull)"
        )
    if verify:
        found = sha256_file(path)
        if found != expected:
            raise DataIntegrityError(
                f"{path}: SHA-256 mismatch (manifest {expected[:12]}…, file {found[:12]}…): "
                "the file is corrupted or was replaced; restore it with `dvc pull` or delete "
                f"{data_dir} and re-run the prepare_dataset rule"
            )
    arrays = read_npz(path)
    images, labels = arrays["images"], arrays["labels"]
    if images.dtype != np.uint8 or images.ndim != 4 or labels.dtype != np.int64:
        raise DataIntegrityError(
            f"{path}: expected uint8 images N×C×H×W and int64 labels, "
            f"found {images.dtype} {images.shape} and {labels.dtype}"
        )
    return Split(images=images, labels=labels, sha256=expected)
