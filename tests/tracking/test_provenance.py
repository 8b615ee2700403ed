"""Tests of decoybench.tracking.provenance: the git commit of the code."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from decoybench import tracking


def test_git_commit_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert tracking.git_commit(tmp_path) == "unknown"
    assert tracking.git_commit(tmp_path / "does-not-exist") == "unknown"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_inside_a_repository(tmp_path: Path) -> None:
    def git(*arguments: str) -> None:
        subprocess.run(["git", *arguments], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "file.txt").write_text("1")
    git("add", "file.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    commit = tracking.git_commit(tmp_path)
    assert len(commit) == 40
    (tmp_path / "file.txt").write_text("2")
    assert tracking.git_commit(tmp_path) == f"{commit}-dirty"
