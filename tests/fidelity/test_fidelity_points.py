"""Sweep points, their config overrides and the nested run (decoybench.fidelity)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from decoybench.fidelity import workflow
from decoybench.fidelity.points import SweepPoint, nested_override, point_label, sweep_points
from decoybench.fidelity.run import point_config, run_point

FIDELITY = {
    "papers": {
        "attractors": {
            "title": "Attractors",
            "base": "config/fidelity/attractors.yaml",
            "tables": ["attractor_claims"],
            "sweeps": {
                "a2": {"kind": "choice", "key": "defenses.attractor.A2", "values": [0.01, 1.0]},
                "intervals": {
                    "kind": "choice",
                    "key": "defenses.attractor.intervals",
                    "values": [[8, 128]],
                },
                "victim": {
                    "kind": "scale",
                    "key": "models.victim",
                    "labels": ["madry-cnn"],
                    "values": [{"architecture": "luring_mnist_cnn", "epochs": 5}],
                },
            },
        }
    }
}


def test_points_expand_in_config_order_with_labels() -> None:
    points = list(sweep_points(FIDELITY))
    assert [(p.sweep, p.label) for p in points] == [
        ("a2", "00-0.01"),
        ("a2", "01-1.0"),
        ("intervals", "00-8_128"),
        ("victim", "00-madry-cnn"),
    ]
    assert points[3].kind == "scale" and points[3].value["epochs"] == 5
    assert point_label(3, "a b/c") == "03-a_b_c"


def test_labels_must_match_values() -> None:
    bad = {"papers": {"p": {"sweeps": {"s": {"kind": "scale", "key": "a.b", "values": [1, 2],
                                             "labels": ["one"]}}}}}  # fmt: skip
    with pytest.raises(ValueError, match="labels has 1 entries, values 2"):
        list(sweep_points(bad))


def test_overrides_nest_the_dotted_key() -> None:
    assert nested_override("defenses.attractor.A2", 0.2) == {"defenses": {"attractor": {"A2": 0.2}}}
    assert nested_override("defenses", {"luring": {"epochs": 3}}) == {
        "defenses": {"luring": {"epochs": 3}}
    }
    with pytest.raises(ValueError, match="dotted config path"):
        nested_override("a..b", 1)
    point = SweepPoint("attractors", "a2", "choice", "defenses.attractor.A2", 0.2, 1)
    assert point_config(point, "mnist5k") == {
        "name": "fidelity-attractors",
        "targets": ["mnist5k"],
        "defenses": {"attractor": {"A2": 0.2}},
    }


def test_workflow_helpers_name_files_and_points() -> None:
    config = {"targets": ["mnist5k"], "fidelity": FIDELITY}
    assert workflow.outputs(config) == ["results/mnist5k/fidelity/attractors.md"]
    files = workflow.point_files(config, "mnist5k", "attractors")
    assert files[0] == "results/mnist5k/fidelity/points/attractors/a2/00-0.01/point.json"
    assert len(files) == 4
    found = workflow.find_point(config, "attractors", "victim", "00-madry-cnn")
    assert found["key"] == "models.victim" and found["name"] == "madry-cnn"
    with pytest.raises(KeyError, match="no fidelity point"):
        workflow.find_point(config, "attractors", "a2", "09-3")
    with pytest.raises(KeyError, match="known: attractors"):
        workflow.paper_settings(config, "luring")


def test_run_point_runs_the_workflow_in_its_directory(tmp_path: Path, monkeypatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake_run(command, env, stdout, stderr, check):
        calls.append({"command": command, "env": env})
        directory = Path(command[command.index("--directory") + 1])
        table = directory / "results" / "mnist5k" / "tables" / "attractor_claims.csv"
        table.parent.mkdir(parents=True, exist_ok=True)
        table.write_text("key,verdict\nfig7_attracted,fails\n")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    stale = tmp_path / "run" / ".snakemake" / "locks" / "0.output.lock"
    stale.parent.mkdir(parents=True)
    stale.write_text("killed")
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    base = repo / "config" / "fidelity.yaml"
    base.write_text("evaluation: {n_samples: 10}\n")
    point = SweepPoint("attractors", "a2", "choice", "defenses.attractor.A2", 0.2, 1)
    record = run_point(
        point=point, dataset="mnist5k", base_config=base, tables=["attractor_claims"],
        workdir=tmp_path / "run", out_dir=tmp_path / "out", cores=1, repo_root=repo,
        tracking_uri="sqlite:////tmp/x.db",
    )  # fmt: skip
    command = calls[0]["command"]
    configfiles = command[command.index("--configfile") + 1 : command.index("--cores")]
    assert configfiles == [str(base.resolve()), str((tmp_path / "run" / "point.yaml").resolve())]
    assert command[-1] == "results/mnist5k/tables/attractor_claims.csv"
    assert calls[0]["env"]["MLFLOW_TRACKING_URI"] == "sqlite:////tmp/x.db"
    assert (tmp_path / "run" / "config").resolve() == (repo / "config").resolve()
    override = yaml.safe_load((tmp_path / "run" / "point.yaml").read_text())
    assert override["defenses"] == {"attractor": {"A2": 0.2}}
    assert (tmp_path / "out" / "attractor_claims.csv").read_text().startswith("key,verdict")
    assert json.loads((tmp_path / "out" / "point.json").read_text()) == record
    assert record["label"] == "01-0.2"
    assert not stale.exists()  # a killed nested run's lock does not block the re-run


def test_a_failed_point_names_itself(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(
        subprocess, "run", lambda command, **_: subprocess.CompletedProcess(command, 1)
    )
    (tmp_path / "config").mkdir()
    point = SweepPoint("luring", "b_class", "choice", "defenses.luring.b_class", "x", 0)
    with pytest.raises(RuntimeError, match="luring/b_class/00-x failed"):
        run_point(
            point=point, dataset="mnist5k", base_config=tmp_path / "b.yaml",
            tables=["luring_claims"], workdir=tmp_path / "run", out_dir=tmp_path / "out",
            cores=1, repo_root=tmp_path, tracking_uri="sqlite://",
        )  # fmt: skip
    assert not (tmp_path / "out" / "point.json").exists()


def test_the_base_digest_follows_the_default_config_not_the_fidelity_key() -> None:
    config = {"models": {"victim": {"epochs": 10}}, "fidelity": FIDELITY}
    digest = workflow.base_digest(config)
    assert workflow.base_digest({**config, "fidelity": {"papers": {}}}) == digest
    assert workflow.base_digest({**config, "models": {"victim": {"epochs": 20}}}) != digest
