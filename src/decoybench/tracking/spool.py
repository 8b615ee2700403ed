"""The spool: jobs save their run as one JSON file, and one flush writes them all.

`spool_run` saves the run under `results/mlflow-spool` (no mlflow import, milliseconds),
and `flush_spool` writes every spooled run once per workflow (Snakemake `onsuccess`/
`onerror`, leftovers at the next `onstart`, or `python -m decoybench.tracking flush`). The
spooled `write_id` tags the run, so a flush that died half-way is resumed by the next one,
never duplicated.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from decoybench.tracking.values import _metric_value, _param_text, _reason
from decoybench.tracking.write import RUN_STATUSES, JobRecord, _now_ms, write_run

logger = logging.getLogger("decoybench.tracking")  # one logger for the whole package

SPOOL_FOLDER = "mlflow-spool"
SPOOL_FORMAT = 1

_FLUSH_LOCK_TIMEOUT_S = 600.0
_FAILURES_BEFORE_SKIPPING = 3  # failed writes in a row to one backend before its rest waits


def default_spool_dir(results_dir: str | Path = "results") -> Path:
    """`<absolute results_dir>/mlflow-spool`: where jobs spool their runs."""
    return Path(results_dir).resolve() / SPOOL_FOLDER


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
                "series": {str(key): list(values) for key, values in record.series.items()},
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
            series=spooled.get("series", {}),
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
