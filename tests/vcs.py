"""git and DVC for tests, run in throwaway projects (never the repository's cache or remote)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(command: list[str], cwd: Path) -> str:
    """Run `command` in `cwd` and return its stdout; a failure shows its stderr. DVC runs
    without analytics and with a site cache beside the project."""
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(Path(cwd).parent / "dvc-site-cache"),
    }
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert completed.returncode == 0, f"{' '.join(command)} failed:\n{completed.stderr}"
    return completed.stdout


def git(workdir: Path, *arguments: str) -> str:
    """`git` with a committer identity, so commits work on a machine without one."""
    return run(["git", "-c", "user.name=tests", "-c", "user.email=tests@localhost", *arguments],
               workdir)  # fmt: skip


def dvc(workdir: Path, *arguments: str) -> str:
    """`python -m dvc`, waiting for the repository lock instead of failing on it."""
    return run([sys.executable, "-m", "dvc", "--wait-for-lock", *arguments], workdir)
