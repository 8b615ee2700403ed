"""The multi-task paper's tables, from hand-written cell metrics and a defense sidecar."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from decoybench.metrics import Rate
from decoybench.papers.multitask.paper_numbers import (
    MULTITASK_TABLE_V,
    paper_attack_column,
    paper_benign,
    paper_blackbox,
    paper_dataset_name,
    paper_greybox,
    paper_misdetection,
    paper_near_whitebox,
)
from decoybench.papers.multitask.tables.write import (
    MULTITASK_TABLES,
    build_multitask_tables,
    headline_metrics,
    write_multitask_tables,
)

MULTITASK_RATES = (
    "accuracy_original",
    "accuracy_defended",
    "accuracy_original_vs_benign",
    "accuracy_defended_vs_benign",
    "clean_accuracy_original",
    "clean_accuracy_defended",
    "transfer_success_original",
    "transfer_success_defended",
    "detection_rate",
    "detection_rate_all",
    "recall",
    "precision",
    "benign_misdetection",
    "generation_rate",
)


def rate(count: int, total: int) -> dict[str, Any]:
    return Rate(count, total).as_dict()


def cell(
    kind: str,
    defense: str,
    key: str,
    attack: str,
    *,
    setting: str | None = None,
    epsilon: float | None = None,
    confidence: float | None = None,
    target: str | None = None,
    rates: dict[str, tuple[int, int]] | None = None,
    target_asr: tuple[int, int] = (1, 2),
    source_asr: tuple[int, int] = (9, 10),
    n: int = 100,
) -> dict[str, Any]:
    """A minimal cell metrics JSON: `rates` fills multitask.rates (every other one 0/n);
    a multitask defense gets a `multitask` entry, `undefended` does not."""
    config: dict[str, Any] = {"attack": attack}
    if epsilon is not None:
        config["epsilon"] = epsilon
    if confidence is not None:
        config["confidence"] = confidence
    if target is not None:
        config["target"] = target
    metrics: dict[str, Any] = {
        "cell": {
            "dataset": "mnist5k",
            "setting": setting or kind,
            "kind": kind,
            "defense": defense,
            "attack": key,
            "attack_config": config,
        },
        "attack": {
            "name": attack,
            "norm": "linf",
            "epsilon": epsilon,
            "gradient_free": False,
            "target_mode": target or "none",
        },
        "rates": {
            "target_clean_accuracy": rate(95, 100),
            "target_asr": rate(*target_asr),
            "source_asr": rate(*source_asr),
            "transfer_rate": rate(1, 2),
        },
        "distortion": {"mean_l0": 1.0, "mean_l2": 1.0, "mean_linf": 0.1},
        "class_map": {"counts": [[3, 1], [0, 4]], "confidence": None},
    }
    if defense.startswith("multitask"):
        given = rates or {}
        metrics["multitask"] = {
            "rates": {name: rate(*given.get(name, (0, n))) for name in MULTITASK_RATES},
            "counts": {
                "n": n,
                "crafted": 80,
                "successful": 40,
                "detected_adversarial": 50,
                "detected_crafted": 45,
                "detected_clean": 2,
            },
        }
    return metrics


def sidecar(
    oracle: int = 980, defended: int = 975, misdetected: int = 2, total: int = 1000
) -> dict[str, Any]:
    return {
        "table6": {
            "accuracy_oracle": rate(oracle, total),
            "accuracy_defended": rate(defended, total),
            "accuracy_defended_undetected": rate(defended - 2, total - misdetected),
            "misdetection_rate": rate(misdetected, total),
            "auxiliary_pair_rate": rate(900, total),
        },
        "classmap": {
            "pairs": [2, 0, 1],
            "pairing": "most_likely",
            "counts": [[5, 1, 4], [3, 6, 1], [0, 2, 8]],
            "confidence": [[0.5, 0.1, 0.4], [0.3, 0.6, 0.1], [0.0, 0.2, 0.8]],
        },
        "classmap_epsilon": 0.1,
        "classmap_fgsm_success": 0.25,
    }


MT = "multitask"


def transfer_cells() -> list[dict[str, Any]]:
    return [
        cell(
            "transfer",
            MT,
            "fgsm_0.1",
            "fgsm",
            epsilon=0.1,
            rates={
                "accuracy_original": (30, 100),
                "accuracy_defended": (90, 100),
                "accuracy_original_vs_benign": (31, 100),
                "accuracy_defended_vs_benign": (92, 100),
            },
        ),
        cell("transfer", MT, "fgsm_0.3", "fgsm", epsilon=0.3),
        cell("transfer", MT, "igs", "igs", epsilon=0.1),
        cell("transfer", MT, "deepfool_linf", "deepfool_linf"),
        # κ out of order on purpose; κ = 40 is Table III's C&W column.
        cell(
            "transfer",
            MT,
            "cw2_k40",
            "cw2",
            confidence=40,
            rates={
                "transfer_success_original": (70, 80),
                "transfer_success_defended": (60, 80),
                "precision": (45, 47),
                "recall": (45, 80),
            },
        ),
        cell("transfer", MT, "cw2_k0", "cw2", confidence=0),
        cell("transfer", MT, "cw2_k20", "cw2", confidence=20),
    ]


def greybox_cells(fgsm_detected: int = 95, fgsm_detected_all: int = 99) -> list[dict[str, Any]]:
    return [
        cell(
            "greybox",
            MT,
            "fgsm_0.05",
            "fgsm",
            epsilon=0.05,
            rates={
                "detection_rate": (fgsm_detected, 100),
                "detection_rate_all": (fgsm_detected_all, 100),
            },
        ),
        cell("greybox", MT, "igs", "igs", epsilon=0.1),
        cell("greybox", MT, "cw2_k40", "cw2", confidence=40, rates={"recall": (7, 10)}),
        cell("greybox", MT, "cw2_k0", "cw2", confidence=0, rates={"precision": (3, 4)}),
    ]


def near_whitebox_cells(defended_k40: int = 0) -> list[dict[str, Any]]:
    return [
        cell(
            "near_whitebox",
            MT,
            "cw2c_k0",
            "cw2_combined",
            confidence=0,
            rates={"generation_rate": (4, 50)},
        ),
        cell(
            "near_whitebox",
            MT,
            "cw2c_k40",
            "cw2_combined",
            confidence=40,
            rates={"generation_rate": (defended_k40, 50)},
        ),
        cell("near_whitebox", MT, "cw2ct_k0", "cw2_combined", confidence=0, target="random"),
        # The bare oracle, white-box, with the same keys (Table V's Original row) ...
        cell(
            "whitebox", "undefended", "cw2c_k0", "cw2_combined", confidence=0, target_asr=(50, 50)
        ),
        cell(
            "whitebox", "undefended", "cw2c_k40", "cw2_combined", confidence=40, target_asr=(45, 50)
        ),
        cell(
            "whitebox",
            "undefended",
            "cw2ct_k0",
            "cw2_combined",
            confidence=0,
            target="random",
            target_asr=(48, 50),
        ),
        # ... and decoys: another key at the same κ, another defense with the same key.
        cell("whitebox", "undefended", "cw2_k0", "cw2", confidence=0, target_asr=(1, 50)),
        cell("whitebox", "attractor", "cw2c_k0", "cw2_combined", confidence=0, target_asr=(2, 50)),
    ]


def all_cells(**options: Any) -> list[dict[str, Any]]:
    return transfer_cells() + greybox_cells(**options) + near_whitebox_cells()


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return build_multitask_tables(
        cells=all_cells(), defense=MT, defense_json=sidecar(), paper_dataset="mnist5k"
    )


def test_paper_number_lookup() -> None:
    assert paper_dataset_name("mnist5k") == paper_dataset_name("mnist") == "mnist"
    assert paper_dataset_name("cifar10") == "cifar10"
    assert paper_dataset_name("svhn") is None and paper_dataset_name(None) is None
    assert paper_attack_column("fgsm", table="III", epsilon=0.1) == "FGSM"
    assert paper_attack_column("fgsm", table="III", epsilon=0.05) is None
    assert paper_attack_column("fgsm", table="IV", epsilon=0.05) == "FGSM"
    assert paper_attack_column("deepfool", table="IV") == "Deepfool"
    assert paper_attack_column("cw2", table="III", kappa=40.0) == "C&W L2"
    assert paper_attack_column("cw2", table="III", kappa=20.0) is None
    assert paper_attack_column("cw2", table="IV", kappa=40.0) is None
    assert paper_attack_column("igs", table="III", target_mode="random") is None
    assert paper_blackbox("cifar10", "C&W L2") == (0.089, 0.100)
    assert paper_greybox("mnist", "IGS") == 0.944
    assert paper_near_whitebox("mnist", "targeted", 40) == (0.90, 0.0)
    assert paper_near_whitebox("mnist", "non-targeted", 0.0) == (1.0, 0.08)
    assert paper_near_whitebox("mnist", "targeted", 3) == (None, None)
    assert paper_near_whitebox("cifar10", "targeted", 40) == (None, None)  # MNIST only
    assert paper_benign("cifar10") == (0.786, 0.765)
    assert paper_misdetection("mnist5k") == 0.0009 and paper_misdetection("svhn") is None
    assert all(len(rows["original"]) == 9 for rows in MULTITASK_TABLE_V["mnist"].values())


def test_blackbox_rows_and_paper_columns(tables: dict[str, pd.DataFrame]) -> None:
    frame = tables["multitask_blackbox"].set_index("attack_key")
    assert list(frame.index) == [
        "fgsm_0.1",
        "fgsm_0.3",
        "igs",
        "deepfool_linf",
        "cw2_k0",
        "cw2_k20",
        "cw2_k40",
    ]
    fgsm = frame.loc["fgsm_0.1"]
    assert (fgsm["accuracy_original"], fgsm["accuracy_defended"]) == (0.30, 0.90)
    assert (fgsm["accuracy_defended_count"], fgsm["accuracy_defended_total"]) == (90, 100)
    assert fgsm["accuracy_defended_vs_benign"] == 0.92 and fgsm["source_asr"] == 0.9
    assert fgsm["accuracy_defended_low"] < 0.9 < fgsm["accuracy_defended_high"]
    assert (fgsm["paper_attack"], fgsm["paper_original"], fgsm["paper_defended"]) == (
        "FGSM",
        0.343,
        0.962,
    )
    assert math.isnan(frame.loc["fgsm_0.3", "paper_original"])  # not the paper's ε
    assert frame.loc["cw2_k40", "paper_defended"] == 0.126 and frame.loc["cw2_k40", "kappa"] == 40
    assert math.isnan(frame.loc["cw2_k0", "paper_original"])
    assert frame.loc["deepfool_linf", "paper_original"] == 0.341
    assert math.isnan(frame.loc["deepfool_linf", "epsilon"])


def test_greybox_rows(tables: dict[str, pd.DataFrame]) -> None:
    frame = tables["multitask_greybox"].set_index("attack_key")
    assert list(frame.index) == ["fgsm_0.05", "igs", "cw2_k0", "cw2_k40"]
    fgsm = frame.loc["fgsm_0.05"]
    assert (fgsm["detection_rate"], fgsm["detection_rate_all"]) == (0.95, 0.99)
    assert fgsm["paper_detection_rate"] == 0.987 and fgsm["paper_attack"] == "FGSM"
    assert frame.loc["igs", "paper_detection_rate"] == 0.944
    assert math.isnan(frame.loc["cw2_k40", "paper_detection_rate"])  # Table IV has no C&W
    assert frame.loc["cw2_k40", "recall"] == 0.7
    assert (fgsm["n"], fgsm["crafted"], fgsm["detected_clean"]) == (100, 80, 2)
    assert str(frame["n"].dtype) == "Int64"


def test_cw_sweep_sorted_by_kappa_with_nan_for_a_missing_greybox_cell(
    tables: dict[str, pd.DataFrame],
) -> None:
    frame = tables["multitask_cw_sweep"]
    assert list(frame["kappa"]) == [0.0, 20.0, 40.0]
    k20 = frame.set_index("kappa").loc[20.0]
    assert k20["blackbox_attack_key"] == "cw2_k20" and pd.isna(k20["greybox_attack_key"])
    assert math.isnan(k20["greybox_precision"]) and math.isnan(k20["greybox_recall"])
    assert pd.isna(k20["greybox_recall_total"]) and "no grey-box cell" in k20["note"]
    k40 = frame.set_index("kappa").loc[40.0]
    assert (
        k40["blackbox_transfer_success_original"],
        k40["blackbox_transfer_success_defended"],
    ) == (
        70 / 80,
        60 / 80,
    )
    assert (k40["blackbox_precision"], k40["blackbox_recall"], k40["greybox_recall"]) == (
        45 / 47,
        45 / 80,
        0.7,
    )
    assert frame.set_index("kappa").loc[0.0, "greybox_precision"] == 0.75


def test_near_whitebox_original_from_the_matching_undefended_cell(
    tables: dict[str, pd.DataFrame],
) -> None:
    frame = tables["multitask_near_whitebox"]
    assert list(zip(frame["mode"], frame["kappa"], frame["attack_key"], strict=True)) == [
        ("non-targeted", 0.0, "cw2c_k0"),
        ("non-targeted", 40.0, "cw2c_k40"),
        ("targeted", 0.0, "cw2ct_k0"),
    ]
    k0 = frame.iloc[0]
    # 50/50 from whitebox/undefended cw2c_k0, not the cw2 (1/50) or attractor (2/50) decoys.
    assert (k0["original_generation_rate"], k0["original_generation_rate_count"]) == (1.0, 50)
    assert k0["defended_generation_rate"] == 4 / 50
    assert (k0["paper_original"], k0["paper_defended"]) == (1.0, 0.08)
    assert frame.iloc[1]["original_generation_rate"] == 0.9
    targeted = frame.iloc[2]
    assert targeted["original_generation_rate"] == 0.96
    assert (targeted["paper_original"], targeted["paper_defended"]) == (1.0, 0.0)


def test_near_whitebox_keeps_a_key_missing_one_side() -> None:
    cells = [
        *transfer_cells(),
        cell("near_whitebox", MT, "cw2c_k20", "cw2_combined", confidence=20),
        cell("whitebox", "undefended", "cw2ct_k40", "cw2_combined", confidence=40, target="random"),
    ]
    frame = build_multitask_tables(
        cells=cells, defense=MT, defense_json=sidecar(), paper_dataset="cifar10"
    )["multitask_near_whitebox"]
    assert list(frame["attack_key"]) == ["cw2c_k20", "cw2ct_k40"]
    assert math.isnan(frame.iloc[0]["original_generation_rate"])
    assert "no white-box cell" in frame.iloc[0]["note"]
    assert math.isnan(frame.iloc[1]["defended_generation_rate"])
    assert frame["paper_original"].isna().all()  # Table V is MNIST only


def test_benign_and_classmap_tables(tables: dict[str, pd.DataFrame]) -> None:
    benign = tables["multitask_benign"].set_index("measure")
    assert list(benign.index) == [
        "accuracy_oracle",
        "accuracy_defended",
        "accuracy_defended_undetected",
        "misdetection_rate",
        "auxiliary_pair_rate",
    ]
    assert benign.loc["accuracy_oracle", "rate"] == 0.98
    assert benign.loc["accuracy_defended_undetected", "rate_count"] == 973
    assert benign.loc["accuracy_oracle", "paper"] == 0.994
    assert benign.loc["accuracy_defended_undetected", "paper"] == 0.994
    assert benign.loc["misdetection_rate", "paper"] == 0.0009
    assert math.isnan(benign.loc["accuracy_defended", "paper"])
    classmap = tables["multitask_classmap"]
    assert list(classmap["paired_label"]) == [2, 0, 1]
    assert list(classmap["n"]) == [10, 10, 10]
    assert list(classmap.iloc[0][["count_0", "count_1", "count_2"]]) == [5, 1, 4]
    assert list(classmap.iloc[2][["p_0", "p_1", "p_2"]]) == [0.0, 0.2, 0.8]
    assert set(classmap["fgsm_epsilon"]) == {0.1} and set(classmap["fgsm_success"]) == {0.25}


def test_paper_columns_absent_for_an_unknown_dataset() -> None:
    frames = build_multitask_tables(
        cells=all_cells(), defense=MT, defense_json=sidecar(), paper_dataset="svhn"
    )
    for name, columns in (
        ("multitask_blackbox", ("paper_original", "paper_defended")),
        ("multitask_greybox", ("paper_detection_rate",)),
        ("multitask_near_whitebox", ("paper_original", "paper_defended")),
        ("multitask_benign", ("paper",)),
    ):
        assert frames[name][list(columns)].isna().all().all(), name
    claims = frames["multitask_claims"]
    assert set(claims["paper"]) == {"—"} and claims["paper_holds"].isna().all()


def _claims(**options: Any) -> pd.DataFrame:
    defense = options.pop("defense_json", sidecar())
    cells = options.pop("cells", None)
    if cells is None:
        cells = all_cells(**options)
    return build_multitask_tables(
        cells=cells, defense=MT, defense_json=defense, paper_dataset="mnist"
    )["multitask_claims"].set_index("key")


def test_claims_hold_on_constructed_numbers(tables: dict[str, pd.DataFrame]) -> None:
    claims = tables["multitask_claims"].set_index("key")
    assert list(claims.index) == [
        "benign_accuracy_gap",
        "greybox_fgsm_detection",
        "blackbox_fgsm_accuracy",
        "near_whitebox_generation",
        "benign_misdetection",
    ]
    assert claims["verdict"].tolist() == ["holds"] * 5
    assert claims.loc["benign_accuracy_gap", "measured"] == pytest.approx(-0.005)
    assert "−0.5 points [" in claims.loc["benign_accuracy_gap", "ours"].replace("-", "−")
    assert claims.loc["greybox_fgsm_detection", "measured"] == 0.99  # the whole set
    assert "99.0% [" in claims.loc["greybox_fgsm_detection", "ours"]
    assert claims.loc["blackbox_fgsm_accuracy", "measured"] == pytest.approx(0.6)
    # The largest defended − original: κ = 40 non-targeted, 0/50 against 45/50.
    assert claims.loc["near_whitebox_generation", "measured"] == pytest.approx(-0.9)
    # The paper's MNIST numbers meet every threshold.
    assert claims["paper_holds"].tolist() == [True] * 5
    assert claims.loc["benign_misdetection", "paper"] == "0.09%"


def test_claims_fail_beyond_each_threshold() -> None:
    failing = _claims(
        defense_json=sidecar(oracle=980, defended=930, misdetected=30), fgsm_detected_all=70
    )
    assert failing.loc["benign_accuracy_gap", "verdict"] == "fails"  # [−7.0, −3.0] points
    assert failing.loc["greybox_fgsm_detection", "verdict"] == "fails"  # 70% [60.4, 78.1]
    assert failing.loc["benign_misdetection", "verdict"] == "fails"  # 3% [2.1, 4.3]
    cells = [
        cell(
            "transfer",
            MT,
            "fgsm_0.1",
            "fgsm",
            epsilon=0.1,
            rates={"accuracy_original": (50, 100), "accuracy_defended": (30, 100)},
        ),
        cell(
            "near_whitebox",
            MT,
            "cw2c_k0",
            "cw2_combined",
            confidence=0,
            rates={"generation_rate": (45, 50)},
        ),
        cell(
            "whitebox", "undefended", "cw2c_k0", "cw2_combined", confidence=0, target_asr=(10, 50)
        ),
    ]
    claims = _claims(cells=cells)
    assert claims.loc["blackbox_fgsm_accuracy", "verdict"] == "fails"  # 30% vs 50%
    assert claims.loc["near_whitebox_generation", "verdict"] == "fails"  # 90% vs 20%


def test_claims_inside_their_intervals_are_undecided() -> None:
    """A point estimate on the right side of a threshold decides nothing when the interval
    straddles it: each of these used to be a "holds" or "does not hold"."""
    at_edge = _claims(
        defense_json=sidecar(oracle=980, defended=960, misdetected=10), fgsm_detected_all=91
    )
    assert at_edge.loc["benign_accuracy_gap", "verdict"] == "undecided"  # exactly 2 points
    assert at_edge.loc["benign_misdetection", "verdict"] == "undecided"  # exactly 1%
    assert at_edge.loc["greybox_fgsm_detection", "verdict"] == "undecided"  # 91% [83.8, 95.2]
    cells = [
        cell(
            "transfer",
            MT,
            "fgsm_0.1",
            "fgsm",
            epsilon=0.1,
            rates={"accuracy_original": (50, 100), "accuracy_defended": (52, 100)},
        ),
        cell(
            "near_whitebox",
            MT,
            "cw2c_k0",
            "cw2_combined",
            confidence=0,
            rates={"generation_rate": (1, 50)},
        ),
        cell(
            "near_whitebox",
            MT,
            "cw2c_k40",
            "cw2_combined",
            confidence=40,
            rates={"generation_rate": (30, 50)},
        ),
        cell(
            "whitebox", "undefended", "cw2c_k0", "cw2_combined", confidence=0, target_asr=(50, 50)
        ),
        cell(
            "whitebox", "undefended", "cw2c_k40", "cw2_combined", confidence=40, target_asr=(30, 50)
        ),
    ]
    claims = _claims(cells=cells)
    assert claims.loc["blackbox_fgsm_accuracy", "verdict"] == "undecided"  # +2 points, n 100
    # κ = 0 holds (2% vs 100%), κ = 40 is 60% vs 60%: not every κ is decided
    assert claims.loc["near_whitebox_generation", "verdict"] == "undecided"
    assert claims.loc["near_whitebox_generation", "measured"] == 0.0
    assert "κ=40" in claims.loc["near_whitebox_generation", "ours"]


def test_greybox_detection_is_over_the_whole_adversarial_set() -> None:
    """Table IV's detection rate is over "the whole adversarial test set" (Sec. IV-C): 30 of
    500 detected is 6%, however many of the 8 examples that fool Z* are detected."""
    claims = _claims(
        cells=[
            cell(
                "greybox",
                MT,
                "fgsm_0.05",
                "fgsm",
                epsilon=0.05,
                rates={"detection_rate": (5, 8), "detection_rate_all": (30, 500)},
            )
        ]
    )
    row = claims.loc["greybox_fgsm_detection"]
    assert row["measured"] == pytest.approx(0.06)
    assert row["verdict"] == "fails"
    assert row["ours"].startswith("6.0% [") and "(30/500)" in row["ours"]
    assert "62.5%" in row["detail"]  # the share of the fooling examples, kept as detail


def test_claims_say_what_is_missing() -> None:
    cells = [cell("transfer", MT, "igs", "igs", epsilon=0.1)]
    claims = _claims(cells=cells, defense_json={})
    assert set(claims["verdict"]) == {"no data"}
    assert all(detail.startswith("missing") for detail in claims["detail"])
    assert claims.loc["benign_misdetection", "paper"] == "0.09%"  # the paper's side stays
    metrics = headline_metrics({"multitask_claims": claims.reset_index()})
    assert not any(key.startswith("claim.") for key in metrics)


def test_paper_holds_flags_cifar10_misdetection() -> None:
    frames = build_multitask_tables(
        cells=all_cells(), defense=MT, defense_json=sidecar(), paper_dataset="cifar10"
    )
    claims = frames["multitask_claims"].set_index("key")
    assert claims.loc["benign_misdetection", "paper_holds"] is False  # 3.92% > 1%
    assert claims.loc["benign_accuracy_gap", "paper_holds"] is False  # 2.1 points > 2
    assert claims.loc["greybox_fgsm_detection", "paper_holds"] is False  # 75.2% < 90%
    assert claims.loc["near_whitebox_generation", "paper"] == "—"  # no CIFAR10 Table V


def test_missing_defense_is_an_error() -> None:
    cells = [cell("whitebox", "undefended", "fgsm_0.1", "fgsm", epsilon=0.1)]
    with pytest.raises(ValueError, match="multitask_nolock"):
        build_multitask_tables(
            cells=cells, defense="multitask_nolock", defense_json=sidecar(), paper_dataset=None
        )


def test_markdown_csv_and_headline_metrics(tmp_path: Path) -> None:
    paths = []
    for index, metrics in enumerate(all_cells()):
        path = tmp_path / "cells" / f"{index}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(metrics))
        paths.append(path)
    defense = tmp_path / "defense.json"
    defense.write_text(json.dumps(sidecar()))
    outputs = {
        f"{name}_{extension}": tmp_path / "tables" / f"{name}.{extension}"
        for name in MULTITASK_TABLES
        for extension in ("csv", "md")
    }
    frames = write_multitask_tables(
        cells=paths, defense=MT, defense_json=defense, paper_dataset="mnist5k", outputs=outputs
    )
    for name in MULTITASK_TABLES:
        text = outputs[f"{name}_md"].read_text()
        assert text.startswith("Multi-task paper") and "\n\n" in text
        csv = pd.read_csv(outputs[f"{name}_csv"])
        assert list(csv.columns) == list(frames[name].columns)
        assert len(csv) == len(frames[name])
    blackbox = outputs["multitask_blackbox_md"].read_text()
    assert "90.0% [" in blackbox and "(90/100)" in blackbox and "96.2%" in blackbox
    assert "accuracy_defended_low" not in blackbox
    assert "no numbers for Figures 3-6" in outputs["multitask_cw_sweep_md"].read_text()
    assert not list((tmp_path / "tables").glob(".tmp-*"))
    metrics = headline_metrics(frames)
    assert metrics["rows.multitask_blackbox"] == 7.0
    assert metrics["claim.benign_misdetection"] == 1.0 and metrics["claims.holds"] == 5.0
    assert metrics["benign.accuracy_oracle"] == 0.98
    with pytest.raises(ValueError, match="unknown multitask table output"):
        write_multitask_tables(
            cells=paths,
            defense=MT,
            defense_json=defense,
            paper_dataset="mnist5k",
            outputs={"multitask_figure_png": tmp_path / "x.png"},
        )
