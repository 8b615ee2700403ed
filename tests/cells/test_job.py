"""The cell jobs: one cell crafted and scored (attack_cell), a detection-only baseline's cells
scored with one system per setting kind (score_<defense>)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from decoybench.cells import job
from decoybench.cells.craft import ADVERSARIAL_SET_FIELDS, generate_adversarial_set
from decoybench.cells.deployment import DeployedSystem
from decoybench.cells.job import run_attack_cell, score_detection_only_cells
from decoybench.cells.score import evaluate_adversarial_set
from decoybench.data import load_split
from decoybench.io import read_json, read_npz
from decoybench.models.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")

FGSM = {"attack": "fgsm", "epsilon": 0.3}
SAMPLES = {"n_samples": 20, "batch_size": 8, "sanity_samples": 8}
CPU = torch.device("cpu")


def _craft_and_score(tiny_store: Path, tiny_victim: Path, folder: Path) -> tuple[dict, list]:
    logged: list[dict] = []
    metrics = run_attack_cell(
        dataset="mnist5k",
        setting="whitebox",
        kind="whitebox",
        defense="undefended",
        attack="fgsm_0.3",
        attack_config=FGSM,
        model=tiny_victim,
        data_dir=tiny_store,
        adversarial_set=folder / "adv.npz",
        out=folder / "cell.json",
        seed=0,
        device=CPU,
        log_metrics=logged.append,
        progress=io.StringIO(),
        **SAMPLES,
    )
    return metrics, logged


def test_run_attack_cell_crafts_scores_and_logs(tiny_store, tiny_victim, tmp_path) -> None:
    metrics, logged = _craft_and_score(tiny_store, tiny_victim, tmp_path)

    arrays = read_npz(tmp_path / "adv.npz")
    assert set(ADVERSARIAL_SET_FIELDS) | {"attack_config", "source_model", "sanity"} == set(arrays)
    test = load_split(tiny_store, "test")
    assert np.array_equal(arrays["index"], np.arange(20))
    assert np.array_equal(arrays["label"], test.labels[:20])
    assert arrays["x_adv"].dtype == np.float32 and arrays["x_adv"].shape[0] == 20
    assert arrays["x_adv"].min() >= 0.0 and arrays["x_adv"].max() <= 1.0
    assert arrays["linf"].max() <= 0.3 + 1e-6

    cell = read_json(tmp_path / "cell.json")
    assert cell["cell"] == {
        "dataset": "mnist5k",
        "setting": "whitebox",
        "kind": "whitebox",
        "defense": "undefended",
        "attack": "fgsm_0.3",
        "attack_config": FGSM,
    }
    assert cell["n_attempted"] == 20 and cell["rates"] == metrics["rates"]
    # Crafted and scored on the same model: the target is fooled exactly where the source was.
    assert cell["rates"]["target_asr"] == cell["rates"]["source_asr"]
    assert "forensic" not in cell and "luring" not in cell and "multitask" not in cell
    assert [list(entry) for entry in logged] == [["crafting"], ["rates", "distortion"]]
    assert logged[0]["crafting"]["n_attempted"] == 20
    assert logged[1] == {"rates": metrics["rates"], "distortion": metrics["distortion"]}


def test_run_attack_cell_is_craft_then_score(tiny_store, tiny_victim, tmp_path) -> None:
    """The job's set and metrics are those of the two steps called by hand (wall time aside)."""
    _craft_and_score(tiny_store, tiny_victim, tmp_path)
    summary = generate_adversarial_set(
        model_path=tiny_victim,
        data_dir=tiny_store,
        attack_config=FGSM,
        out=tmp_path / "by_hand.npz",
        seed=0,
        seed_names=("mnist5k", "whitebox", "undefended", "fgsm_0.3"),
        device=CPU,
        progress=io.StringIO(),
        **SAMPLES,
    )
    evaluate_adversarial_set(
        adversarial_set=tmp_path / "by_hand.npz",
        target_model=tiny_victim,
        data_dir=tiny_store,
        cell=read_json(tmp_path / "cell.json")["cell"],
        out=tmp_path / "by_hand.json",
        device=CPU,
    )
    job_set, by_hand = read_npz(tmp_path / "adv.npz"), read_npz(tmp_path / "by_hand.npz")
    assert list(job_set) == list(by_hand)
    for name in set(job_set) - {"seconds"}:
        assert np.array_equal(job_set[name], by_hand[name]), name
    job_cell, hand_cell = read_json(tmp_path / "cell.json"), read_json(tmp_path / "by_hand.json")
    job_cell.pop("attack_seconds"), hand_cell.pop("attack_seconds")
    assert job_cell == hand_cell
    assert summary["n_attempted"] == 20


