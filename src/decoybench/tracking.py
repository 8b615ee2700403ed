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
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import numbers
import os
import random
import re
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger("decoybench.tracking")

MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_KEY_LENGTH = 250
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
WRITE_ID_TAG = "decoybench.write_id"
ARTIFACTS_FOLDER = "mlflow-artifacts"
RUN_STATUSES = frozenset({"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"})
SPOOL_FOLDER = "mlflow-spool"
SPOOL_FORMAT = 1

_BACKOFF_BASE_S = 0.2
_BACKOFF_CAP_S = 5.0
_LOCK_TIMEOUT_S = 120.0
_RETRYABLE_MESSAGES = ("database is locked", "database table is locked", "database is busy")
_INVALID_KEY_CHARACTERS = re.compile(r"[^/\w.\- :]")
_FLUSH_LOCK_TIMEOUT_S = 600.0
_FAILURES_BEFORE_SKIPPING = 3  # failed writes in a row to one backend before its rest waits


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


def default_spool_dir(results_dir: str | Path = "results") -> Path:
    """`<absolute results_dir>/mlflow-spool`: where jobs spool their runs."""
    return Path(results_dir).resolve() / SPOOL_FOLDER


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


# --------------------------------------------------------------------------- record


def _sanitize_key(key: str) -> str:
    """Make `key` acceptable to MLflow (characters, no path tricks, <= 250 chars)."""
    key = _INVALID_KEY_CHARACTERS.sub("_", str(key)).strip()
    normal = re.sub(r"/+", "/", key).strip("/")
    normal = "/".join("_" if part in (".", "..") else part for part in normal.split("/"))
    return (normal or "_")[:MAX_KEY_LENGTH]


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, dotted + ".")
        else:
            yield dotted, value


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, list | tuple | set | frozenset | Mapping):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return json.dumps(items, default=_json_fallback)
    return str(_as_python_scalar(value))


def _json_fallback(value: Any) -> Any:
    scalar = _as_python_scalar(value)
    return scalar if scalar is not value else str(value)


def _as_python_scalar(value: Any) -> Any:
    """numpy (or torch) 0-d scalars -> Python scalars; anything else unchanged."""
    if getattr(value, "shape", None) == () and callable(getattr(value, "item", None)):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    return value


def _metric_value(value: Any) -> float | None:
    """A finite float for int/float/bool/numpy scalars; None for anything else."""
    value = _as_python_scalar(value)
    if not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclasses.dataclass
class JobRecord:
    """What one job will log as one MLflow run; accumulates without importing mlflow.

    `start_ms` (the run's start time) is when the record was made, i.e. the job started.
    """

    run_name: str
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    artifacts: list[Path] = dataclasses.field(default_factory=list)
    start_ms: int = dataclasses.field(default_factory=_now_ms)

    def log_params(self, mapping: Mapping[str, Any]) -> None:
        """Add params: nested dicts as dotted keys, lists/None as JSON, values <= 6000 chars."""
        for key, value in _flatten(mapping):
            self.params[_sanitize_key(key)] = _truncate(_param_text(value), MAX_PARAM_VALUE_LENGTH)

    def log_metrics(self, mapping: Mapping[str, Any]) -> None:
        """Add finite numeric metrics (dotted keys); skip anything else with a debug log."""
        for key, value in _flatten(mapping):
            number = _metric_value(value)
            if number is None:
                logger.debug("Metric %r skipped: %r is not a finite number", key, value)
                continue
            self.metrics[_sanitize_key(key)] = number

    def set_tags(self, mapping: Mapping[str, Any]) -> None:
        """Add tags (values as text, <= 8000 chars)."""
        for key, value in mapping.items():
            self.tags[_sanitize_key(key)] = _truncate(_param_text(value), MAX_TAG_VALUE_LENGTH)

    def log_artifact(self, path: str | Path) -> None:
        """Attach a file (or folder) to upload when the run is written."""
        path = Path(path)
        if path not in self.artifacts:
            self.artifacts.append(path)


# --------------------------------------------------------------------------- writing


