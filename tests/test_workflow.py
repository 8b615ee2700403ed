"""The job wrapper every workflow script uses: log, one MLflow run, results never lost."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from snakemake.iocontainers import Namedlist

from decoybench.tracking import ensure_backend
from decoybench.workflow import job


def fake_snakemake(tmp_path: Path, tracking_uri: str) -> SimpleNamespace:
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
            "mlflow": {"tracking_uri": tracking_uri},
        },
    )


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch) -> str:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ensure_backend(uri, "unit")
    return uri


def runs(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("unit")
    return client, client.search_runs([experiment.experiment_id])


def test_a_job_logs_one_run_with_tags_params_metrics_and_artifacts(tmp_path, tracking_uri) -> None:
    snakemake = fake_snakemake(tmp_path, tracking_uri)
    stdout = sys.stdout
    with job(snakemake, artifacts=("table",)) as run:
        print("hello from the job")
        Path(snakemake.output.table).write_text("a,b\n1,2\n")
        run.log_metrics({"rates": {"target_asr": {"value": 0.5}}, "note": "not a number"})
    assert sys.stdout is stdout
    log = Path(snakemake.log[0]).read_text()
    assert "hello from the job" in log and "job make_attack_table/mnist5k finished" in log
    client, found = runs(tracking_uri)
    assert len(found) == 1
    run = found[0]
    assert run.info.run_name == "make_attack_table/mnist5k" and run.info.status == "FINISHED"
    assert run.data.tags["rule"] == "make_attack_table"
    assert run.data.tags["wildcard.dataset"] == "mnist5k"
    assert run.data.params["attack.epsilon"] == "0.1"
    assert run.data.metrics == {"rates.target_asr.value": 0.5}
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["table.csv"]


def test_a_failing_job_raises_and_logs_one_failed_run(tmp_path, tracking_uri) -> None:
    snakemake = fake_snakemake(tmp_path, tracking_uri)
    with pytest.raises(ZeroDivisionError), job(snakemake):
        1 / 0  # noqa: B018
    _, found = runs(tracking_uri)
    assert [run.info.status for run in found] == ["FAILED"]
    log = Path(snakemake.log[0]).read_text()
    assert "Traceback" in log and "ZeroDivisionError" in log, "the job log must say why"


def test_a_broken_tracking_backend_never_loses_the_result(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    snakemake = fake_snakemake(tmp_path, f"sqlite:///{blocker / 'mlflow.db'}")
    with job(snakemake) as run:
        Path(snakemake.output.table).write_text("kept\n")
        run.log_metrics({"x": 1.0})
    assert Path(snakemake.output.table).read_text() == "kept\n"
    log = Path(snakemake.log[0]).read_text()
    assert "WARNING" in log and "MLflow run not written" in log
