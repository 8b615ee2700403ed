"""The real Snakemake DAG on a tiny config, twice: outputs, MLflow runs, reproducibility."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from vcs import dvc, git

from decoybench.config import load_yaml

pytestmark = pytest.mark.e2e

EXPECTED_JOBS = {
    "prepare_dataset": 1,
    "train_model": 2,
    "build_attractor_defense": 1,
    "make_clean_accuracy_table": 1,
    "attack_cell": 15,
    "build_luring_defense": 2,
    "analyze_luring": 1,
    "make_luring_tables": 1,
    "plot_luring_figures": 1,
    "build_multitask_defense": 1,
    "make_multitask_tables": 1,
    "plot_multitask_figures": 1,
    "make_attack_table": 1,
    "plot_attack_success": 1,
    "make_attractor_tables": 1,
    "analyze_attractors": 1,
    "plot_attractor_figures": 1,
    "analyze_trapdoor_counterexample": 1,
    "plot_trapdoor_counterexample": 1,
    "build_baseline_defense": 4,
    "score_lid": 1,
    "score_feature_squeezing": 1,
    "score_magnet": 1,
    "make_baseline_tables": 1,
    "plot_baseline_figures": 1,
    "adaptive_cell": 5,
    "score_leaderboard_row": 4,
    "sweep_epsilon": 4,
    "make_leaderboard_tables": 1,
    "plot_leaderboard": 1,
}
ADAPTIVE = ("undefended", "attractor", "lid", "luring")


def tiny_config(repository_root: Path) -> dict[str, Any]:
    """The default config scaled down: 300 images, 1-6 epochs, 5 PGD steps, 20 samples; two of
    the four luring approaches; the multitask defense in its three settings; the four
    baselines (LID, FS and MagNet scoring the white-box sets, Trapdoor crafting its own);
    adaptive cells and leaderboard rows for four defenses (ADAPTIVE)."""
    config = copy.deepcopy(load_yaml(repository_root / "config" / "config.yaml"))
    config["name"] = "tiny"
    config["datasets"]["mnist5k"]["max_images"] = 300
    config["models"] = {
        # Adam: two epochs of SGD on 240 images leave the victim constant (10%), and LID
        # then finds no successful adversarial example to train on.
        "victim": {
            "architecture": "deepsec_mnist_cnn",
            "epochs": 3,
            "batch_size": 32,
            "optimizer": "adam",
            "learning_rate": 0.001,
        },
        "s_mnist": {**config["models"]["s_mnist"], "epochs": 1},
    }
    config["attacks"]["pgd_linf_0.3"]["steps"] = 5
    config["attacks"]["cw2c_k0"].update(steps=10, binary_search_steps=2)
    for name in ("gx_pgd_0.3", "opgd_0.3"):
        config["attacks"][name]["steps"] = 5
    config["defenses"] = {
        "attractor": config["defenses"]["attractor"],
        "luring": {
            **config["defenses"]["luring"],
            "epochs": 6,
            "lr_milestones": [],
            "learning_rates": [1e-3],
        },
        "luring_ce": {
            **config["defenses"]["luring_ce"],
            "epochs": 6,
            "lr_milestones": [],
            "learning_rates": [1e-3],
        },
        "multitask": {**config["defenses"]["multitask"], "epochs": 1, "batch_size": 32},
        "lid": {
            **config["defenses"]["lid"], "k": 5, "batch_size": 20,
            "training_attack": "pgd_linf_0.3", "training_samples": 150,
        },
        "feature_squeezing": config["defenses"]["feature_squeezing"],
        "magnet": {**config["defenses"]["magnet"], "epochs": 1},
        "trapdoor": {**config["defenses"]["trapdoor"], "epochs": 1, "signature_samples": 10},
    }  # fmt: skip
    config["settings"] = {
        "whitebox": {"kind": "whitebox"},
        "transfer_s_mnist": {"kind": "transfer", "source": "s_mnist"},
        "forensic": {"kind": "forensic"},
        "integrated": {"kind": "integrated"},
        "transfer_public": {"kind": "transfer"},
        "greybox": {"kind": "greybox"},
        "near_whitebox": {"kind": "near_whitebox"},
        "adaptive": {"kind": "adaptive"},
    }
    both = ["pgd_linf_0.3", "fgsm_0.1"]
    config["evaluation"] = {
        "n_samples": 20,
        "batch_size": 10,
        "cells": [
            {"setting": "whitebox", "defense": "undefended", "attacks": both},
            {"setting": "transfer_s_mnist", "defense": "undefended", "attacks": both},
            {"setting": "forensic", "defense": "attractor", "attacks": both},
            {"setting": "integrated", "defense": "attractor", "attacks": ["fgsm_0.1"]},
            {"setting": "transfer_public", "defense": "luring", "attacks": ["fgsm_0.3"]},
            {"setting": "transfer_public", "defense": "luring_ce", "attacks": ["fgsm_0.3"]},
            {"setting": "transfer_s_mnist", "defense": "multitask", "attacks": ["fgsm_0.1"]},
            {"setting": "greybox", "defense": "multitask", "attacks": ["fgsm_0.05"]},
            {"setting": "near_whitebox", "defense": "multitask", "attacks": ["cw2c_k0"]},
            {"setting": "whitebox", "defense": "undefended", "attacks": ["cw2c_k0"]},
            {"setting": "forensic", "defense": "lid", "attacks": both},
            {"setting": "forensic", "defense": "feature_squeezing", "attacks": both},
            {"setting": "forensic", "defense": "magnet", "attacks": both},
            {"setting": "forensic", "defense": "trapdoor", "attacks": ["fgsm_0.1"]},
            {"setting": "transfer_public", "defense": "trapdoor", "attacks": ["fgsm_0.3"]},
            {"setting": "adaptive", "defense": "undefended",
             "attacks": ["gx_pgd_0.3", "opgd_0.3"]},
            *({"setting": "adaptive", "defense": name, "attacks": ["gx_pgd_0.3"]}
              for name in ADAPTIVE[1:]),
        ],
        "leaderboard": {
            "n_samples": 20,
            "epsilon_sweep": {"attack": "gx_pgd_0.3", "epsilons": [0.1, 1.0], "n_samples": 10},
        },
        "luring_analysis": {"n_samples": 8, "saliency_samples": 2, "batch_size": 8},
        "attractor_analysis": {
            "n_samples": 8, "density_radius": 2.0, "density_samples": 4, "batch_size": 8,
        },
    }  # fmt: skip
    return config


def snakemake(repository_root: Path, workdir: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(repository_root / "Snakefile"),
            "-d",
            str(workdir),
            *arguments,
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )


def write_config(workdir: Path, config: dict[str, Any]) -> None:
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def two_runs(repository_root, tmp_path_factory) -> tuple[Path, Path]:
    """The tiny DAG run in two fresh directories with the same config and seed."""
    config = tiny_config(repository_root)
    workdirs = []
    for name in ("first", "second"):
        workdir = tmp_path_factory.mktemp(name)
        write_config(workdir, config)
        completed = snakemake(repository_root, workdir, "--cores", "2")
        assert completed.returncode == 0, completed.stderr[-4000:]
        workdirs.append(workdir)
    return workdirs[0], workdirs[1]


def test_dag_writes_the_table_and_the_figure(two_runs) -> None:
    first, _ = two_runs
    table = pd.read_csv(first / "results/mnist5k/tables/attack_success.csv")
    assert len(table) == 15  # LID, FS and MagNet cells are in the baseline tables only
    assert set(table["setting"]) == {
        "whitebox", "transfer_s_mnist", "forensic", "integrated", "transfer_public", "greybox",
        "near_whitebox",
    }  # fmt: skip
    assert (table["n_attempted"] == 20).all()
    whitebox = table[table["setting"] == "whitebox"]
    assert (whitebox["source_asr"] == whitebox["target_asr"]).all()
    assert ((table["mean_linf"] <= 0.3 + 1e-6) | table["mean_linf"].isna()).all()
    assert (first / "results/mnist5k/tables/attack_success.md").read_text().startswith("| setting")
    png = (first / "results/mnist5k/figures/attack_success.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert (first / "results/mnist5k/figures/attack_success.pdf").read_bytes().startswith(b"%PDF")
    for rule in EXPECTED_JOBS:
        assert list((first / "logs" / rule).rglob("*.log")), rule
        assert list((first / "benchmarks" / rule).rglob("*.tsv")), rule


def test_dag_writes_the_attractor_tables_and_figures(two_runs) -> None:
    first, _ = two_runs
    tables = first / "results/mnist5k/tables"
    cells = pd.read_csv(tables / "attack_success.csv").set_index(["setting", "defense", "attack"])
    forensic = pd.read_csv(tables / "attractor_forensic.csv").set_index("attack")
    assert list(forensic.index) == ["fgsm_0.1", "pgd_linf_0.3"]  # the paper's row order
    assert list(forensic["paper_row"]) == ["FGSM", "PGD"]
    for attack, row in forensic.iterrows():  # ASR on C is the white-box cell's
        whitebox = cells.loc[("whitebox", "undefended", attack), "target_asr_count"]
        assert row["asr_victim_count"] == whitebox
        attracted = cells.loc[("forensic", "attractor", attack), "target_asr_count"]
        assert row["asr_attractor_count"] == attracted
        assert row["detection_total"] == row["asr_attractor_count"]
        assert row["overall_asr_count"] <= row["asr_attractor_count"]
    assert forensic.loc["pgd_linf_0.3", "paper_asr_attractor"] == pytest.approx(0.071)
    integrated = pd.read_csv(tables / "attractor_integrated.csv")
    assert list(integrated["attack"]) == ["fgsm_0.1"]
    low_fpr = pd.read_csv(tables / "attractor_low_fpr.csv")
    assert (low_fpr["tpr_2"] <= low_fpr["tpr_1"] + 1e-12).all()  # the stricter point
    clean = pd.read_csv(tables / "attractor_clean_accuracy.csv")
    assert clean["model"].str.startswith("integrated model").sum() == 2
    for name in ("attractor_detection", "attractor_distortion"):
        assert (tables / f"{name}.md").read_text().strip()
    claims = pd.read_csv(tables / "attractor_claims.csv")
    assert claims.loc[0, "claim"].startswith("clean accuracy of M")
    assert set(claims["verdict"]) <= {"holds", "fails", "undecided", "no data"}
    for name in ("attractor_strength", "attractor_cosines", "attractor_trapdoor"):
        png = (first / f"results/mnist5k/figures/{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
        assert (first / f"results/mnist5k/figures/{name}.pdf").read_bytes().startswith(b"%PDF")


def test_dag_writes_the_luring_tables_and_figures(two_runs) -> None:
    first, _ = two_runs
    tables = first / "results/mnist5k/tables"
    agreement = pd.read_csv(tables / "luring_agreement.csv")
    assert list(agreement["defense"].fillna("target")) == ["target", "luring", "luring_ce"]
    for defense in ("luring", "luring_ce"):
        sidecar_file = first / f"results/mnist5k/defenses/{defense}/defense.json"
        sidecar = json.loads(sidecar_file.read_text())
        row = agreement[agreement["defense"] == defense].iloc[0]
        assert row["test_accuracy_count"] == sidecar["table8"]["test_accuracy_augmented"]["count"]
        cell = json.loads(
            (first / f"results/mnist5k/eval/transfer_public/{defense}/fgsm_0.3.json").read_text()
        )
        assert cell["luring"]["approach"] == sidecar["approach"]
        assert cell["source_model"].endswith(f"+{defense}[{sidecar['approach']}]")
        assert cell["luring"]["rates"]["ac_m"]["total"] == cell["luring"]["n_selected"]
    characterization = pd.read_csv(tables / "luring_characterization.csv")
    assert set(characterization["defense"]) == {"luring", "luring_ce"}
    assert characterization["n_common"].nunique() == 1
    claims = pd.read_csv(tables / "luring_claims.csv")
    assert claims["claim"].str.contains("agreement").any()
    for name in ("luring_defense", "luring_distortion", "luring_logits"):
        assert (tables / f"{name}.md").read_text().strip()
    for name in ("luring_rates", "luring_distortion", "luring_saliency"):
        png = (first / f"results/mnist5k/figures/{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
        assert (first / f"results/mnist5k/figures/{name}.pdf").read_bytes().startswith(b"%PDF")


def test_dag_writes_the_multitask_tables_and_figures(two_runs) -> None:
    first, _ = two_runs
    tables = first / "results/mnist5k/tables"
    sidecar = json.loads((first / "results/mnist5k/defenses/multitask/defense.json").read_text())
    classmap = pd.read_csv(tables / "multitask_classmap.csv")
    assert list(classmap["paired_label"]) == sidecar["classmap"]["pairs"]
    assert (classmap["paired_label"] != classmap["class"]).all()
    artifact = pd.read_csv(first / "results/mnist5k/defenses/multitask/classmap.csv")
    assert list(artifact["paired_label"]) == sidecar["classmap"]["pairs"]
    blackbox = pd.read_csv(tables / "multitask_blackbox.csv")
    cell = json.loads(
        (first / "results/mnist5k/eval/transfer_s_mnist/multitask/fgsm_0.1.json").read_text()
    )
    row = blackbox[blackbox["attack_key"] == "fgsm_0.1"].iloc[0]
    rates = cell["multitask"]["rates"]
    assert row["accuracy_defended_count"] == rates["accuracy_defended"]["count"]
    assert row["accuracy_original_count"] == rates["accuracy_original"]["count"]
    assert row["paper_original"] == pytest.approx(0.343)
    greybox = pd.read_csv(tables / "multitask_greybox.csv")
    assert list(greybox["attack_key"]) == ["fgsm_0.05"]
    near = pd.read_csv(tables / "multitask_near_whitebox.csv")
    original = json.loads(
        (first / "results/mnist5k/eval/whitebox/undefended/cw2c_k0.json").read_text()
    )
    assert near.loc[0, "original_generation_rate_count"] == original["rates"]["target_asr"]["count"]
    benign = pd.read_csv(tables / "multitask_benign.csv").set_index("measure")
    assert (
        benign.loc["misdetection_rate", "rate_count"]
        == (sidecar["table6"]["misdetection_rate"]["count"])
    )
    claims = pd.read_csv(tables / "multitask_claims.csv")
    assert {"benign_accuracy_gap", "greybox_fgsm_detection", "blackbox_fgsm_accuracy"} <= set(
        claims["key"]
    )
    assert (tables / "multitask_cw_sweep.md").read_text().strip()
    for name in ("multitask_cw_transfer", "multitask_cw_detection", "multitask_classmaps"):
        png = (first / f"results/mnist5k/figures/{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
        assert (first / f"results/mnist5k/figures/{name}.pdf").read_bytes().startswith(b"%PDF")


def test_dag_writes_the_baseline_comparison(two_runs) -> None:
    """LID, FS and MagNet score the very sets of the white-box cells; Trapdoor crafts its
    own; Table III, Table 20 and the heat map come out."""
    first, _ = two_runs
    results = first / "results/mnist5k"
    for defense in ("lid", "feature_squeezing", "magnet"):
        for attack in ("pgd_linf_0.3", "fgsm_0.1"):
            cell = json.loads((results / f"eval/forensic/{defense}/{attack}.json").read_text())
            whitebox = json.loads((results / f"eval/whitebox/undefended/{attack}.json").read_text())
            assert cell["cell"]["adversarial_set"].endswith(f"adv/whitebox/undefended/{attack}.npz")
            assert cell["rates"]["target_asr"] == whitebox["rates"]["target_asr"]
            points = cell["forensic"]["operating_points"]
            assert [point["fpr_target"] for point in points] == [0.05, 0.005]
            assert points[0]["fpr"]["total"] == 30  # the whole clean test split
            assert not (results / f"adv/forensic/{defense}/{attack}.npz").exists()
            reformed = [point.get("overall_asr_reformed") for point in points]
            if defense == "magnet":  # the reformer's end-to-end rate, never above detection's
                assert all(
                    r["count"] <= p["overall_asr"]["count"]
                    for r, p in zip(reformed, points, strict=True)
                )
            else:
                assert reformed == [None, None]
    trapdoor = json.loads((results / "eval/forensic/trapdoor/fgsm_0.1.json").read_text())
    assert trapdoor["source_model"] == "victim+trapdoor[forensic]"
    assert (results / "adv/forensic/trapdoor/fgsm_0.1.npz").exists()
    public = json.loads((results / "eval/transfer_public/trapdoor/fgsm_0.3.json").read_text())
    assert public["luring"]["approach"] == "trapdoor"
    comparison = pd.read_csv(results / "tables/baseline_comparison.csv")
    at_5 = comparison[comparison["fpr_target"] == 0.05].set_index("attack")
    assert set(at_5.index) >= {"pgd_linf_0.3", "fgsm_0.1"}
    lid_pgd = json.loads((results / "eval/forensic/lid/pgd_linf_0.3.json").read_text())
    assert (
        at_5.loc["pgd_linf_0.3", "lid_tpr_count"]
        == (lid_pgd["forensic"]["operating_points"][0]["tpr"]["count"])
    )
    luring = pd.read_csv(results / "tables/baseline_luring.csv")
    assert list(luring["epsilon"]) == [0.3]
    assert (results / "tables/baseline_comparison.md").read_text().strip()
    png = (results / "figures/baseline_asr.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_dag_writes_the_leaderboard(two_runs) -> None:
    """Each adaptive defense is ranked on the same 20 images under its oblivious sets (a
    detection-only type's: the victim's white-box sets) and its adaptive ones; the sweep, the
    figures, the loss trace in the set and in MLflow, and the README section all come out."""
    from mlflow.tracking import MlflowClient

    from decoybench.leaderboard.summary import readme_section

    first, _ = two_runs
    results = first / "results/mnist5k"
    board = pd.read_csv(results / "tables/leaderboard.csv")
    assert sorted(board["defense"]) == sorted(ADAPTIVE)
    assert (board["n"] == 20).all() and (board["fpr_target"] == 0.05).all()
    for column in ("oblivious_linf_0.3", "adaptive_linf_0.3", "adaptive_l2_2.0"):
        assert (board[f"{column}_total"] == 20).all(), column
    lid = json.loads((results / "leaderboard/lid.json").read_text())
    assert {(entry["threat"], entry["setting"]) for entry in lid["attacks"]} == {
        ("oblivious", "forensic"), ("adaptive", "adaptive"),
    }  # fmt: skip
    attacks = pd.read_csv(results / "tables/adaptive_attacks.csv")
    assert set(attacks["fpr_target"]) == {0.05, 0.005}
    sweep = pd.read_csv(results / "tables/epsilon_sweep.csv")
    assert len(sweep) == len(ADAPTIVE) * 2 * 2  # defenses x ε x FPR
    arrays = np.load(results / "adv/adaptive/undefended/gx_pgd_0.3.npz")
    trace = arrays["loss_trace.combined_objective"]
    assert len(trace) >= 5
    client = MlflowClient(f"sqlite:///{first / 'results/mlflow.db'}")
    (run,) = client.search_runs(
        [client.get_experiment_by_name("tiny").experiment_id],
        "attributes.run_name = 'adaptive_cell/mnist5k/adaptive/undefended/gx_pgd_0.3'",
    )
    history = client.get_metric_history(run.info.run_id, "loss_trace.combined_objective")
    assert [point.value for point in history] == pytest.approx(trace.tolist())
    for name in ("leaderboard", "epsilon_sweep"):
        assert (results / f"figures/{name}.png").read_bytes().startswith(b"\x89PNG")
    section = readme_section(results / "tables")
    assert all(f"**{name}**" in section for name in ADAPTIVE)


def test_every_job_logged_exactly_one_mlflow_run(two_runs) -> None:
    from mlflow.tracking import MlflowClient

    first, _ = two_runs
    client = MlflowClient(f"sqlite:///{first / 'results' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.data.tags["rule"]] = counts.get(run.data.tags["rule"], 0) + 1
        assert run.info.status == "FINISHED"
        for tag in ("git_commit", "config_hash", "dataset", "data_sha256", "wildcard.dataset"):
            assert tag in run.data.tags, (run.info.run_name, tag)
    assert counts == EXPECTED_JOBS
    trained = {r.info.run_name: r for r in runs if r.data.tags["rule"] == "train_model"}
    sidecar = json.loads((first / "results/mnist5k/models/victim.json").read_text())
    victim = trained["train_model/mnist5k/victim"]
    assert victim.data.metrics["test_accuracy"] == pytest.approx(sidecar["test_accuracy"])
    assert victim.data.params["model.architecture"] == "deepsec_mnist_cnn"
    artifacts = [a.path for a in client.list_artifacts(victim.info.run_id)]
    assert "victim.json" in artifacts


def test_same_config_and_seed_give_identical_numbers(two_runs) -> None:
    first, second = two_runs
    for name in (
        "attack_success", "attractor_forensic", "attractor_integrated", "luring_agreement",
        "luring_characterization", "multitask_benign", "multitask_blackbox",
        "multitask_near_whitebox", "baseline_comparison", "baseline_luring",
    ):  # fmt: skip
        relative = f"results/mnist5k/tables/{name}.csv"
        assert (first / relative).read_text() == (second / relative).read_text()
    for model in ("victim", "s_mnist"):
        a, b = (
            json.loads((d / f"results/mnist5k/models/{model}.json").read_text()) for d in two_runs
        )
        assert a["weights_sha256"] == b["weights_sha256"]
        assert a["test_accuracy"] == b["test_accuracy"]
    manifests = [json.loads((d / "data/mnist5k/manifest.json").read_text()) for d in two_runs]
    assert manifests[0]["fingerprint"] == manifests[1]["fingerprint"]


CAPTION_NAMES_ITS_SOURCE = re.compile(
    r"(Tables?|Figures?|Fig\.) [IVX0-9]+|Sec\. [IVX]+|no single paper"
)


def report_captions(report: Path) -> dict[str, str]:
    """Output path -> caption (HTML) of every file embedded in a `snakemake --report` zip."""
    with zipfile.ZipFile(report) as archive:
        html = next(
            archive.read(name).decode() for name in archive.namelist() if name.endswith(".html")
        )
    captions, decoder = {}, json.JSONDecoder()
    for match in re.finditer(r'"(results/[^"]+)": \{"name": ', html):
        start = html.index('"caption": ', match.end()) + len('"caption": ')
        captions[match.group(1)], _ = decoder.raw_decode(html, start)
    return captions


def test_the_report_holds_every_table_and_figure_with_its_caption(
    two_runs, repository_root, tmp_path
) -> None:
    first, _ = two_runs
    report = tmp_path / "report.zip"
    completed = snakemake(repository_root, first, "--report", str(report))
    assert completed.returncode == 0, completed.stderr[-2000:]
    captions = report_captions(report)
    produced = {
        path.relative_to(first).as_posix()
        for pattern in ("results/mnist5k/tables/*.csv", "results/mnist5k/figures/*.png")
        for path in first.glob(pattern)
    }
    assert len(produced) >= 30
    assert set(captions) == produced
    vague = {path: caption for path, caption in captions.items() if not caption.strip()
             or not CAPTION_NAMES_ITS_SOURCE.search(caption)}  # fmt: skip
    assert not vague, vague


def planned_jobs(completed: subprocess.CompletedProcess) -> dict[str, int]:
    """Job counts of a dry run's `Job stats` table (empty when nothing is to be done)."""
    lines = (completed.stdout + completed.stderr).splitlines()
    if "Job stats:" not in lines:
        return {}
    counts = {}
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def test_a_rebuilt_dataset_retrains_every_model(two_runs, repository_root, tmp_path) -> None:
    """Data inputs are not ancient(), which would stop Snakemake from re-running what lies
    downstream of a re-run job: a changed dataset re-runs the whole DAG."""
    first, _ = two_runs
    override = tmp_path / "fewer_images.yaml"
    override.write_text(yaml.safe_dump({"datasets": {"mnist5k": {"max_images": 290}}}))
    completed = snakemake(
        repository_root, first, "-n", "--cores", "1", "--configfile", str(override)
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert planned_jobs(completed) == {**EXPECTED_JOBS, "all": 1}


# What a checkout holds besides the run: the workflow and the package it imports.
SOURCES = ("Snakefile", "rules", "workflow_scripts", "src/decoybench", "config/schema.yaml",
           "config/attacks", "config/attacks.schema.yaml", "envs", "report", ".gitignore",
           ".dvcignore")  # fmt: skip


def checkout_with_a_finished_run(repository_root: Path, run: Path, destination: Path) -> Path:
    """A user's checkout after a finished run: the run's config and outputs (timestamps
    kept) and the repository's sources, dated before the run as they were when it was made.
    In the clone that reproduces it the sources are checked out fresh, newer than the pinned
    outputs were: Snakemake re-runs a job whose outputs are older than its script, so the
    pulled files must end up newer than the checkout."""
    shutil.copytree(run, destination)
    for name in SOURCES:
        source, target = repository_root / name, destination / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    before_the_run = min(path.stat().st_mtime for path in (run / "data").rglob("*")) - 3600
    for name in SOURCES:
        paths = (destination / name).rglob("*") if (destination / name).is_dir() else ()
        for path in [destination / name, *paths]:
            os.utime(path, (before_the_run, before_the_run))
    return destination


PINNED_RULES = ("prepare_dataset", "train_model", "build_attractor_defense", "build_luring_defense",
                "build_multitask_defense", "build_baseline_defense")  # fmt: skip


def test_pinned_run_reproduces_every_table_without_retraining(
    two_runs, repository_root, tmp_path
) -> None:
    """`snakemake pin`, commit, tag; then, in a clone, `git checkout <tag> && dvc pull &&
    snakemake` rebuilds every table and figure from the pinned checkpoints (and, pinned with
    `pin.adversarial_sets`, from the pinned sets and cells, crafting nothing)."""
    first, _ = two_runs
    origin = checkout_with_a_finished_run(repository_root, first, tmp_path / "origin")
    git(origin, "init", "-q")
    dvc(origin, "init", "--quiet")
    shutil.copyfile(repository_root / ".dvc" / "config", origin / ".dvc" / "config")
    dvc(origin, "remote", "add", "--default", "--force", "local", str(tmp_path / "storage"))

    pinned = snakemake(origin, origin, "--cores", "1", "pin")
    assert pinned.returncode == 0, pinned.stderr[-3000:]
    assert "rule pin:" in pinned.stdout + pinned.stderr
    assert "git checkout <tag> && dvc pull" in (origin / "logs" / "pin.log").read_text()
    pins = ["data.dvc", "results/mnist5k/models.dvc", "results/mnist5k/defenses.dvc"]
    assert all((origin / pin).is_file() for pin in pins)
    manifest = json.loads((origin / "pins.json").read_text())
    paths = {entry["path"] for entry in manifest["files"]}
    assert "results/mnist5k/models/victim.safetensors" in paths
    assert "results/mnist5k/defenses/luring/defense.safetensors" in paths
    assert not any(path.startswith("results/mnist5k/adv") for path in paths)
    git(origin, "add", "-A")
    committed = git(origin, "ls-files")
    assert all(
        name in committed
        for name in [*pins, "pins.json", "config/config.yaml", "workflow_scripts/train_model.py"]
    )
    assert ".safetensors" not in committed and ".npz" not in committed
    git(origin, "commit", "-qm", "Pin the tiny run")
    git(origin, "tag", "tiny-v1")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    git(clone, "checkout", "-q", "tiny-v1")
    dvc(clone, "pull", "--quiet")
    assert (clone / "results/mnist5k/models/victim.safetensors").is_file()
    assert not (clone / "results/mnist5k/tables").exists()

    dry_run = snakemake(clone, clone, "-n", "--cores", "2")
    assert "in the order of the pinned run" in dry_run.stderr  # restored when parsed
    plan = planned_jobs(dry_run)
    assert plan and not set(plan) & set(PINNED_RULES), plan
    assert plan["attack_cell"] == EXPECTED_JOBS["attack_cell"]
    reproduced = snakemake(clone, clone, "--cores", "2")
    assert reproduced.returncode == 0, reproduced.stderr[-3000:]
    assert not any((clone / "logs" / rule).exists() for rule in PINNED_RULES)

    tables = sorted(path.relative_to(origin) for path in origin.glob("results/mnist5k/tables/*"))
    assert len(tables) >= 20
    for relative in tables:
        assert (clone / relative).read_bytes() == (origin / relative).read_bytes(), relative
    for figure in origin.glob("results/mnist5k/figures/*"):
        assert (clone / figure.relative_to(origin)).is_file(), figure
    again = snakemake(clone, clone, "-n", "--cores", "2")
    assert "Nothing to be done" in again.stdout + again.stderr

    # pin.adversarial_sets: the sets, cells and analyses too; the reproduction crafts nothing.
    everything = tmp_path / "pin_everything.yaml"
    everything.write_text(yaml.safe_dump({"pin": {"adversarial_sets": True}}))
    pinned = snakemake(origin, origin, "pin", "--cores", "1", "--configfile", str(everything))
    assert pinned.returncode == 0, pinned.stderr[-3000:]
    assert (origin / "results/mnist5k/adv.dvc").is_file()
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "Pin the tiny run with its adversarial sets")
    git(origin, "tag", "tiny-v2")
    clone = tmp_path / "clone-v2"
    git(tmp_path, "clone", "-q", "--branch", "tiny-v2", str(origin), str(clone))
    dvc(clone, "pull", "--quiet")
    plan = planned_jobs(snakemake(clone, clone, "-n", "--cores", "2"))
    assert plan and all(rule.startswith(("make_", "plot_")) for rule in plan if rule != "all")
    reproduced = snakemake(clone, clone, "--cores", "2")
    assert reproduced.returncode == 0, reproduced.stderr[-3000:]
    for relative in tables:
        assert (clone / relative).read_bytes() == (origin / relative).read_bytes(), relative


