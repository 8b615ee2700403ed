"""Provenance of a run: the git commit of the code that produced it."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_commit(cwd: str | Path = ".") -> str:
    """`git rev-parse HEAD` (+ '-dirty' if `git status --porcelain` is non-empty), or 'unknown'."""

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown"
    return f"{commit}-dirty" if dirty else commit
