"""Helpers shared by the tests of decoybench.tracking: listing runs, worker processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

EXPERIMENT = "decoybench-test"


def _runs(uri: str, experiment: str = EXPERIMENT) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    return client.search_runs([experiment_id], max_results=1000)


def _run_python(code: str, *arguments: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _release(processes: list[subprocess.Popen], folder: Path, timeout: float = 60) -> None:
    """Wait until every process has imported mlflow (ready-* files), then let all go at once."""
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("ready-*"))) < len(processes):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(process.poll() is None for process in processes), "a worker died early"
        time.sleep(0.05)
    (folder / "go").touch()


def _finish(processes: list[subprocess.Popen], timeout: float = 120) -> list[str]:
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=timeout)
        assert process.returncode == 0, stderr
        outputs.append(stdout)
    return outputs


_BARRIER = """
import sys, time
from pathlib import Path
import mlflow  # the slow import happens before the barrier
from decoybench import tracking
folder, worker = Path(sys.argv[1]), sys.argv[2]
(folder / f"ready-{worker}").touch()
while not (folder / "go").exists():
    time.sleep(0.01)
"""