@dataclasses.dataclass
class _Plan:
    """The run's content, validated and split into MLflow-sized batches."""

    run_name: str
    create_tags: dict[str, str]
    batches: list[tuple[dict[str, str], dict[str, str], dict[str, float]]]
    uploads: list[Path]
    start_ms: int
    end_ms: int | None


@dataclasses.dataclass
class _Progress:
    """What earlier attempts already wrote, so a retry resumes the same run.

    `resume`: the write_id may already tag a run (an earlier process's flush), so look for
    it before the first attempt creates one.
    """

    write_id: str
    resume: bool = False
    attempts: int = 0
    run_id: str | None = None
    batches_done: int = 0
    uploads_done: int = 0


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    return path.stat().st_size


def _plan(
    record: JobRecord, write_id: str, artifact_size_limit: int, end_ms: int | None = None
) -> _Plan:
    tags = {
        _sanitize_key(key): _truncate(_param_text(value), MAX_TAG_VALUE_LENGTH)
        for key, value in record.tags.items()
    }
    uploads: list[Path] = []
    for path in map(Path, record.artifacts):
        if not path.exists():
            logger.info("Artifact %s of run %r does not exist; skipped", path, record.run_name)
        elif _size(path) > artifact_size_limit:
            key = _sanitize_key(f"artifact_path.{path.name}")
            tags[key] = _truncate(str(path.resolve()), MAX_TAG_VALUE_LENGTH)
        else:
            uploads.append(path)
    tags[WRITE_ID_TAG] = write_id
    tag_items = list(tags.items())
    create_tags = dict(tag_items[-MAX_TAGS_PER_BATCH:])  # keeps WRITE_ID_TAG
    rest_tags = tag_items[:-MAX_TAGS_PER_BATCH]
    params = [
        (_sanitize_key(key), _truncate(_param_text(value), MAX_PARAM_VALUE_LENGTH))
        for key, value in record.params.items()
    ]
    metrics = [
        (_sanitize_key(key), number)
        for key, value in record.metrics.items()
        if (number := _metric_value(value)) is not None
    ]
    batches = []
    while params or rest_tags or metrics:
        batch_params, params = params[:MAX_PARAMS_PER_BATCH], params[MAX_PARAMS_PER_BATCH:]
        batch_tags, rest_tags = rest_tags[:MAX_TAGS_PER_BATCH], rest_tags[MAX_TAGS_PER_BATCH:]
        room = min(
            MAX_METRICS_PER_BATCH, MAX_ENTITIES_PER_BATCH - len(batch_params) - len(batch_tags)
        )
        batch_metrics, metrics = metrics[:room], metrics[room:]
        batches.append((dict(batch_params), dict(batch_tags), dict(batch_metrics)))
    start_ms = int(record.start_ms)
    return _Plan(record.run_name, create_tags, batches, uploads, start_ms, end_ms)


def _experiment_id(tracking_uri: str, experiment_name: str) -> str:
    if sqlite_path(tracking_uri) is not None:
        return ensure_backend(tracking_uri, experiment_name, None)
    return _get_or_create_experiment(tracking_uri, experiment_name, None)


