"""Shared fixtures: a tiny canonical store built from the real mnist5k subset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
TINY_SETTINGS = {"split": {"train": 0.8, "val": 0.1, "test": 0.1}, "max_images": 300}


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """One torch thread for a module (tiny ops thrash with two on a busy 2-core box), then
    the previous count again. Use with `pytestmark = pytest.mark.usefixtures("single_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def repository_root() -> Path:
    return REPOSITORY_ROOT


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/mnist5k of 300 real MNIST images (240/30/30), built once per session."""
    from decoybench.data import prepare_dataset

    out = tmp_path_factory.mktemp("store") / "mnist5k"
    prepare_dataset("mnist5k", TINY_SETTINGS, seed=0, out_dir=out)
    return out


@pytest.fixture(scope="session")
def tiny_victim(tiny_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN trained for 3 epochs on the tiny store (about 60% test accuracy)."""
    import io

    import torch

    from decoybench.models.training import train_and_save

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
