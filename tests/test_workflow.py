"""The job wrapper every workflow script uses: log, one MLflow run, results never lost."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from snakemake.iocontainers import Namedlist

from decoybench.tracking import ensure_backend, flush_spool
from decoybench.workflow import job


def fake_snakemake(tmp_path: Path, tracking_uri: str, **mlflow: Any) -> SimpleNamespace:
    output = Namedlist(fromdict={"table": str(tmp_path / "table.csv")})
    return SimpleNamespace(
        rule="make_attack_table",
        wildcards=Namedlist(fromdict={"dataset": "mnist5k"}),
        params=Namedlist(fromdict={"attack": {"attack": "fgsm", "epsilon": 0.1}}),
        log=Namedlist([str(tmp_path / "logs" / "job.log")]),
        output=output,
        threads=1,
        config={
            "name": "unit",
            "seed": 0,
            "device": "cpu",
            "mlflow": {"tracking_uri": tracking_uri, **mlflow},
        },
    )


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch) -> None:
    """Jobs spool under ./results/mlflow-spool: keep that inside tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def tracking_uri(tmp_path) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ensure_backend(uri, "unit")
    return uri


def runs(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("unit")
    return client, client.search_runs([experiment.experiment_id])


def spool_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "results" / "mlflow-spool").glob("*.json"))


def run_table_job(snakemake: SimpleNamespace) -> None:
    stdout = sys.stdout
    with job(snakemake, artifacts=("table",)) as run:
        print("hello from the job")
        Path(snakemake.output.table).write_text("a,b\n1,2\n")
        run.log_metrics({"rates": {"target_asr": {"value": 0.5}}, "note": "not a number"})
    assert sys.stdout is stdout


def assert_the_table_run(uri: str) -> Any:
    client, found = runs(uri)
    assert len(found) == 1
    run = found[0]
    assert run.info.run_name == "make_attack_table/mnist5k" and run.info.status == "FINISHED"
    assert run.data.tags["rule"] == "make_attack_table"
    assert run.data.tags["wildcard.dataset"] == "mnist5k"
    assert run.data.params["attack.epsilon"] == "0.1"
    assert run.data.metrics == {"rates.target_asr.value": 0.5}
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["table.csv"]
    return run


def test_a_job_logs_one_run_with_tags_params_metrics_and_artifacts(tmp_path, tracking_uri) -> None:
    snakemake = fake_snakemake(tmp_path, tracking_uri, defer=False)
    run_table_job(snakemake)
    log = Path(snakemake.log[0]).read_text()
    assert "hello from the job" in log and "job make_attack_table/mnist5k finished" in log
    run = assert_the_table_run(tracking_uri)
    assert f"MLflow run {run.info.run_id}" in log
    assert spool_files(tmp_path) == []


def test_by_default_a_job_spools_its_run_for_the_flush(tmp_path) -> None:
    database = tmp_path / "deferred" / "mlflow.db"
    uri = f"sqlite:///{database}"
    snakemake = fake_snakemake(tmp_path, uri)  # no `defer` key: the default
    assert "defer" not in snakemake.config["mlflow"]
    started = int(time.time() * 1000)
    run_table_job(snakemake)
    ended = int(time.time() * 1000)

    assert not database.parent.exists(), "a deferred job must not touch the backend"
    (spooled,) = spool_files(tmp_path)
    log = Path(snakemake.log[0]).read_text()
    assert f"job make_attack_table/mnist5k finished; MLflow run spooled to {spooled}" in log
    content = json.loads(spooled.read_text())
    assert content["tracking_uri"] == uri and content["experiment_name"] == "unit"
    assert content["status"] == "FINISHED"
    assert content["artifacts"] == [str(tmp_path / "table.csv")]

    summary = flush_spool(tmp_path / "results" / "mlflow-spool")

    assert (summary["written"], summary["failed"]) == (1, 0)
    assert spool_files(tmp_path) == []
    run = assert_the_table_run(uri)
    assert started <= run.info.start_time <= run.info.end_time <= ended


def test_a_failing_job_raises_and_logs_one_failed_run(tmp_path, tracking_uri) -> None:
    snakemake = fake_snakemake(tmp_path, tracking_uri, defer=False)
    with pytest.raises(ZeroDivisionError), job(snakemake):
        1 / 0  # noqa: B018
    _, found = runs(tracking_uri)
    assert [run.info.status for run in found] == ["FAILED"]
    log = Path(snakemake.log[0]).read_text()
    assert "Traceback" in log and "ZeroDivisionError" in log, "the job log must say why"


def test_a_failing_deferred_job_spools_a_failed_run(tmp_path, tracking_uri) -> None:
    snakemake = fake_snakemake(tmp_path, tracking_uri, defer=True)
    with pytest.raises(ZeroDivisionError), job(snakemake):
        1 / 0  # noqa: B018
    assert runs(tracking_uri)[1] == []
    assert flush_spool(tmp_path / "results" / "mlflow-spool")["written"] == 1
    _, found = runs(tracking_uri)
    assert [run.info.status for run in found] == ["FAILED"]


@pytest.mark.parametrize("defer", [False, True])
def test_a_broken_tracking_backend_never_loses_the_result(tmp_path, defer) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    snakemake = fake_snakemake(tmp_path, f"sqlite:///{blocker / 'mlflow.db'}", defer=defer)
    with job(snakemake) as run:
        Path(snakemake.output.table).write_text("kept\n")
        run.log_metrics({"x": 1.0})
    assert Path(snakemake.output.table).read_text() == "kept\n"
    log = Path(snakemake.log[0]).read_text()
    if not defer:
        assert "WARNING" in log and "MLflow run not written" in log
        return
    (spooled,) = spool_files(tmp_path)
    summary = flush_spool(spooled.parent)
    assert (summary["written"], summary["failed"]) == (0, 1)
    assert spooled.exists(), "an unwritten run stays spooled for the next flush"


def test_an_unwritable_spool_writes_the_run_from_the_job(tmp_path, tracking_uri) -> None:
    (tmp_path / "results").write_text("a file where the spool folder would go")
    snakemake = fake_snakemake(tmp_path, tracking_uri)
    run_table_job(snakemake)
    log = Path(snakemake.log[0]).read_text()
    assert "WARNING" in log and "could not spool run 'make_attack_table/mnist5k'" in log
    assert "MLflow run not spooled" in log
    assert_the_table_run(tracking_uri)


def test_job_threads_follow_the_slurm_allocation_when_larger() -> None:
    """--cores all caps `threads` at the login node's cores; Slurm's allocation is not."""
    from decoybench.workflow import job_threads

    assert job_threads(1, {}) == 1
    assert job_threads(4, {"SLURM_CPUS_PER_TASK": "16"}) == 16
    assert job_threads(8, {"SLURM_CPUS_PER_TASK": "2"}) == 8
    assert job_threads(0, {"SLURM_CPUS_PER_TASK": "not a number"}) == 1