def test_bad_config_stops_before_any_job(repository_root, tmp_path) -> None:
    config = tiny_config(repository_root)
    config["models"]["victim"]["architecture"] = "vgg19"
    write_config(tmp_path, config)
    completed = snakemake(repository_root, tmp_path, "--cores", "1")
    assert completed.returncode != 0
    lines = [line for line in completed.stderr.splitlines() if "invalid config" in line]
    assert lines == [
        "decoybench: invalid config: models.victim.architecture = 'vgg19' is not allowed; "
        "allowed values: deepsec_mnist_cnn, deepsec_resnet20, luring_mnist_cnn, luring_svhn_cnn, "
        "luring_cifar10_cnn, multitask_oracle, multitask_substitute_mnist, "
        "multitask_substitute_cifar10"
    ]
    assert not (tmp_path / "logs").exists() and not (tmp_path / "data").exists()


def test_a_new_defense_type_is_its_package_folder_and_nothing_else(
    two_runs, repository_root, tmp_path
) -> None:
    """Adding a detection-only defense type is its package folder under decoybench.papers
    with its registry entry (tests/data/mean_distance): no other file edited, the schema
    takes its entry (and refuses a bad key in it), a cell scores it, and the comparison
    table and heat map list it."""
    first, _ = two_runs
    checkout = checkout_with_a_finished_run(repository_root, first, tmp_path / "checkout")
    package = checkout / "src" / "decoybench" / "papers" / "mean_distance"
    shutil.copytree(repository_root / "tests" / "data" / "mean_distance", package)
    dated = (checkout / "Snakefile").stat().st_mtime
    for path in [package, *package.rglob("*")]:
        os.utime(path, (dated, dated))
    edited = [
        str(path.relative_to(checkout))
        for name in SOURCES
        for path in ((checkout / name).rglob("*") if (checkout / name).is_dir() else ())
        if path.is_file() and package not in path.parents and "__pycache__" not in path.parts
        and path.read_bytes() != (repository_root / path.relative_to(checkout)).read_bytes()
    ]  # fmt: skip
    assert not edited

    config = tiny_config(repository_root)
    config["defenses"]["mean_distance"] = {"fprs": [0.05, 0.005]}
    both = ["pgd_linf_0.3", "fgsm_0.1"]
    config["evaluation"]["cells"].append(
        {"setting": "forensic", "defense": "mean_distance", "attacks": both}
    )
    bad = copy.deepcopy(config)
    bad["defenses"]["mean_distance"]["bogus"] = 1
    write_config(checkout, bad)
    refused = snakemake(checkout, checkout, "-n", "--cores", "1")
    assert refused.returncode != 0
    assert "unknown key 'bogus' in defenses.mean_distance; allowed keys: fprs" in refused.stderr

    write_config(checkout, config)
    planned = planned_jobs(snakemake(checkout, checkout, "-n", "--cores", "1"))
    assert planned == {
        "build_mean_distance_defense": 1,
        "score_mean_distance": 1,
        "make_baseline_tables": 1,
        "plot_baseline_figures": 1,
        "all": 1,
    }
    completed = snakemake(checkout, checkout, "--cores", "2")
    assert completed.returncode == 0, completed.stderr[-4000:]
    results = checkout / "results/mnist5k"
    for attack in both:
        cell = json.loads((results / f"eval/forensic/mean_distance/{attack}.json").read_text())
        assert cell["cell"]["adversarial_set"].endswith(f"adv/whitebox/undefended/{attack}.npz")
        points = cell["forensic"]["operating_points"]
        assert [point["fpr_target"] for point in points] == [0.05, 0.005]
    comparison = pd.read_csv(results / "tables/baseline_comparison.csv")
    at_5 = comparison[comparison["fpr_target"] == 0.05].set_index("attack")
    pgd = json.loads((results / "eval/forensic/mean_distance/pgd_linf_0.3.json").read_text())
    assert (
        at_5.loc["pgd_linf_0.3", "mean_distance_tpr_count"]
        == pgd["forensic"]["operating_points"][0]["tpr"]["count"]
    )
    assert "MeanDist" in (results / "tables/baseline_comparison.md").read_text()
    before = pd.read_csv(first / "results/mnist5k/tables/baseline_comparison.csv")
    assert comparison[before.columns].equals(before)  # the other columns are unchanged
