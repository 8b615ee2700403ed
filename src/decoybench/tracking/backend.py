"""Where runs go: tracking URIs, the sqlite database path, and creating the backend.

The backend is a sqlite database (`results/mlflow.db`). Creating its schema from several
processes at once fails, so `ensure_backend` creates it once (Snakemake `onstart`) under a
file lock next to the database.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger("decoybench.tracking")  # one logger for the whole package

ARTIFACTS_FOLDER = "mlflow-artifacts"

_LOCK_TIMEOUT_S = 120.0


# --------------------------------------------------------------------------- URIs


def default_tracking_uri(results_dir: str | Path = "results") -> str:
    """`sqlite:///<absolute results_dir>/mlflow.db`."""
    return f"sqlite:///{Path(results_dir).resolve() / 'mlflow.db'}"


def resolve_tracking_uri(configured: str | None, results_dir: str | Path = "results") -> str:
    """Env var MLFLOW_TRACKING_URI wins, then `configured`, then `default_tracking_uri`."""
    from_env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if from_env:
        return from_env
    if configured and configured.strip():
        return configured.strip()
    return default_tracking_uri(results_dir)


def artifact_root(results_dir: str | Path = "results") -> str:
    """Absolute `file://` URI of `<results_dir>/mlflow-artifacts`."""
    return (Path(results_dir).resolve() / ARTIFACTS_FOLDER).as_uri()


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a `sqlite://` URI (None for other schemes or in-memory)."""
    if not tracking_uri.startswith("sqlite://"):
        return None
    path = tracking_uri.removeprefix("sqlite://").split("?", 1)[0]
    if not path.startswith("/") or path in ("/", "/:memory:"):
        return None  # `sqlite://` (in memory)
    return Path(path[1:])  # `sqlite:///rel.db` -> rel.db, `sqlite:////abs.db` -> /abs.db


def _default_artifact_location(tracking_uri: str) -> str | None:
    """For sqlite, `<database folder>/mlflow-artifacts`; otherwise the server's default."""
    database = sqlite_path(tracking_uri)
    return None if database is None else artifact_root(database.parent)


# --------------------------------------------------------------------------- backend


def ensure_backend(
    tracking_uri: str, experiment_name: str, artifact_location: str | None = None
) -> str:
    """Create the database (schema) and the experiment if missing; return the experiment id.

    Idempotent. For sqlite URIs the database folder is created and the first creation is
    serialised by a file lock next to the database, so concurrent callers are safe. A None
    `artifact_location` means `<database folder>/mlflow-artifacts` for sqlite (never the
    MLflow default `./mlruns`, which `mlflow server` started without
    `--backend-store-uri` would take for a file store).
    Raises on failure (unlike `write_run`).
    """
    database = sqlite_path(tracking_uri)
    if artifact_location is None:
        artifact_location = _default_artifact_location(tracking_uri)
    if database is None:
        return _get_or_create_experiment(tracking_uri, experiment_name, artifact_location)
    from filelock import FileLock

    database.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(database) + ".lock", timeout=_LOCK_TIMEOUT_S):
        return _get_or_create_experiment(tracking_uri, experiment_name, artifact_location)


def _get_or_create_experiment(
    tracking_uri: str, experiment_name: str, artifact_location: str | None
) -> str:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        try:
            return client.create_experiment(experiment_name, artifact_location=artifact_location)
        except MlflowException as error:  # created meanwhile by another process (no lock)
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(experiment_name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        logger.info("Restoring deleted MLflow experiment %r", experiment_name)
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def _experiment_id(tracking_uri: str, experiment_name: str) -> str:
    """The experiment's id, created if missing (sqlite: with its database, under the lock)."""
    if sqlite_path(tracking_uri) is not None:
        return ensure_backend(tracking_uri, experiment_name, None)
    return _get_or_create_experiment(tracking_uri, experiment_name, None)
