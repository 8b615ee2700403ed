"""One job's run: `JobRecord` accumulates it, `write_run` writes it as one MLflow run.

`write_run` never raises: it returns the run id, or logs a WARNING and returns None.
Parallel writers that meet 'database is locked' retry with backoff, and a retry resumes
the run an earlier attempt created (found by its `decoybench.write_id` tag), so a job's
run is never duplicated. mlflow is imported inside functions only (about two seconds).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from decoybench.tracking.backend import _experiment_id
from decoybench.tracking.values import (
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    _flatten,
    _metric_value,
    _param_text,
    _reason,
    _sanitize_key,
    _truncate,
)

logger = logging.getLogger("decoybench.tracking")  # one logger for the whole package

MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
WRITE_ID_TAG = "decoybench.write_id"
RUN_STATUSES = frozenset({"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"})

_BACKOFF_BASE_S = 0.2
_BACKOFF_CAP_S = 5.0
_RETRYABLE_MESSAGES = ("database is locked", "database table is locked", "database is busy")


# --------------------------------------------------------------------------- record


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
    # Step metrics (a curve in the MLflow UI): key -> its values at steps 0, 1, ...
    series: dict[str, list[float]] = dataclasses.field(default_factory=dict)

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

    def log_series(self, key: str, values: Sequence[Any]) -> None:
        """Add a step metric: `values` at steps 0, 1, … (non-finite values are left out of
        the curve, their steps kept)."""
        self.series[_sanitize_key(key)] = [float(value) for value in values]

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
    batches: list[tuple[dict[str, str], dict[str, str], list[tuple[str, float, int]]]]
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
        (_sanitize_key(key), number, 0)
        for key, value in record.metrics.items()
        if (number := _metric_value(value)) is not None
    ]
    metrics += [
        (key, number, step)
        for key, values in record.series.items()
        for step, value in enumerate(values)
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
        batches.append((dict(batch_params), dict(batch_tags), batch_metrics))
    start_ms = int(record.start_ms)
    return _Plan(record.run_name, create_tags, batches, uploads, start_ms, end_ms)


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
            metrics=[Metric(key, value, plan.start_ms, step) for key, value, step in metrics],
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
