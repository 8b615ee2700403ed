"""Tests of decoybench.tracking.write: one MLflow run per job, retries, parallel writers,
and `JobRecord`'s keys and values."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
from tracking_helpers import _BARRIER, EXPERIMENT, _finish, _release, _run_python, _runs

from decoybench import tracking
from decoybench.tracking import JobRecord, write_run

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


def test_a_series_is_one_metric_with_a_value_per_step(tracking_uri: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    record = JobRecord("attack")
    record.log_metrics({"asr": 0.5})
    record.log_series("loss_trace", [3.0, 2.5, float("nan"), 1.0])
    spooled = tracking.spool_run(
        record, spool_dir=tmp_path / "spool", tracking_uri=tracking_uri,
        experiment_name=EXPERIMENT, status="FINISHED",
    )  # fmt: skip
    tracking.flush_spool(tmp_path / "spool")  # through the spool, as a job writes it

    (run,) = _runs(tracking_uri)
    assert run.data.metrics == {"asr": 0.5, "loss_trace": 1.0}  # the last step
    history = MlflowClient(tracking_uri).get_metric_history(run.info.run_id, "loss_trace")
    assert [(point.step, point.value) for point in history] == [(0, 3.0), (1, 2.5), (3, 1.0)]
    assert not Path(spooled).exists()


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


# --------------------------------------------------------------------------- record


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
