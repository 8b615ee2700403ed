"""Tests of decoybench.tracking: one MLflow run per job, parallel writers, the spool, never
fatal."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from decoybench import tracking
from decoybench.tracking import JobRecord, ensure_backend, write_run

EXPERIMENT = "decoybench-test"


@pytest.fixture(autouse=True)
def _quiet_mlflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No tracking URI leaks in from the environment; alembic/MLflow database logs are muted."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    loggers = [logging.getLogger(name) for name in ("alembic", "mlflow.store.db.utils")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised database, created once (schema creation takes ~2 s) and copied per test."""
    database = tmp_path_factory.mktemp("template") / "mlflow.db"
    ensure_backend(f"sqlite:///{database}", "template", None)
    return database


@pytest.fixture
def tracking_uri(template_db: Path, tmp_path: Path) -> str:
    """A fresh, initialised sqlite database in tmp_path (as after Snakemake `onstart`)."""
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(template_db, results / "mlflow.db")
    uri = tracking.default_tracking_uri(results)
    ensure_backend(uri, EXPERIMENT, tracking.artifact_root(results))
    return uri


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


# --------------------------------------------------------------------------- one run


def test_write_run_creates_exactly_one_complete_run(tracking_uri: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    artifact = tmp_path / "metrics.json"
    artifact.write_text('{"accuracy": 0.9}\n')
    record = JobRecord("train-mnist-seed0")
    record.set_tags({"rule": "train", "dataset": "mnist"})
    record.log_params({"model": {"arch": "lenet", "width": 32}, "seeds": [0, 1], "note": None})
    record.log_metrics({"test": {"accuracy": 0.9, "loss": np.float32(0.25)}, "epochs": 3})
    record.log_artifact(artifact)

    run_id = write_run(record, tracking_uri=tracking_uri, experiment_name=EXPERIMENT)

    assert run_id is not None
    runs = _runs(tracking_uri)
    assert [run.info.run_id for run in runs] == [run_id]
    run = runs[0]
    assert run.info.run_name == "train-mnist-seed0"
    assert run.info.status == "FINISHED"
    assert run.data.tags["rule"] == "train"
    assert run.data.tags["dataset"] == "mnist"
    assert run.data.params == {
        "model.arch": "lenet",
        "model.width": "32",
        "seeds": "[0, 1]",
        "note": "null",
    }
    assert run.data.metrics == {"test.accuracy": 0.9, "test.loss": 0.25, "epochs": 3.0}
    client = MlflowClient(tracking_uri)
    assert [info.path for info in client.list_artifacts(run_id)] == ["metrics.json"]
    downloaded = client.download_artifacts(run_id, "metrics.json", str(tmp_path / "download"))
    assert Path(downloaded).read_text() == artifact.read_text()
    assert run.info.artifact_uri.startswith(tracking.artifact_root(tmp_path / "results"))


def test_write_run_creates_missing_experiment(tracking_uri: str) -> None:
    run_id = write_run(JobRecord("job"), tracking_uri=tracking_uri, experiment_name="brand-new")
    assert run_id is not None
    assert [run.info.run_id for run in _runs(tracking_uri, "brand-new")] == [run_id]


def test_many_params_metrics_and_tags_are_batched(tracking_uri: str) -> None:
    record = JobRecord("wide")
    record.log_params({f"p{index}": index for index in range(250)})
    record.log_metrics({f"m{index}": float(index) for index in range(2500)})
    record.set_tags({f"t{index}": str(index) for index in range(150)})

    run_id = write_run(record, tracking_uri=tracking_uri, experiment_name=EXPERIMENT)

    assert run_id is not None
    (run,) = _runs(tracking_uri)
    assert len(run.data.params) == 250
    assert len(run.data.metrics) == 2500
    assert {f"t{index}" for index in range(150)} <= set(run.data.tags)


def test_big_artifacts_are_recorded_by_path_not_uploaded(tracking_uri: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    small, big = tmp_path / "small.txt", tmp_path / "weights.safetensors"
    small.write_text("ok")
    big.write_bytes(b"0" * 1000)
    record = JobRecord("artifacts")
    record.log_artifact(small)
    record.log_artifact(big)
    record.log_artifact(tmp_path / "missing.txt")

    run_id = write_run(
        record, tracking_uri=tracking_uri, experiment_name=EXPERIMENT, artifact_size_limit=100
    )

    assert run_id is not None
    listed = [info.path for info in MlflowClient(tracking_uri).list_artifacts(run_id)]
    assert listed == ["small.txt"]
    (run,) = _runs(tracking_uri)
    assert run.data.tags["artifact_path.weights.safetensors"] == str(big.resolve())


def test_status_is_recorded(tracking_uri: str) -> None:
    write_run(
        JobRecord("failed"), tracking_uri=tracking_uri, experiment_name=EXPERIMENT, status="FAILED"
    )
    assert [run.info.status for run in _runs(tracking_uri)] == ["FAILED"]


# --------------------------------------------------------------------------- retries


def test_locked_database_is_retried_into_one_run(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    real_log_batch = MlflowClient.log_batch
    failures = iter([True, True])

    def flaky_log_batch(self, *args, **kwargs):
        if next(failures, False):
            raise MlflowException(
                "(sqlite3.OperationalError) database is locked",
                error_code="TEMPORARILY_UNAVAILABLE",
            )
        return real_log_batch(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", flaky_log_batch)
    record = JobRecord("flaky")
    record.log_params({"a": 1})
    record.log_metrics({"b": 2})

    run_id = write_run(record, tracking_uri=tracking_uri, experiment_name=EXPERIMENT)

    assert run_id is not None
    runs = _runs(tracking_uri)
    assert [run.info.run_id for run in runs] == [run_id]
    assert runs[0].data.params == {"a": "1"}
    assert runs[0].data.metrics == {"b": 2.0}
    assert runs[0].info.status == "FINISHED"


def test_run_created_before_a_failure_is_reused(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """create_run committed but its answer was lost: the retry finds that run, makes none new."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    real_create_run = MlflowClient.create_run
    calls = []

    def lossy_create_run(self, *args, **kwargs):
        calls.append(1)
        run = real_create_run(self, *args, **kwargs)
        if len(calls) == 1:
            raise MlflowException("database is locked", error_code="TEMPORARILY_UNAVAILABLE")
        return run

    monkeypatch.setattr(MlflowClient, "create_run", lossy_create_run)

    run_id = write_run(JobRecord("lossy"), tracking_uri=tracking_uri, experiment_name=EXPERIMENT)

    assert len(calls) == 1
    assert [run.info.run_id for run in _runs(tracking_uri)] == [run_id]


def test_persistent_lock_gives_up_with_warning(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    def locked(self, *args, **kwargs):
        raise MlflowException("database is locked", error_code="TEMPORARILY_UNAVAILABLE")

    monkeypatch.setattr(MlflowClient, "set_terminated", locked)
    caplog.set_level(logging.INFO, logger="decoybench.tracking")
    start = time.monotonic()

    result = write_run(
        JobRecord("stuck"), tracking_uri=tracking_uri, experiment_name=EXPERIMENT, max_attempts=3
    )

    assert result is None
    assert time.monotonic() - start < 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "after 3 attempt(s)" in warnings[0].getMessage()
    assert "database is locked" in warnings[0].getMessage()
    assert len(_runs(tracking_uri)) == 1  # the unfinished run is kept, never duplicated


@pytest.mark.slow
def test_real_sqlite_lock_is_outwaited(tracking_uri: str, tmp_path: Path) -> None:
    """A write lock held past MLflow's 20 s busy timeout: 'database is locked', then retry."""
    import sqlite3
    import threading

    database = tmp_path / "results" / "mlflow.db"
    locked = threading.Event()

    def hold_lock() -> None:
        connection = sqlite3.connect(database, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(21)
        connection.execute("COMMIT")
        connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait()
    run_id = write_run(JobRecord("patient"), tracking_uri=tracking_uri, experiment_name=EXPERIMENT)
    holder.join()

    assert run_id is not None
    assert [run.info.run_id for run in _runs(tracking_uri)] == [run_id]


@pytest.mark.parametrize("kind", ["not-a-directory", "unreachable-server"])
def test_broken_tracking_uri_warns_and_returns_none(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if kind == "not-a-directory":
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        uri = f"sqlite:///{blocker}/results/mlflow.db"
    else:
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
        uri = "http://127.0.0.1:9"
    record = JobRecord("lost")
    record.log_metrics({"accuracy": 1.0})
    caplog.set_level(logging.WARNING, logger="decoybench.tracking")
    start = time.monotonic()

    result = write_run(record, tracking_uri=uri, experiment_name=EXPERIMENT, max_attempts=2)

    assert result is None
    assert time.monotonic() - start < 10
    (warning,) = [r for r in caplog.records if r.name == "decoybench.tracking"]
    assert warning.levelno == logging.WARNING
    assert "'lost'" in warning.getMessage()
    assert "Error" in warning.getMessage() or "Exception" in warning.getMessage()


def test_unknown_status_warns_without_writing(
    tracking_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="decoybench.tracking")
    result = write_run(
        JobRecord("bad"), tracking_uri=tracking_uri, experiment_name=EXPERIMENT, status="DONE"
    )
    assert result is None
    assert "unknown run status" in caplog.text
    assert _runs(tracking_uri) == []


# --------------------------------------------------------------------------- processes


def test_parallel_processes_lose_no_run(tracking_uri: str, tmp_path: Path) -> None:
    workers, runs_each = 4, 5
    code = (
        _BARRIER
        + """
uri, count = sys.argv[3], int(sys.argv[4])
for index in range(count):
    record = tracking.JobRecord(f"worker{worker}-run{index}")
    record.log_params({f"p{k}": k for k in range(120)})
    record.log_metrics({f"m{k}": k for k in range(300)})
    run_id = tracking.write_run(record, tracking_uri=uri, experiment_name="decoybench-test")
    print(run_id)
"""
    )
    processes = [
        _run_python(code, str(tmp_path), str(worker), tracking_uri, str(runs_each))
        for worker in range(workers)
    ]
    _release(processes, tmp_path)
    run_ids = [line for output in _finish(processes) for line in output.split()]

    assert len(run_ids) == workers * runs_each
    assert "None" not in run_ids
    runs = _runs(tracking_uri)
    assert sorted(run.info.run_id for run in runs) == sorted(run_ids)
    assert all(run.info.status == "FINISHED" for run in runs)
    assert all(len(run.data.metrics) == 300 for run in runs)


def test_ensure_backend_is_idempotent(tmp_path: Path) -> None:
    uri = tracking.default_tracking_uri(tmp_path / "deep" / "results")
    first = ensure_backend(uri, EXPERIMENT, None)
    second = ensure_backend(uri, EXPERIMENT, None)
    assert first == second
    assert (tmp_path / "deep" / "results" / "mlflow.db").is_file()
    from mlflow.tracking import MlflowClient

    experiment = MlflowClient(uri).get_experiment_by_name(EXPERIMENT)
    assert experiment.artifact_location == tracking.artifact_root(tmp_path / "deep" / "results")


def test_concurrent_first_creation_does_not_fail(tmp_path: Path) -> None:
    uri = tracking.default_tracking_uri(tmp_path / "results")
    code = (
        _BARRIER
        + """
print(tracking.ensure_backend(sys.argv[3], "decoybench-test", None))
"""
    )
    processes = [_run_python(code, str(tmp_path), str(worker), uri) for worker in range(3)]
    _release(processes, tmp_path)
    experiment_ids = {output.strip() for output in _finish(processes)}

    assert len(experiment_ids) == 1
    assert _runs(uri) == []


# --------------------------------------------------------------------------- spool


def _spooled_record(tmp_path: Path) -> JobRecord:
    artifact = tmp_path / "table.csv"
    artifact.write_text("a,b\n1,2\n")
    record = JobRecord("attack/mnist5k/fgsm", start_ms=1_700_000_000_000)
    record.set_tags({"rule": "attack", "dataset": "mnist5k"})
    record.log_params({"attack": {"name": "fgsm", "epsilon": 0.1}, "grid": [1, 2]})
    record.log_metrics({"asr": 0.75, "count": np.int64(3)})
    record.log_artifact(artifact)
    return record


def _spool(record: JobRecord, spool_dir: Path, uri: str, status: str = "FINISHED") -> Path:
    path = tracking.spool_run(
        record, spool_dir=spool_dir, tracking_uri=uri, experiment_name=EXPERIMENT, status=status
    )
    assert path is not None
    return path


def test_spool_then_flush_writes_exactly_the_job_run(tracking_uri: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    spool_dir = tmp_path / "spool"
    before = int(time.time() * 1000)
    path = _spool(_spooled_record(tmp_path), spool_dir, tracking_uri, status="FAILED")
    after = int(time.time() * 1000)

    assert path.parent == spool_dir and path.suffix == ".json" and len(path.stem) == 32
    spooled = json.loads(path.read_text())
    assert spooled["write_id"] == path.stem
    assert spooled["tracking_uri"] == tracking_uri
    assert spooled["experiment_name"] == EXPERIMENT
    assert spooled["status"] == "FAILED"
    assert spooled["start_ms"] == 1_700_000_000_000
    assert before <= spooled["end_ms"] <= after
    assert spooled["artifacts"] == [str((tmp_path / "table.csv").resolve())]
    assert _runs(tracking_uri) == []  # nothing written yet

    summary = tracking.flush_spool(spool_dir)

    assert {key: summary[key] for key in ("written", "failed", "corrupt")} == {
        "written": 1,
        "failed": 0,
        "corrupt": 0,
    }
    assert summary["seconds"] >= 0
    assert not path.exists()
    (run,) = _runs(tracking_uri)
    assert run.info.run_name == "attack/mnist5k/fgsm"
    assert run.info.status == "FAILED"
    assert run.info.start_time == 1_700_000_000_000
    assert run.info.end_time == spooled["end_ms"]
    assert run.data.tags["rule"] == "attack" and run.data.tags["dataset"] == "mnist5k"
    assert run.data.tags[tracking.WRITE_ID_TAG] == path.stem
    assert run.data.params == {"attack.name": "fgsm", "attack.epsilon": "0.1", "grid": "[1, 2]"}
    assert run.data.metrics == {"asr": 0.75, "count": 3.0}
    client = MlflowClient(tracking_uri)
    assert [info.path for info in client.list_artifacts(run.info.run_id)] == ["table.csv"]


def test_spool_stores_absolute_artifact_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    record = JobRecord("relative")
    record.log_artifact("out/table.csv")
    path = _spool(record, Path("spool"), "sqlite:///unused.db")
    assert json.loads(path.read_text())["artifacts"] == [str(tmp_path.resolve() / "out/table.csv")]


def test_spool_run_does_not_import_mlflow(tmp_path: Path) -> None:
    code = """
    import sys
    from pathlib import Path
    from decoybench import tracking
    record = tracking.JobRecord("light")
    record.log_metrics({"x": 1.0})
    path = tracking.spool_run(record, spool_dir=Path(sys.argv[1]), tracking_uri="sqlite:///x.db",
                              experiment_name="e", status="FINISHED")
    print(path.name, "mlflow" in sys.modules, "filelock" in sys.modules)
    """
    process = _run_python(code, str(tmp_path / "spool"))
    (stdout,) = _finish([process])
    name, mlflow_imported, filelock_imported = stdout.split()
    assert (tmp_path / "spool" / name).is_file()
    assert (mlflow_imported, filelock_imported) == ("False", "False")


def test_unwritable_spool_writes_the_run_directly(
    tracking_uri: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    caplog.set_level(logging.INFO, logger="decoybench.tracking")
    record = JobRecord("direct")
    record.log_metrics({"x": 2.0})

    result = tracking.spool_run(
        record,
        spool_dir=blocker / "spool",
        tracking_uri=tracking_uri,
        experiment_name=EXPERIMENT,
        status="FINISHED",
    )

    assert result is None
    (run,) = _runs(tracking_uri)
    assert run.data.metrics == {"x": 2.0} and run.info.status == "FINISHED"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "could not spool run 'direct'" in warnings[0]
    assert f"written directly as {run.info.run_id}" in caplog.text


def test_flush_with_unreachable_backend_keeps_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    spool_dir = tmp_path / "spool"
    path = _spool(_spooled_record(tmp_path), spool_dir, "http://127.0.0.1:9")
    content = path.read_text()
    caplog.set_level(logging.WARNING, logger="decoybench.tracking")
    start = time.monotonic()

    summary = tracking.flush_spool(spool_dir)

    assert (summary["written"], summary["failed"], summary["corrupt"]) == (0, 1, 0)
    assert time.monotonic() - start < 30
    assert path.read_text() == content
    assert f"spool file {path} kept for the next flush" in caplog.text


def test_a_failing_backend_is_not_retried_for_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def failing_write_run(record, **kwargs):
        calls.append(kwargs["tracking_uri"])
        return None

    monkeypatch.setattr(tracking, "write_run", failing_write_run)
    spool_dir = tmp_path / "spool"
    for index in range(5):
        _spool(JobRecord(f"job{index}"), spool_dir, "http://down:1")

    summary = tracking.flush_spool(spool_dir)

    assert (summary["written"], summary["failed"]) == (0, 5)
    assert calls == ["http://down:1"] * 3
    assert len(list(spool_dir.glob("*.json"))) == 5
    assert "2 more spooled run(s) for http://down:1 not tried" in caplog.text


def test_flushing_twice_gives_one_run(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    spool_dir = tmp_path / "spool"
    path = _spool(_spooled_record(tmp_path), spool_dir, tracking_uri)
    content = path.read_text()

    first = tracking.flush_spool(spool_dir)
    second = tracking.flush_spool(spool_dir)
    path.write_text(content)  # as if the first flush died before deleting the file
    real_log_batch, batches = MlflowClient.log_batch, []

    def counted_log_batch(self, *args, **kwargs):
        batches.append(1)
        return real_log_batch(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", counted_log_batch)
    third = tracking.flush_spool(spool_dir)

    assert (first["written"], second["written"], third["written"]) == (1, 0, 1)
    assert batches == []  # the finished run is found and left as it is
    assert not path.exists()
    (run,) = _runs(tracking_uri)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"asr": 0.75, "count": 3.0}


@pytest.mark.parametrize("crash_in", ["create_run", "log_batch", "set_terminated"])
def test_flush_after_a_crash_completes_the_same_run(
    crash_in: str, tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first flush dies right after `crash_in` committed: the next one finishes that run."""
    from mlflow.tracking import MlflowClient

    real = getattr(MlflowClient, crash_in)

    def crash_after(self, *args, **kwargs):
        real(self, *args, **kwargs)
        raise RuntimeError("flush killed")

    spool_dir = tmp_path / "spool"
    path = _spool(_spooled_record(tmp_path), spool_dir, tracking_uri)
    monkeypatch.setattr(MlflowClient, crash_in, crash_after)
    first = tracking.flush_spool(spool_dir)
    monkeypatch.setattr(MlflowClient, crash_in, real)

    assert (first["written"], first["failed"]) == (0, 1)
    assert path.exists()
    (partial,) = _runs(tracking_uri)
    assert partial.data.tags[tracking.WRITE_ID_TAG] == path.stem

    second = tracking.flush_spool(spool_dir)

    assert (second["written"], second["failed"]) == (1, 0)
    assert not path.exists()
    (run,) = _runs(tracking_uri)
    assert run.info.run_id == partial.info.run_id
    assert run.info.status == "FINISHED"
    assert run.info.start_time == 1_700_000_000_000
    assert run.data.params == {"attack.name": "fgsm", "attack.epsilon": "0.1", "grid": "[1, 2]"}
    assert run.data.metrics == {"asr": 0.75, "count": 3.0}
    history = MlflowClient(tracking_uri).get_metric_history(run.info.run_id, "asr")
    assert len(history) == 1
    artifacts = MlflowClient(tracking_uri).list_artifacts(run.info.run_id)
    assert [info.path for info in artifacts] == ["table.csv"]


def test_corrupt_spool_files_are_set_aside(
    tracking_uri: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool_dir = tmp_path / "spool"
    good = _spool(JobRecord("good"), spool_dir, tracking_uri)
    truncated = spool_dir / ("0" * 32 + ".json")
    truncated.write_text('{"format": 1, "run_na')
    wrong_shape = spool_dir / ("1" * 32 + ".json")
    wrong_shape.write_text(json.dumps({"format": 1, "run_name": "x"}))
    temporary = spool_dir / ".tmp-abc.json.xyz.json"  # write_json's, from a killed job
    temporary.write_text("{")
    caplog.set_level(logging.WARNING, logger="decoybench.tracking")

    summary = tracking.flush_spool(spool_dir)

    assert (summary["written"], summary["failed"], summary["corrupt"]) == (1, 0, 2)
    assert not good.exists() and not truncated.exists() and not wrong_shape.exists()
    assert (spool_dir / (truncated.name + ".corrupt")).read_text() == '{"format": 1, "run_na'
    assert (spool_dir / (wrong_shape.name + ".corrupt")).is_file()
    assert temporary.exists()
    assert f"spool file {truncated} is unusable" in caplog.text
    assert f"spool file {wrong_shape} is unusable" in caplog.text
    assert [run.info.run_name for run in _runs(tracking_uri)] == ["good"]
    assert tracking.flush_spool(spool_dir)["corrupt"] == 0


def test_flushing_nothing_touches_nothing(tmp_path: Path) -> None:
    summary = tracking.flush_spool(tmp_path / "missing")
    assert (summary["written"], summary["failed"], summary["corrupt"]) == (0, 0, 0)
    assert not (tmp_path / "missing").exists()
    (tmp_path / "empty").mkdir()
    assert tracking.flush_spool(tmp_path / "empty")["written"] == 0
    assert list((tmp_path / "empty").iterdir()) == []


def test_flush_writes_runs_in_start_order_to_their_own_backends(
    tracking_uri: str, tmp_path: Path
) -> None:
    other_uri = tracking.default_tracking_uri(tmp_path / "other")
    spool_dir = tmp_path / "spool"
    for name, start in [("late", 3000), ("early", 1000), ("middle", 2000)]:
        _spool(JobRecord(name, start_ms=start), spool_dir, tracking_uri)
    _spool(JobRecord("elsewhere"), spool_dir, other_uri)

    summary = tracking.flush_spool(spool_dir)

    assert summary["written"] == 4
    runs = sorted(_runs(tracking_uri), key=lambda run: run.info.start_time)
    assert [run.info.run_name for run in runs] == ["early", "middle", "late"]
    assert [run.info.start_time for run in runs] == [1000, 2000, 3000]
    assert [run.info.run_name for run in _runs(other_uri)] == ["elsewhere"]


def test_concurrent_flushes_write_each_run_once(tracking_uri: str, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    for index in range(6):
        _spool(JobRecord(f"job{index}"), spool_dir, tracking_uri)
    code = (
        _BARRIER
        + """
summary = tracking.flush_spool(Path(sys.argv[3]))
print(summary["written"], summary["failed"])
"""
    )
    processes = [_run_python(code, str(tmp_path), str(w), str(spool_dir)) for w in range(2)]
    _release(processes, tmp_path)
    results = sorted(tuple(map(int, output.split())) for output in _finish(processes))

    assert results == [(0, 0), (6, 0)]
    assert sorted(run.info.run_name for run in _runs(tracking_uri)) == [
        f"job{index}" for index in range(6)
    ]
    assert list(spool_dir.glob("*.json")) == []


def test_flush_command_line(tracking_uri: str, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    _spool(JobRecord("from-cli"), spool_dir, tracking_uri)
    command = [sys.executable, "-m", "decoybench.tracking", "flush", "--spool-dir", str(spool_dir)]

    first = subprocess.run(command, capture_output=True, text=True, timeout=120)
    second = subprocess.run(command, capture_output=True, text=True, timeout=120)

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"MLflow spool {spool_dir}: 1 run(s) written in ")
    assert second.stdout.startswith(f"MLflow spool {spool_dir}: 0 run(s) written in ")
    assert [run.info.run_name for run in _runs(tracking_uri)] == ["from-cli"]


def test_default_spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert tracking.default_spool_dir() == tmp_path.resolve() / "results" / "mlflow-spool"
    assert tracking.default_spool_dir("elsewhere") == tmp_path.resolve() / "elsewhere/mlflow-spool"


def test_describe_flush() -> None:
    summary = {"written": 3, "failed": 1, "corrupt": 2, "seconds": 1.26}
    assert tracking.describe_flush(summary, "spool") == (
        "MLflow spool spool: 3 run(s) written, 1 kept for the next flush (see the warnings), "
        "2 unreadable file(s) set aside as *.corrupt in 1.3 s"
    )


# --------------------------------------------------------------------------- pure helpers


def test_resolve_tracking_uri_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = tracking.resolve_tracking_uri(None, tmp_path)
    assert default == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert default == tracking.default_tracking_uri(tmp_path)
    assert tracking.resolve_tracking_uri("", tmp_path) == default
    assert tracking.resolve_tracking_uri("sqlite:////x/y.db", tmp_path) == "sqlite:////x/y.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.resolve_tracking_uri("sqlite:////x/y.db", tmp_path) == "http://127.0.0.1:5000"
    assert tracking.resolve_tracking_uri(None, tmp_path) == "http://127.0.0.1:5000"


def test_default_uris_are_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert tracking.default_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/results/mlflow.db"
    assert tracking.artifact_root() == (tmp_path.resolve() / "results/mlflow-artifacts").as_uri()
    assert tracking.artifact_root().startswith("file:///")
    assert tracking.sqlite_path(tracking.default_tracking_uri()) == (
        tmp_path.resolve() / "results/mlflow.db"
    )
    assert tracking.sqlite_path("sqlite:///rel.db") == Path("rel.db")
    assert tracking.sqlite_path("sqlite://") is None
    assert tracking.sqlite_path("http://host") is None


def test_log_params_flattens_and_truncates() -> None:
    record = JobRecord("params")
    record.log_params(
        {
            "attack": {"name": "pgd", "eps": 0.3, "steps": np.int64(40), "norm": {"p": "inf"}},
            "grid": [1, 2, 3],
            "missing": None,
            "flag": True,
            "path": Path("a/b"),
            "long": "x" * 7000,
            "bad key!": 1,
        }
    )
    assert record.params["attack.name"] == "pgd"
    assert record.params["attack.eps"] == "0.3"
    assert record.params["attack.steps"] == "40"
    assert record.params["attack.norm.p"] == "inf"
    assert record.params["grid"] == "[1, 2, 3]"
    assert record.params["missing"] == "null"
    assert record.params["flag"] == "True"
    assert record.params["path"] == "a/b"
    assert len(record.params["long"]) == tracking.MAX_PARAM_VALUE_LENGTH
    assert record.params["bad key_"] == "1"


def test_log_metrics_keeps_only_finite_numbers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="decoybench.tracking")
    record = JobRecord("metrics")
    record.log_metrics(
        {
            "acc": 0.5,
            "count": 3,
            "ok": True,
            "np": {"f": np.float64(0.125), "i": np.int32(7), "b": np.bool_(False)},
            "nan": float("nan"),
            "inf": float("-inf"),
            "np_nan": np.float32("nan"),
            "name": "pgd",
            "none": None,
            "list": [1, 2],
        }
    )
    assert record.metrics == {
        "acc": 0.5,
        "count": 3.0,
        "ok": 1.0,
        "np.f": 0.125,
        "np.i": 7.0,
        "np.b": 0.0,
    }
    assert all(type(value) is float for value in record.metrics.values())
    assert "'name' skipped" in caplog.text


def test_set_tags_and_log_artifact() -> None:
    record = JobRecord("tags")
    record.set_tags({"rule": "attack", "seed": 3, "huge": "y" * 9000})
    record.log_artifact("a.txt")
    record.log_artifact(Path("a.txt"))
    assert record.tags["rule"] == "attack"
    assert record.tags["seed"] == "3"
    assert len(record.tags["huge"]) == tracking.MAX_TAG_VALUE_LENGTH
    assert record.artifacts == [Path("a.txt")]


def test_git_commit_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert tracking.git_commit(tmp_path) == "unknown"
    assert tracking.git_commit(tmp_path / "does-not-exist") == "unknown"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_inside_a_repository(tmp_path: Path) -> None:
    def git(*arguments: str) -> None:
        subprocess.run(["git", *arguments], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "file.txt").write_text("1")
    git("add", "file.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    commit = tracking.git_commit(tmp_path)
    assert len(commit) == 40
    (tmp_path / "file.txt").write_text("2")
    assert tracking.git_commit(tmp_path) == f"{commit}-dirty"
