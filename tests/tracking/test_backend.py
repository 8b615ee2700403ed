"""Tests of decoybench.tracking.backend: URIs, the sqlite database, experiments."""

from __future__ import annotations

from pathlib import Path

import pytest
from tracking_helpers import _BARRIER, EXPERIMENT, _finish, _release, _run_python, _runs

from decoybench import tracking
from decoybench.tracking import ensure_backend

# --------------------------------------------------------------------------- backend


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


# --------------------------------------------------------------------------- URIs


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