def _find_partial_run(client: Any, experiment_id: str, write_id: str) -> Any | None:
    """The run an earlier attempt created (tagged `write_id`), or None; extra ones deleted."""
    from mlflow.entities import ViewType

    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{WRITE_ID_TAG}` = '{write_id}'",
        run_view_type=ViewType.ACTIVE_ONLY,
    )
    for extra in runs[1:]:
        client.delete_run(extra.info.run_id)
    return runs[0] if runs else None


def _write_once(
    plan: _Plan, progress: _Progress, tracking_uri: str, experiment_name: str, status: str
) -> str:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    experiment_id = _experiment_id(tracking_uri, experiment_name)
    client = MlflowClient(tracking_uri)
    progress.attempts += 1
    if progress.run_id is None and (progress.resume or progress.attempts > 1):
        found = _find_partial_run(client, experiment_id, progress.write_id)
        if found is not None:
            progress.run_id = found.info.run_id
            if found.info.status != "RUNNING":  # set_terminated is the last step: complete
                return progress.run_id
    if progress.run_id is None:
        run = client.create_run(
            experiment_id, start_time=plan.start_ms, tags=plan.create_tags, run_name=plan.run_name
        )
        progress.run_id = run.info.run_id
    run_id = progress.run_id
    for params, tags, metrics in plan.batches[progress.batches_done :]:
        client.log_batch(
            run_id,
            metrics=[Metric(key, value, plan.start_ms, 0) for key, value in metrics.items()],
            params=[Param(key, value) for key, value in params.items()],
            tags=[RunTag(key, value) for key, value in tags.items()],
            synchronous=True,
        )
        progress.batches_done += 1
    for path in plan.uploads[progress.uploads_done :]:
        if path.is_dir():
            client.log_artifacts(run_id, str(path), artifact_path=path.name)
        else:
            client.log_artifact(run_id, str(path))
        progress.uploads_done += 1
    client.set_terminated(run_id, status, end_time=plan.end_ms)
    return run_id


def _is_retryable(error: BaseException) -> bool:
    """'database is locked' and other transient database/lock errors (whole cause chain)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if name in ("OperationalError", "Timeout"):  # sqlite3/sqlalchemy; filelock.Timeout
            return True
        if getattr(current, "error_code", None) == "TEMPORARILY_UNAVAILABLE":
            return True
        if any(message in str(current).lower() for message in _RETRYABLE_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter: ~0.2 s, 0.4 s, 0.8 s ... capped at 5 s."""
    delay = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** (attempt - 1))
    return min(_BACKOFF_CAP_S, delay * random.uniform(0.5, 1.5))


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {_truncate(text, 500)}"


def write_run(
    record: JobRecord,
    *,
    tracking_uri: str,
    experiment_name: str,
    status: str = "FINISHED",
    max_attempts: int = 8,
    artifact_size_limit: int = 20 * 2**20,
    write_id: str | None = None,
    end_ms: int | None = None,
) -> str | None:
    """Write `record` as exactly one MLflow run; return its id, or None (WARNING) on failure.

    Never raises. Transient database errors ('database is locked') are retried with
    exponential backoff; a retry resumes the run an earlier attempt created instead of
    starting another. Artifacts larger than `artifact_size_limit` bytes are not uploaded:
    their absolute path is recorded in the tag `artifact_path.<name>`.

    The run starts at `record.start_ms` and ends at `end_ms` (None: now). A given
    `write_id` (tag `decoybench.write_id`) may already tag a run from an earlier process:
    that run is completed if unfinished, and left as it is if finished, never duplicated.
    """
    where = f"run {record.run_name!r} (experiment {experiment_name!r}, {tracking_uri})"
    try:
        if status not in RUN_STATUSES:
            raise ValueError(
                f"unknown run status {status!r}; expected one of {sorted(RUN_STATUSES)}"
            )
        progress = _Progress(write_id=write_id or uuid.uuid4().hex, resume=write_id is not None)
        plan = _plan(record, progress.write_id, artifact_size_limit, end_ms)
    except Exception as error:
        logger.warning("MLflow: could not log %s: %s", where, _reason(error))
        return None
    attempts = max(1, max_attempts)
    for attempt in range(1, attempts + 1):
        try:
            return _write_once(plan, progress, tracking_uri, experiment_name, status)
        except Exception as error:
            if attempt == attempts or not _is_retryable(error):
                logger.warning(
                    "MLflow: could not log %s after %d attempt(s); results on disk are "
                    "unaffected: %s",
                    where,
                    attempt,
                    _reason(error),
                )
                return None
            delay = _backoff(attempt)
            logger.info(
                "MLflow: attempt %d to log %s failed (%s); retrying in %.2f s",
                attempt,
                where,
                _reason(error),
                delay,
            )
            time.sleep(delay)
    return None  # unreachable


# --------------------------------------------------------------------------- spool


def spool_run(
    record: JobRecord, *, spool_dir: Path, tracking_uri: str, experiment_name: str, status: str
) -> Path | None:
    """Save `record` as `<spool_dir>/<write_id>.json` for `flush_spool`; return that file.

    No mlflow import; the file is written atomically. If it cannot be written, the run is
    written to MLflow now instead (WARNING) and None is returned: never raises, never loses
    the run silently.
    """
    write_id = uuid.uuid4().hex
    end_ms = _now_ms()
    target = Path(spool_dir) / f"{write_id}.json"
    try:
        if status not in RUN_STATUSES:
            raise ValueError(
                f"unknown run status {status!r}; expected one of {sorted(RUN_STATUSES)}"
            )
        from decoybench.io import write_json

        write_json(
            target,
            {
                "format": SPOOL_FORMAT,
                "write_id": write_id,
                "run_name": str(record.run_name),
                "tracking_uri": tracking_uri,
                "experiment_name": experiment_name,
                "status": status,
                "start_ms": int(record.start_ms),
                "end_ms": end_ms,
                "tags": {str(key): _param_text(value) for key, value in record.tags.items()},
                "params": {str(key): _param_text(value) for key, value in record.params.items()},
                "metrics": {
                    str(key): number
                    for key, value in record.metrics.items()
                    if (number := _metric_value(value)) is not None
                },
                "artifacts": [str(Path(path).resolve()) for path in record.artifacts],
            },
        )
        return target
    except Exception as error:
        logger.warning(
            "MLflow: could not spool run %r to %s (%s); writing it to MLflow now",
            record.run_name,
            target,
            _reason(error),
        )
    run_id = write_run(
        record,
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        status=status,
        write_id=write_id,
        end_ms=end_ms,
    )
    if run_id is not None:
        logger.info("MLflow: run %r written directly as %s", record.run_name, run_id)
    return None


def _read_spooled(path: Path) -> dict[str, Any]:
    """One spool file, checked; ValueError (or OSError) if it cannot be used."""
    try:
        spooled = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not valid JSON ({error})") from error
    if not isinstance(spooled, dict) or spooled.get("format") != SPOOL_FORMAT:
        raise ValueError(f"not a spooled run of format {SPOOL_FORMAT}")
    expected = {
        "write_id": str,
        "run_name": str,
        "tracking_uri": str,
        "experiment_name": str,
        "status": str,
        "start_ms": int,
        "end_ms": int,
        "tags": dict,
        "params": dict,
        "metrics": dict,
        "artifacts": list,
    }
    for key, kind in expected.items():
        if not isinstance(spooled.get(key), kind) or isinstance(spooled.get(key), bool):
            raise ValueError(f"{key!r} missing or not of type {kind.__name__}")
    if not re.fullmatch(r"[0-9a-f]{32}", spooled["write_id"]):
        raise ValueError(f"write_id {spooled['write_id']!r} is not a uuid4 hex")
    if spooled["status"] not in RUN_STATUSES:
        raise ValueError(f"unknown run status {spooled['status']!r}")
    return spooled


def _set_aside(path: Path, why: str) -> None:
    corrupt = path.with_name(path.name + ".corrupt")
    try:
        path.replace(corrupt)
    except OSError as error:
        logger.warning(
            "MLflow: spool file %s is unusable (%s) and could not be set aside: %s",
            path,
            why,
            _reason(error),
        )
        return
    logger.warning("MLflow: spool file %s is unusable (%s); set aside as %s", path, why, corrupt)


def _flush_locked(spool_dir: Path, summary: dict[str, Any]) -> None:
    entries = []
    for path in sorted(spool_dir.glob("*.json")):
        if path.name.startswith("."):  # write_json's temp files
            continue
        try:
            entries.append((path, _read_spooled(path)))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as error:
            _set_aside(path, _reason(error))
            summary["corrupt"] += 1
    entries.sort(key=lambda entry: (entry[1]["start_ms"], entry[0].name))
    failures: dict[str, int] = {}
    skipped: dict[str, int] = {}
    for path, spooled in entries:
        uri = spooled["tracking_uri"]
        if failures.get(uri, 0) >= _FAILURES_BEFORE_SKIPPING:
            skipped[uri] = skipped.get(uri, 0) + 1
            summary["failed"] += 1
            continue
        record = JobRecord(
            run_name=spooled["run_name"],
            tags=spooled["tags"],
            params=spooled["params"],
            metrics=spooled["metrics"],
            artifacts=[Path(item) for item in spooled["artifacts"]],
            start_ms=spooled["start_ms"],
        )
        run_id = write_run(
            record,
            tracking_uri=uri,
            experiment_name=spooled["experiment_name"],
            status=spooled["status"],
            write_id=spooled["write_id"],
            end_ms=spooled["end_ms"],
        )
        if run_id is None:
            failures[uri] = failures.get(uri, 0) + 1
            summary["failed"] += 1
            logger.warning("MLflow: spool file %s kept for the next flush", path)
            continue
        failures[uri] = 0
        summary["written"] += 1
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:  # harmless: the next flush finds the run by its write_id
            logger.warning("MLflow: run %s written but %s not deleted: %s", run_id, path, error)
    for uri, count in skipped.items():
        logger.warning(
            "MLflow: %d more spooled run(s) for %s not tried after %d failures in a row; "
            "kept for the next flush",
            count,
            uri,
            _FAILURES_BEFORE_SKIPPING,
        )


def flush_spool(spool_dir: Path) -> dict[str, Any]:
    """Write every run spooled under `spool_dir` to MLflow; delete each file once written.

    Returns {"written", "failed", "corrupt", "seconds"}. Never raises: a run that cannot be
    written keeps its file (WARNING) for the next flush; an unreadable file is renamed to
    `<name>.corrupt` (WARNING). Idempotent and crash-safe (runs are found again by their
    write_id); concurrent flushes are serialised by a lock file in `spool_dir`.
    """
    started = time.monotonic()
    spool_dir = Path(spool_dir)
    summary: dict[str, Any] = {"written": 0, "failed": 0, "corrupt": 0}
    try:
        if spool_dir.is_dir() and any(spool_dir.glob("*.json")):
            from filelock import FileLock

            with FileLock(str(spool_dir / ".flush.lock"), timeout=_FLUSH_LOCK_TIMEOUT_S):
                _flush_locked(spool_dir, summary)
    except Exception as error:  # e.g. the lock timed out: the files stay for the next flush
        logger.warning("MLflow: flushing %s stopped: %s", spool_dir, _reason(error))
        with contextlib.suppress(OSError):
            pending = [path for path in spool_dir.glob("*.json") if not path.name.startswith(".")]
            summary["failed"] = max(summary["failed"], len(pending))
    summary["seconds"] = round(time.monotonic() - started, 3)
    return summary


def describe_flush(summary: Mapping[str, Any], spool_dir: str | Path) -> str:
    """One line for a `flush_spool` summary."""
    text = f"MLflow spool {spool_dir}: {summary['written']} run(s) written"
    if summary.get("failed"):
        text += f", {summary['failed']} kept for the next flush (see the warnings)"
    if summary.get("corrupt"):
        text += f", {summary['corrupt']} unreadable file(s) set aside as *.corrupt"
    return text + f" in {summary['seconds']:.1f} s"


def main(argv: list[str] | None = None) -> int:
    """`python -m decoybench.tracking flush [--spool-dir DIR]`; exit 1 if any run is kept."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m decoybench.tracking", description="MLflow spool of decoybench jobs."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    flush = commands.add_parser("flush", help="write every spooled run to MLflow")
    flush.add_argument(
        "--spool-dir",
        type=Path,
        default=None,
        help=f"spool folder (default: results/{SPOOL_FOLDER} under the current directory)",
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    spool_dir = arguments.spool_dir or default_spool_dir()
    summary = flush_spool(spool_dir)
    print(describe_flush(summary, spool_dir))
    return 1 if summary["failed"] else 0


# --------------------------------------------------------------------------- provenance


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


if __name__ == "__main__":
    raise SystemExit(main())
