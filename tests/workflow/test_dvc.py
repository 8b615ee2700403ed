"""DVC: the committed pin of data/ and the default local remote.

Every DVC call runs in a throwaway git+DVC project under tmp_path, with its own remote and
site cache, so the tests never touch the repository's data, cache or remote.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from vcs import dvc, git

from decoybench.config import load_yaml
from decoybench.data.store import SPLITS, load_split, prepare_dataset

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SMALL_SETTINGS = {"split": {"train": 0.8, "val": 0.1, "test": 0.1}, "max_images": 200}


def new_project(root: Path) -> Path:
    """A fresh git + DVC project whose config is the repository's own .dvc/config."""
    project = root / "project"
    project.mkdir()
    git(project, "init", "-q")
    dvc(project, "init", "--quiet")
    shutil.copyfile(REPOSITORY_ROOT / ".dvc" / "config", project / ".dvc" / "config")
    dvc(project, "config", "--list")  # the repository's config must parse
    return project


def read_pin(path: Path) -> dict[str, Any]:
    """The single `outs` entry of a .dvc file."""
    pin = yaml.safe_load(path.read_text())
    assert isinstance(pin, dict) and len(pin["outs"]) == 1, f"{path}: expected one out"
    return pin["outs"][0]


def test_push_then_pull_restores_a_verified_store(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    dvc(project, "remote", "add", "--default", "--force", "local", str(tmp_path / "storage"))
    store = project / "data" / "mnist5k"
    prepare_dataset("mnist5k", SMALL_SETTINGS, 0, store)
    before = {split: load_split(store, split) for split in SPLITS}

    dvc(project, "add", "--quiet", "data")
    dvc(project, "push", "--quiet")
    shutil.rmtree(project / "data")
    shutil.rmtree(project / ".dvc" / "cache")
    dvc(project, "pull", "--quiet")

    for split in SPLITS:
        after = load_split(store, split)  # verifies the SHA-256 against the manifest
        assert after.sha256 == before[split].sha256
        np.testing.assert_array_equal(after.images, before[split].images)
        np.testing.assert_array_equal(after.labels, before[split].labels)


def test_committed_pin_matches_a_fresh_default_store(tmp_path: Path) -> None:
    """data.dvc pins exactly what the workflow's data rule builds from config/config.yaml."""
    committed = read_pin(REPOSITORY_ROOT / "data.dvc")
    assert committed["path"] == "data"
    assert committed["md5"].endswith(".dir")

    config = load_yaml(REPOSITORY_ROOT / "config" / "config.yaml")
    project = new_project(tmp_path)
    prepare_dataset(
        "mnist5k", config["datasets"]["mnist5k"], config["seed"], project / "data" / "mnist5k"
    )
    dvc(project, "add", "--quiet", "data")
    fresh = read_pin(project / "data.dvc")

    assert fresh["nfiles"] == committed["nfiles"] == len(SPLITS) + 1
    assert fresh["size"] == committed["size"]
    assert fresh["md5"] == committed["md5"], (
        "data.dvc is stale: rebuild data/mnist5k from config/config.yaml, then `dvc add data` "
        "and `dvc push`"
    )


def test_default_remote_is_a_git_ignored_local_path() -> None:
    """A fresh clone can `dvc push` with no credentials, and never commits the pushed data."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(REPOSITORY_ROOT / ".dvc" / "config")
    default = config.get("core", "remote", fallback=None)
    assert default, ".dvc/config declares no default remote (core.remote)"
    url = config.get(f"'remote \"{default}\"'", "url", fallback=None)
    assert url, f"default remote {default!r} has no url"
    assert "://" not in url, f"default remote {default!r} is not a local path: {url}"
    storage = (REPOSITORY_ROOT / ".dvc" / url).resolve()  # DVC resolves it from .dvc/
    if storage.is_relative_to(REPOSITORY_ROOT):
        ignored = subprocess.run(
            # The trailing slash marks a folder, which a fresh clone does not have yet.
            ["git", "check-ignore", "--quiet", "--no-index", f"{storage}/"],
            cwd=REPOSITORY_ROOT,
        )
        assert ignored.returncode == 0, f"{storage} (the default remote) is not git-ignored"
