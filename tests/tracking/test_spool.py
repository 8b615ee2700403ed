"""Tests of decoybench.tracking.spool: spooled runs, crash-safe and concurrent flushes, the
command line."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tracking_helpers import _BARRIER, EXPERIMENT, _finish, _release, _run_python, _runs

from decoybench import tracking
from decoybench.tracking import JobRecord

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

    monkeypatch.setattr("decoybench.tracking.spool.write_run", failing_write_run)
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
