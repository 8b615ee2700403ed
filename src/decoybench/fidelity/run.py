"""Run one sweep point: the workflow itself, under the point's config, in its own directory.

A point is a full, reproducible run (`snakemake --directory <point> --configfile <base>
<point.yaml> <claims table>`): its data, models and cells are its own, so nothing a point
changes (the victim's epochs, the decoder's intervals) can leak into the default run or
another point, and the claims are computed by the very code the default run uses. Its jobs
log to the caller's MLflow backend (experiment `fidelity-<paper>`).

Nested Snakemake is used because a Snakemake module cannot override config values per
instance in a way that reaches every input function here; each point directory keeps its
own `.snakemake/` state, so a killed fidelity run resumes point by point.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from decoybench.fidelity.points import SweepPoint, nested_override
from decoybench.io import atomic_path, write_json, write_text

__all__ = ["point_config", "run_point"]


def point_config(point: SweepPoint, dataset: str) -> dict[str, Any]:
    """The override of one point: its experiment name, the one target, and `key` = value."""
    return {
        "name": f"fidelity-{point.paper}",
        "targets": [dataset],
        **nested_override(point.key, point.value),
    }


def run_point(
    *,
    point: SweepPoint,
    dataset: str,
    base_config: str | Path,
    tables: list[str],
    workdir: str | Path,
    out_dir: str | Path,
    cores: int,
    repo_root: str | Path,
    tracking_uri: str,
    log: Any = None,
) -> dict[str, Any]:
    """Run `point` in `workdir` and copy its claims `tables` (CSV) into `out_dir`, with
    `point.json` (the point and its config). Raises RuntimeError naming the log when the
    nested run fails."""
    repo_root, workdir, out_dir = Path(repo_root).resolve(), Path(workdir), Path(out_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    # The calling job owns this directory (Snakemake locks the point's output), so a lock a
    # killed nested run left in it is stale: clear it, as `snakemake --unlock` would.
    shutil.rmtree(workdir / ".snakemake" / "locks", ignore_errors=True)
    link = workdir / "config"
    if not link.exists():
        link.symlink_to(repo_root / "config", target_is_directory=True)
    override = point_config(point, dataset)
    write_text(workdir / "point.yaml", yaml.safe_dump(override, sort_keys=False))
    targets = [f"results/{dataset}/tables/{table}.csv" for table in tables]
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(repo_root / "Snakefile"),
        "--directory", str(workdir.resolve()),
        "--configfile", str(Path(base_config).resolve()), str((workdir / "point.yaml").resolve()),
        "--cores", str(cores),
        "--rerun-incomplete",
        *targets,
    ]  # fmt: skip
    environment = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    completed = subprocess.run(
        command,
        env=environment,
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"fidelity point {point.paper}/{point.sweep}/{point.label} failed (exit "
            f"{completed.returncode}): see its log and {workdir}/.snakemake/log/"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for table, target in zip(tables, targets, strict=True):
        with atomic_path(out_dir / f"{table}.csv") as temporary:
            shutil.copyfile(workdir / target, temporary)
    record = {
        "paper": point.paper,
        "sweep": point.sweep,
        "kind": point.kind,
        "key": point.key,
        "value": point.value,
        "index": point.index,
        "label": point.label,
        "override": override,
        "base_config": str(base_config),
        "tables": tables,
    }
    write_json(out_dir / "point.json", record)
    return record
