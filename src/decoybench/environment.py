"""Process environment the workflow hands to its jobs (set once, at Snakefile parse time)."""

from __future__ import annotations

import os


def export_for_jobs(source_dir: str) -> None:
    """Make jobs import decoybench from `source_dir` and fail fast on a dead MLflow server.

    Jobs inherit the environment: locally, inside `--sdm conda` environments (which hold the
    dependencies only) and on Slurm nodes (sbatch exports it). MLflow's own HTTP retries
    would otherwise block a job for minutes when a tracking server is down.
    """
    paths = [source_dir, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
