"""MLflow mirroring of job results: exactly one run per Snakemake job, never fatal.

Results on disk are the source of truth. `write_run` copies one job's tags, params,
metrics and artifacts into MLflow as a single run and returns its id, or logs a WARNING
and returns None when MLflow cannot be written: it never raises.

Jobs normally do not write MLflow themselves: `spool_run` saves the run as one JSON file
under `results/mlflow-spool` (no mlflow import, milliseconds), and `flush_spool` writes
every spooled run once per workflow (Snakemake `onsuccess`/`onerror`, leftovers at the
next `onstart`, or `python -m decoybench.tracking flush`). The spooled `write_id` tags
the run, so a flush that died half-way is resumed by the next one, never duplicated.

The backend is a sqlite database (`results/mlflow.db`). Creating its schema from several
processes at once fails, so `ensure_backend` creates it once (Snakemake `onstart`) under a
file lock; parallel writers that later meet 'database is locked' retry with backoff.

`import mlflow` costs about two seconds, so mlflow is imported inside functions only.

Modules: `backend` (URIs, database, experiments), `values` (keys and values for MLflow),
`write` (`JobRecord`, one run written with retries), `spool` (spooling and flushing),
`provenance` (`git_commit`); `__main__` is the `flush` command line. All log to the
logger `decoybench.tracking`.
"""

from __future__ import annotations

from decoybench.tracking.backend import (
    artifact_root,
    default_tracking_uri,
    ensure_backend,
    resolve_tracking_uri,
    sqlite_path,
)
from decoybench.tracking.provenance import git_commit
from decoybench.tracking.spool import default_spool_dir, describe_flush, flush_spool, spool_run
from decoybench.tracking.values import MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH
from decoybench.tracking.write import WRITE_ID_TAG, JobRecord, write_run

__all__ = [
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "WRITE_ID_TAG",
    "JobRecord",
    "artifact_root",
    "default_spool_dir",
    "default_tracking_uri",
    "describe_flush",
    "ensure_backend",
    "flush_spool",
    "git_commit",
    "resolve_tracking_uri",
    "spool_run",
    "sqlite_path",
    "write_run",
]
