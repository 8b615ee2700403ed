"""What every Snakemake job shares: its log file, threads, device, and one MLflow run.

Workflow scripts stay thin:

    with job(snakemake) as run:
        summary = some_package_function(..., device=run.device, progress=run.log_stream)
        run.log_metrics(summary)

The MLflow run is recorded once, when the job's work is done (or failed), so results on
disk never wait on, nor depend on, the tracking server: a failed MLflow write is only a
warning in the job's log. By default (config `mlflow.defer`) the run is spooled to
`results/mlflow-spool` and written when the workflow ends (`tracking.flush_spool`);
`mlflow.defer: false` writes it from the job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from decoybench.config import config_hash
from decoybench.tracking import (
    JobRecord,
    default_spool_dir,
    git_commit,
    resolve_tracking_uri,
    spool_run,
    write_run,
)

logger = logging.getLogger("decoybench.workflow")


@dataclass
class Job:
    """Handle given to a workflow script inside `job(snakemake)`."""

    config: dict[str, Any]
    record: JobRecord
    log_stream: TextIO
    threads: int
    _device: Any = field(default=None, repr=False)

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    @property
    def device(self) -> Any:
        """The torch device chosen by config `device` (resolved on first use)."""
        if self._device is None:
            from decoybench.runtime import resolve_device

            self._device = resolve_device(self.config.get("device", "auto"))
            self.record.set_tags({"device": str(self._device)})
        return self._device

    def log_metrics(self, metrics: dict[str, Any]) -> None:
        self.record.log_metrics(metrics)

    def log_series(self, key: str, values: Any) -> None:
        self.record.log_series(key, values)

    def log_params(self, params: dict[str, Any]) -> None:
        self.record.log_params(params)

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.record.set_tags({key: str(value) for key, value in tags.items()})

    def log_artifact(self, path: str | Path) -> None:
        self.record.log_artifact(Path(path))


def job_threads(rule_threads: int, environment: dict[str, str] | None = None) -> int:
    """The threads a job uses: its rule's `threads`, or the CPUs Slurm allocated it when
    more (SLURM_CPUS_PER_TASK). With `--cores all` Snakemake caps `threads` at the login
    node's core count, while the allocation (profile `cpus_per_task`) is not capped."""
    environment = os.environ if environment is None else environment
    try:
        allocated = int(environment.get("SLURM_CPUS_PER_TASK", "0"))
    except ValueError:
        allocated = 0
    return max(rule_threads, allocated, 1)


def run_name(rule: str, wildcards: dict[str, str]) -> str:
    """`rule/value/value`, e.g. `train_model/mnist5k/victim`."""
    return "/".join([rule, *wildcards.values()])


def _dataset_fingerprint(dataset: str | None) -> str | None:
    if not dataset:
        return None
    manifest = Path("data") / dataset / "manifest.json"
    if not manifest.exists():
        return None
    from decoybench.io import read_json

    return read_json(manifest).get("fingerprint")


def _open_log(snakemake: Any) -> TextIO:
    log_files = list(snakemake.log)
    if not log_files:
        return sys.stderr
    path = Path(log_files[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", buffering=1)


@contextlib.contextmanager
def job(snakemake: Any, artifacts: tuple[str, ...] = ()) -> Iterator[Job]:
    """Run one Snakemake job: redirect output to its log, set threads, record one MLflow run.

    `artifacts` names output keys whose files are attached to the run (small files only:
    tracking stores big ones by path).
    """
    log_stream = _open_log(snakemake)
    previous_streams = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = log_stream
    handler = logging.StreamHandler(log_stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    config = dict(snakemake.config)
    wildcards = {key: str(value) for key, value in snakemake.wildcards.items()}
    params = {key: value for key, value in snakemake.params.items()}
    record = JobRecord(run_name=run_name(snakemake.rule, wildcards))
    tags = {
        "rule": snakemake.rule,
        **{f"wildcard.{key}": value for key, value in wildcards.items()},
        "git_commit": git_commit(),
        "config_hash": config_hash(config),
        "params_hash": config_hash(params),
    }
    if "dataset" in wildcards:
        tags["dataset"] = wildcards["dataset"]
        fingerprint = _dataset_fingerprint(wildcards["dataset"])
        if fingerprint:
            tags["data_sha256"] = fingerprint
    if os.environ.get("SLURM_JOB_ID"):
        tags["slurm_job_id"] = os.environ["SLURM_JOB_ID"]
    record.set_tags(tags)
    record.log_params(params)

    threads = job_threads(int(getattr(snakemake, "threads", 1) or 1))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    handle = Job(config=config, record=record, log_stream=log_stream, threads=threads)
    mlflow_config = config.get("mlflow") or {}
    tracking_uri = resolve_tracking_uri(mlflow_config.get("tracking_uri"))
    defer = mlflow_config.get("defer", True) is not False
    status = "FAILED"
    try:
        logger.info("job %s started (threads=%d)", record.run_name, threads)
        try:
            yield handle
        except BaseException:
            logger.exception("job %s raised", record.run_name)
            raise
        for key in artifacts:
            record.log_artifact(Path(snakemake.output[key]))
        status = "FINISHED"
    finally:
        if defer:
            spooled = spool_run(
                record,
                spool_dir=default_spool_dir(),
                tracking_uri=tracking_uri,
                experiment_name=config["name"],
                status=status,
            )
            outcome = (
                f"MLflow run spooled to {spooled}"
                if spooled is not None
                else "MLflow run not spooled (see the warning above)"
            )
        else:
            run_id = write_run(
                record, tracking_uri=tracking_uri, experiment_name=config["name"], status=status
            )
            outcome = f"MLflow run {run_id or 'not written'}"
        logger.info("job %s %s; %s", record.run_name, status.lower(), outcome)
        root.removeHandler(handler)
        sys.stdout, sys.stderr = previous_streams
        if log_stream is not sys.stderr:
            log_stream.close()
