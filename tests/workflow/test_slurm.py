"""`--profile slurm` on a real, local, single-node Slurm (scripts/local-slurm.sh): the jobs go
through sbatch, and the outputs equal a local run's."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from test_e2e import tiny_config

pytestmark = pytest.mark.slurm

SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
STATE = Path("/tmp/decoybench-slurm-test")
# The cells and rules of the run: the data (a localrule), the victim, two white-box cells
# and their table and figure.
REMOTE_RULES = {
    "train_model": 1,
    "attack_cell": 2,
    "make_attack_table": 1,
    "plot_attack_success": 1,
}


def _unavailable() -> str | None:
    """Why this machine cannot host the local cluster, or None."""
    if os.geteuid() != 0:
        return "needs root (munged, slurmctld and slurmd are started by the script)"
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        return "needs Debian's apt-get to install Slurm, or Slurm installed"
    if SYSTEM_CONF.exists() and not SYSTEM_CONF.is_symlink():
        return f"{SYSTEM_CONF} belongs to a real cluster: the test must not submit to it"
    running = subprocess.run(  # live ones only: a stopped daemon may linger as a zombie
        ["pgrep", "-x", "-r", "R,S,D", "slurmctld"], capture_output=True, check=False
    )
    if running.returncode == 0:
        return "a slurmctld is already running on this machine"
    return None


def small_config(repository_root: Path) -> dict[str, Any]:
    config = copy.deepcopy(tiny_config(repository_root))
    config["name"] = "slurm-tiny"
    config["defenses"] = {}
    config["models"] = {"victim": config["models"]["victim"]}
    config["settings"] = {"whitebox": {"kind": "whitebox"}}
    config["evaluation"] = {
        "n_samples": 20,
        "batch_size": 10,
        "cells": [
            {
                "setting": "whitebox",
                "defense": "undefended",
                "attacks": ["pgd_linf_0.3", "fgsm_0.1"],
            }
        ],
    }
    return config


def run_snakemake(repository_root: Path, workdir: Path, *arguments: str) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SLURM_"))}
    completed = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", "Snakefile", "-d", str(workdir), *arguments],
        cwd=repository_root,  # `--profile slurm` resolves from the repository root
        capture_output=True,
        text=True,
        env=environment,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]


@pytest.fixture(scope="module")
def cluster(repository_root: Path):
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    script = repository_root / "scripts" / "local-slurm.sh"
    environment = {**os.environ, "LOCAL_SLURM_DIR": str(STATE)}
    subprocess.run([str(script), "up"], env=environment, check=True, timeout=300)
    try:
        yield
    finally:
        subprocess.run([str(script), "down"], env=environment, check=False, timeout=60)


def test_profile_slurm_submits_every_job_and_matches_a_local_run(
    cluster, repository_root: Path, tmp_path: Path
) -> None:
    config = small_config(repository_root)
    workdirs = {}
    for name in ("local", "slurm"):
        workdir = tmp_path / name
        (workdir / "config").mkdir(parents=True)
        (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
        workdirs[name] = workdir
    run_snakemake(repository_root, workdirs["local"], "--cores", "2")
    # One CPU per job, as locally: torch's CPU kernels may sum in another order on more
    # threads, and the outputs are compared byte for byte.
    run_snakemake(
        repository_root,
        workdirs["slurm"],
        "--cores",
        "all",
        "--profile",
        "slurm",
        "--slurm-status-command",
        "squeue",
        "--slurm-keep-successful-logs",
        "--default-resources",
        "mem_mb=2000",
        "runtime=30",
        "cpus_per_task=1",
        "--set-resources",
        *(f"{rule}:cpus_per_task=1" for rule in REMOTE_RULES),
    )
    squeue = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%T"],
        capture_output=True,
        text=True,
        check=True,
    )
    states = [line.split()[0] for line in squeue.stdout.splitlines()]
    assert states == ["COMPLETED"] * sum(REMOTE_RULES.values()), squeue.stdout
    slurm_logs = workdirs["slurm"] / "logs" / "slurm"
    for rule, count in REMOTE_RULES.items():
        assert len(list((slurm_logs / f"rule_{rule}").rglob("*.log"))) == count, rule
    assert not (slurm_logs / "rule_prepare_dataset").exists()  # a localrule
    for relative in (
        "results/mnist5k/tables/attack_success.csv",
        "results/mnist5k/models/victim.safetensors",
    ):
        local = (workdirs["local"] / relative).read_bytes()
        assert (workdirs["slurm"] / relative).read_bytes() == local, relative
    adversarial = "results/mnist5k/adv/whitebox/undefended/pgd_linf_0.3.npz"
    local, remote = (np.load(workdirs[name] / adversarial) for name in ("local", "slurm"))
    assert np.array_equal(local["x_adv"], remote["x_adv"])
