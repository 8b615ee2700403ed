"""Building the attractor defense around a trained victim (the build_defense rule's work)."""

from __future__ import annotations

import io
import json

import pytest
import torch

from decoybench.models.checkpoint import load_checkpoint
from decoybench.papers.attractors.build import build_attractor_defense
from decoybench.papers.attractors.defense import AttractorDefense


@pytest.fixture(scope="module")
def victim(tiny_victim):
    return tiny_victim


SETTINGS = {"seed": 0, "intervals": [3, 128], "weights": [0.2, 0.8], "fprs": [0.1, 0.05]}


def test_build_records_the_defense_and_table_two(tiny_store, victim, tmp_path) -> None:
    out = tmp_path / "defense.json"
    measurements = build_attractor_defense(
        victim_path=victim, data_dir=tiny_store, settings=SETTINGS, out=out,
        device=torch.device("cpu"),
    )  # fmt: skip
    stored = json.loads(out.read_text())
    assert stored["clean"] == json.loads(json.dumps(measurements))
    victim_accuracy = measurements["clean_accuracy_victim"]["value"]
    defended_accuracy = measurements["clean_accuracy_defended"]["value"]
    assert victim_accuracy > 0.3
    assert abs(defended_accuracy - victim_accuracy) <= 0.05, "M must keep C's clean accuracy"
    points = measurements["operating_points"]
    assert [point["fpr_target"] for point in points] == [0.1, 0.05]
    for point in points:  # calibrated on the 30 validation images: never above the target
        assert point["fpr_validation"] <= point["fpr_target"]
    # The stored defense rebuilds around the same victim with the same detector.
    model, _ = load_checkpoint(victim)
    rebuilt = AttractorDefense.from_json(json.dumps(stored["defense"]), model)
    assert [p.fpr_target for p in rebuilt.operating_points] == [0.1, 0.05]


def test_bad_defense_settings_are_named(tiny_store, victim, tmp_path) -> None:
    with pytest.raises(ValueError, match="colour"):
        build_attractor_defense(
            victim_path=victim, data_dir=tiny_store, settings={"colour": "red"},
            out=tmp_path / "d.json", device=torch.device("cpu"),
        )  # fmt: skip
    assert not (tmp_path / "d.json").exists()


@pytest.fixture(scope="module")
def defense_file(tiny_store, victim, tmp_path_factory):
    out = tmp_path_factory.mktemp("defense") / "defense.json"
    build_attractor_defense(
        victim_path=victim, data_dir=tiny_store, settings=SETTINGS, out=out,
        device=torch.device("cpu"),
    )  # fmt: skip
    return out


def test_integrated_clean_accuracy_is_recorded(defense_file) -> None:
    points = json.loads(defense_file.read_text())["clean"]["operating_points"]
    for point in points:  # every clean false positive is answered with F_r's label
        integrated = point["clean_accuracy_integrated"]
        assert integrated["total"] == point["fpr_test"]["total"]
        assert integrated["count"] >= integrated["total"] - point["fpr_test"]["count"] - 10


def test_each_setting_deploys_its_model(tiny_store, victim, defense_file) -> None:
    from decoybench.cells.deployment import load_system
    from decoybench.data import read_manifest
    from decoybench.papers.attractors.model import AttractorModel, IntegratedAttractorModel

    fingerprint = read_manifest(tiny_store)["fingerprint"]
    common = {"model_path": victim, "device": "cpu", "data_sha256": fingerprint}
    bare = load_system(defense="undefended", kind="whitebox", **common)
    assert not bare.detectors and bare.recover is None
    forensic = load_system(defense="attractor", kind="forensic", defense_path=defense_file,
                           **common)  # fmt: skip
    assert isinstance(forensic.model, AttractorModel)
    assert sorted(forensic.detectors) == [0.05, 0.1]
    integrated = load_system(defense="attractor", kind="integrated", defense_path=defense_file,
                             **common)  # fmt: skip
    assert isinstance(integrated.model, IntegratedAttractorModel)
    assert integrated.model.detector.thresholds.fpr_target == 0.1  # the first operating point
    transfer = load_system(defense="attractor", kind="transfer", defense_path=defense_file,
                           **common)  # fmt: skip
    assert isinstance(transfer.model, AttractorModel) and transfer.detectors
    with pytest.raises(ValueError, match="cannot be evaluated in a 'forensic' setting"):
        load_system(defense="undefended", kind="forensic", **common)
    with pytest.raises(ValueError, match="needs its defense file"):
        load_system(defense="attractor", kind="forensic", **common)


@pytest.mark.parametrize("kind", ["forensic", "integrated"])
def test_defended_cell_is_attacked_and_evaluated(tiny_store, victim, defense_file, tmp_path,
                                                 kind) -> None:  # fmt: skip
    from decoybench.cells.craft import generate_adversarial_set
    from decoybench.cells.score import evaluate_adversarial_set

    attack = {"attack": "linf_pgd", "epsilon": 0.3, "steps": 5, "rel_stepsize": 0.1}
    adversarial_set = tmp_path / "set.npz"
    common = {"data_dir": tiny_store, "device": torch.device("cpu"), "defense_path": defense_file}
    summary = generate_adversarial_set(
        model_path=victim, attack_config=attack, out=adversarial_set, seed=0,
        seed_names=("t", kind), n_samples=20, batch_size=10, sanity_samples=0,
        progress=io.StringIO(), defense="attractor", kind=kind, **common,
    )  # fmt: skip
    metrics = evaluate_adversarial_set(
        adversarial_set=adversarial_set, target_model=victim, out=tmp_path / "cell.json",
        cell={"setting": kind, "kind": kind, "defense": "attractor", "attack": "pgd"},
        **common,
    )  # fmt: skip
    rates = metrics["rates"]
    # White-box settings: the evaluated system is the one the attack was crafted on.
    assert rates["target_asr"] == rates["source_asr"]
    assert rates["target_asr"]["count"] == summary["source_asr_count"]
    assert metrics["target_model"] == f"victim+attractor[{kind}]"
    first, second = metrics["forensic"]["operating_points"]
    successful = rates["target_asr"]["count"]
    for point in (first, second):
        assert point["tpr"]["total"] == successful
        assert point["fpr"]["total"] == 30  # the whole clean test split
        undetected = successful - point["tpr"]["count"]
        assert point["overall_asr"]["count"] == undetected
        assert point["recovery_rate"]["total"] == point["tpr"]["count"]
    assert second["tpr"]["count"] <= first["tpr"]["count"]  # 5% is stricter than 10%