class MeanDetector:
    """Score = the input's mean pixel (each scoring recorded); adversarial iff score > threshold."""

    def __init__(self, threshold: float, scored: list[int]) -> None:
        self.threshold, self.scored = threshold, scored

    def score(self, x: Tensor) -> Tensor:
        self.scored.append(len(x))
        return x.flatten(1).mean(dim=1)

    def is_adversarial(self, x: Tensor) -> Tensor:
        return x.flatten(1).mean(dim=1) > self.threshold


def test_score_detection_only_cells_loads_one_system_per_kind(
    tiny_store, tiny_victim, tmp_path, monkeypatch
) -> None:
    loaded: list[str] = []
    scored_sizes: list[int] = []

    def fake_load_system(**request) -> DeployedSystem:
        loaded.append(request["kind"])
        assert request["defense"] == "lid" and request["defense_path"] == "lid.json"
        model, sidecar = load_checkpoint(tiny_victim)
        return DeployedSystem(
            model=model,
            sidecar=sidecar,
            detectors={0.05: MeanDetector(0.2, scored_sizes), 0.1: MeanDetector(0.1, [])},
        )

    monkeypatch.setattr(job, "load_system", fake_load_system)
    sets = []
    for epsilon in (0.1, 0.3):
        sets.append(str(tmp_path / f"fgsm_{epsilon}.npz"))
        generate_adversarial_set(
            model_path=tiny_victim,
            data_dir=tiny_store,
            attack_config={"attack": "fgsm", "epsilon": epsilon},
            out=sets[-1],
            seed=0,
            seed_names=("mnist5k", "whitebox", "undefended", f"fgsm_{epsilon}"),
            device=CPU,
            progress=io.StringIO(),
            **SAMPLES,
        )
    cells = [
        {"setting": "forensic", "kind": "forensic", "attack": "fgsm_0.1", "attack_config": {}},
        {"setting": "forensic", "kind": "forensic", "attack": "fgsm_0.3", "attack_config": {}},
    ]
    outs = [tmp_path / "fgsm_0.1.json", tmp_path / "fgsm_0.3.json"]
    logged: list[dict] = []
    scored = score_detection_only_cells(
        dataset="mnist5k",
        defense="lid",
        cells=cells,
        adversarial_sets=sets,
        outs=outs,
        victim=tiny_victim,
        defense_path="lid.json",
        data_dir=tiny_store,
        device=CPU,
        log_metrics=logged.append,
    )
    assert loaded == ["forensic"]
    assert [list(entry) for entry in logged] == [
        ["fgsm_0.1.fpr_0.05"],
        ["fgsm_0.1.fpr_0.1"],
        ["fgsm_0.3.fpr_0.05"],
        ["fgsm_0.3.fpr_0.1"],
    ]
    for cell, adversarial_set, out, metrics in zip(cells, sets, outs, scored, strict=True):
        written = read_json(out)
        assert written["cell"]["defense"] == "lid" and written["cell"]["dataset"] == "mnist5k"
        assert written["cell"]["attack"] == cell["attack"]
        assert written["cell"]["adversarial_set"] == adversarial_set
        assert written["forensic"]["operating_points"] == metrics["forensic"]["operating_points"]
    # Each set scored once; the clean test split (30 images) once, by the first cell, for both.
    assert scored_sizes == [20, 30, 20]
