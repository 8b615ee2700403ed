"""Fixtures of the decoybench.tracking tests: a quiet MLflow and a fresh sqlite backend."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tracking_helpers import EXPERIMENT

from decoybench import tracking
from decoybench.tracking import ensure_backend


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
