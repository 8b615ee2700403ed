"""Baseline comparison tables (decoybench.papers.baselines.{comparison,table20,tables}) from
hand-built cells."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from decoybench.metrics import Rate
from decoybench.papers.attractors.paper_numbers import ATTRACTORS_ROWS
from decoybench.papers.baselines.comparison import comparison_markdown, comparison_table
from decoybench.papers.baselines.paper_numbers import (
    BASELINE_TABLE_III,
    paper_table_20,
    paper_table_iii,
)
from decoybench.papers.baselines.table20 import luring_comparison_table, luring_markdown
from decoybench.papers.baselines.tables import write_baseline_tables

Counts = tuple[int, int]


def rate(count: int, total: int) -> dict[str, Any]:
    return Rate(count, total).as_dict()


def point(fpr_target: float, tpr: Counts, fpr: Counts, auc: float, overall: Counts) -> dict:
    return {
        "fpr_target": fpr_target,
        "tpr": rate(*tpr),
        "fpr": rate(*fpr),
        "auc": auc,
        "overall_asr": rate(*overall),
    }


def forensic_cell(
    defense: str,
    label: str,
    attack: str,
    *,
    asr: Counts = (50, 100),
    tpr: Counts = (49, 50),
    overall: Counts = (1, 100),
    auc: float = 0.99,
    target_mode: str = "none",
) -> dict[str, Any]:
    """A forensic cell shaped like results/<d>/eval/forensic/attractor/*.json, two points."""
    return {
        "attack": {"name": attack, "epsilon": 0.3, "norm": "linf", "target_mode": target_mode},
        "cell": {
            "attack": label,
            "dataset": "mnist5k",
            "defense": defense,
            "kind": "forensic",
            "setting": "forensic",
        },
        "forensic": {
            "operating_points": [
                point(0.05, tpr, (25, 500), auc, overall),
                point(0.005, (tpr[0] - 1, tpr[1]), (2, 500), auc, (overall[0] + 1, overall[1])),
            ]
        },
        "rates": {"target_asr": rate(*asr)},
    }


def whitebox_cell(label: str, attack: str, asr: Counts, target_mode: str = "none") -> dict:
    return {
        "attack": {"name": attack, "epsilon": 0.3, "target_mode": target_mode},
        "cell": {
            "attack": label,
            "defense": "undefended",
            "kind": "whitebox",
            "setting": "whitebox",
        },
        "rates": {"target_asr": rate(*asr)},
    }


def transfer_cell(
    defense: str,
    attack: str,
    epsilon: float | None,
    ac_mop: Counts,
    ac_m: Counts,
    dac: Counts,
    *,
    approach: str | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    """A transfer cell shaped like results/<d>/eval/transfer_public/luring/*.json."""
    return {
        "attack": {"name": attack, "epsilon": epsilon, "norm": "linf", "target_mode": "none"},
        "cell": {
            "attack": label or f"{attack}_{epsilon}",
            "defense": defense,
            "kind": "transfer",
            "setting": "transfer_public",
        },
        "luring": {
            "approach": approach or defense,
            "rates": {"ac_mop": rate(*ac_mop), "ac_m": rate(*ac_m), "dac": rate(*dac)},
        },
        "rates": {"target_asr": rate(1, 10)},
    }


def write_cells(directory: Path, cells: list[dict[str, Any]]) -> list[Path]:
    paths = []
    for index, cell in enumerate(cells):
        path = directory / f"cell_{index}.json"
        path.write_text(json.dumps(cell))
        paths.append(path)
    return paths


def forensic_cells() -> list[dict[str, Any]]:
    """Attractor and LID on FGSM, CW2, a targeted MIM (TMIFGSM) and JSMA; LID lacks CW2."""
    return [
        forensic_cell("attractor", "jsma", "jsma", target_mode="random", asr=(20, 100)),
        forensic_cell(
            "attractor", "cw2", "cw2", tpr=(3, 40), overall=(37, 100), target_mode="random"
        ),
        forensic_cell("attractor", "fgsm_0.3", "fgsm", asr=(26, 100)),
        forensic_cell("attractor", "tmim", "mim", target_mode="random"),
        forensic_cell("lid", "fgsm_0.3", "fgsm", asr=(75, 100), tpr=(30, 75), overall=(45, 100)),
        forensic_cell("lid", "jsma", "jsma", target_mode="random"),
        whitebox_cell("fgsm_0.3", "fgsm", (75, 100)),
        whitebox_cell("cw2", "cw2", (99, 100), target_mode="random"),
    ]


def row(frame: pd.DataFrame, fpr_target: float, attack: str) -> pd.Series:
    rows = frame[(frame["fpr_target"] == fpr_target) & (frame["attack"] == attack)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


# --- Table III ---------------------------------------------------------------------------


def test_comparison_rates_counts_and_markdown(tmp_path: Path) -> None:
    paths = write_cells(tmp_path, forensic_cells())
    frame = comparison_table(paths, "mnist", {"attractor": "attractor", "lid": "lid"})
    fgsm = row(frame, 0.05, "fgsm_0.3")
    assert fgsm["attractor_tpr"] == pytest.approx(0.98)
    assert (fgsm["attractor_tpr_count"], fgsm["attractor_tpr_total"]) == (49, 50)
    assert fgsm["attractor_fpr"] == pytest.approx(0.05)
    assert fgsm["attractor_auc"] == pytest.approx(0.99)
    assert fgsm["attractor_asr"] == pytest.approx(0.26)  # ASR on the model the attacker sees
    assert fgsm["lid_asr"] == pytest.approx(0.75)
    assert fgsm["asr_victim"] == pytest.approx(0.75)
    assert fgsm["lid_tpr"] == pytest.approx(0.4)
    assert fgsm["lid_overall_asr"] == pytest.approx(0.45)
    low_fpr = row(frame, 0.005, "fgsm_0.3")
    assert (low_fpr["attractor_tpr_count"], low_fpr["attractor_overall_asr_count"]) == (48, 2)
    text = comparison_markdown(frame)
    assert "98.0% (49/50)" in text
    assert "40.0% (30/75)" in text
    assert "### 5% FPR" in text and "### 0.5% FPR" in text
    assert text.index("### 5% FPR") < text.index("### 0.5% FPR")


def test_comparison_rows_follow_the_paper_ua_then_ta() -> None:
    frame = comparison_table(forensic_cells(), "mnist", {"attractor": "attractor", "lid": "lid"})
    assert list(frame["fpr_target"].unique()) == [0.05, 0.005]
    at_5 = frame[frame["fpr_target"] == 0.05]
    assert list(at_5["attack"]) == ["fgsm_0.3", "tmim", "jsma", "cw2"]  # UA, then TA
    assert list(at_5["type"]) == ["UA", "TA", "TA", "TA"]
    assert list(at_5["paper_row"]) == ["FGSM", "TMIFGSM", "JSMA", "CW2"]


def test_missing_defense_cell_is_nan_and_shown_absent() -> None:
    frame = comparison_table(forensic_cells(), "mnist", {"attractor": "attractor", "lid": "lid"})
    cw2 = row(frame, 0.05, "cw2")
    assert cw2["attractor_tpr"] == pytest.approx(3 / 40)
    for column in ("lid_tpr", "lid_fpr", "lid_auc", "lid_overall_asr", "lid_asr"):
        assert math.isnan(cw2[column]), column
    assert pd.isna(cw2["lid_tpr_count"])
    assert cw2["paper_lid_tpr"] == pytest.approx(0.939)  # the paper has it: the row shows
    lines = [
        line
        for line in comparison_markdown(frame).splitlines()
        if "| cw2 " in line and "LID" in line
    ]
    assert len(lines) == 1  # at 0.5% the paper has no LID number for CW2 and we no cell
    cells = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert cells[5:10] == ["—"] * 5  # ASR, TPR, FPR, AUC, overall ASR: no LID cell
    assert "93.9%" in cells  # the paper's TPR


def test_unconfigured_groups_are_left_out_and_names_mapped() -> None:
    cells = [forensic_cell("lid_k20", "fgsm_0.3", "fgsm"), forensic_cell("lid", "fgsm_0.3", "fgsm")]
    cells[1]["forensic"]["operating_points"][0]["tpr"] = rate(1, 50)
    frame = comparison_table(cells, None, {"lid": "lid_k20", "magnet": None})
    assert not [c for c in frame.columns if c.startswith(("attractor", "magnet", "paper_magnet"))]
    assert row(frame, 0.05, "fgsm_0.3")["lid_tpr"] == pytest.approx(0.98)  # lid_k20's, not lid's
    with pytest.raises(ValueError, match="unknown comparison group"):
        comparison_table(cells, None, {"mahalanobis": "m"})


def test_paper_columns_for_known_rows() -> None:
    frame = comparison_table(forensic_cells(), "mnist5k", None)
    fgsm = row(frame, 0.05, "fgsm_0.3")
    assert fgsm["paper_attractor_tpr"] == pytest.approx(1.0)
    assert fgsm["paper_lid_auc"] == pytest.approx(0.937)
    assert fgsm["paper_lid_overall_asr"] == pytest.approx(0.082)
    assert math.isnan(fgsm["paper_lid_tpr"])  # blank in the paper's OCR
    assert fgsm["paper_feature_squeezing_tpr"] == pytest.approx(0.961)
    assert fgsm["paper_magnet_fpr"] == pytest.approx(0.066)
    assert fgsm["paper_trapdoor_tpr"] == pytest.approx(1.0)
    low = row(frame, 0.005, "fgsm_0.3")
    assert math.isnan(low["paper_lid_tpr"]) and low["paper_lid_auc"] == pytest.approx(0.937)
    jsma = row(frame, 0.005, "jsma")
    assert jsma["paper_attractor_tpr"] == pytest.approx(0.882)  # Table IV at 0.5% FPR
    assert math.isnan(jsma["paper_attractor_fpr"])
    assert math.isnan(row(frame, 0.05, "cw2")["paper_trapdoor_tpr"])  # not run: "-"
    no_paper = comparison_table(forensic_cells(), None, None)
    assert no_paper.filter(regex="^paper_(?!row)").isna().all().all()


def test_transcribed_paper_numbers_are_fractions_on_known_rows() -> None:
    for dataset, groups in BASELINE_TABLE_III.items():
        for group, rows in groups.items():
            assert set(rows) <= set(ATTRACTORS_ROWS), (dataset, group)
            for values in rows.values():
                assert len(values) == 4
                assert all(v is None or 0.0 <= v <= 1.0 for v in values)
    assert paper_table_iii("cifar10", "magnet", "UAP") == (0.995, 0.059, 0.949, 0.004)
    assert paper_table_iii("cifar10", "attractor", "OM") == (0.819, 0.050, 0.883, 0.181)
    assert paper_table_iii("mnist", "lid", "LLC") == (None, None, None, None)  # merged rows
    assert paper_table_20("mnist5k", 0.3 + 1e-9, "trapdoor") == (0.0, 0.54, 0.94)
    assert paper_table_20("svhn", 0.1, "luring") == (None, None, None)


# --- Table 20 ----------------------------------------------------------------------------


def table_20_cells() -> list[dict[str, Any]]:
    return [
        transfer_cell("trapdoor", "fgsm", 0.3, (5, 50), (30, 50), (40, 50)),
        transfer_cell("trapdoor", "mim", 0.3, (2, 50), (35, 50), (45, 50)),
        transfer_cell("trapdoor", "dim_ti", 0.3, (8, 50), (25, 50), (48, 50)),
        transfer_cell("trapdoor", "linf_pgd", 0.3, (0, 50), (1, 50), (1, 50)),  # not Table 20's
        transfer_cell("trapdoor", "mim", 0.2, (0, 0), (0, 0), (0, 0)),  # empty X': skipped
        transfer_cell("trapdoor", "dim", 0.2, (9, 50), (40, 50), (45, 50)),
        transfer_cell("luring", "mim", 0.3, (6, 50), (40, 50), (42, 50)),
        transfer_cell("luring", "fgsm", 0.3, (9, 50), (40, 50), (44, 50)),  # tie on AC_M
        transfer_cell("luring_ce", "mim", 0.3, (0, 50), (0, 50), (0, 50)),  # other defense
        forensic_cell("trapdoor", "fgsm_0.3", "fgsm"),
    ]


def test_table_20_takes_each_minimum_with_its_attack(tmp_path: Path) -> None:
    paths = write_cells(tmp_path, table_20_cells())
    frame = luring_comparison_table(paths, "mnist", "luring", "trapdoor")
    assert list(frame["epsilon"]) == [0.2, 0.3]
    at_3 = frame[frame["epsilon"] == 0.3].iloc[0]
    assert at_3["trapdoor_ac_mop"] == pytest.approx(0.04)
    assert at_3["trapdoor_ac_mop_attack"] == "mim_0.3"
    assert at_3["trapdoor_ac_m"] == pytest.approx(0.5)
    assert at_3["trapdoor_ac_m_attack"] == "dim_ti_0.3"
    assert (at_3["trapdoor_dac_count"], at_3["trapdoor_dac_total"]) == (40, 50)
    assert at_3["trapdoor_dac_attack"] == "fgsm_0.3"
    assert at_3["trapdoor_candidates"] == "dim_ti_0.3;fgsm_0.3;mim_0.3"
    assert at_3["luring_ac_m_attack"] == "fgsm_0.3"  # tie: FGSM before MIM
    assert at_3["luring_ac_mop_attack"] == "mim_0.3"
    assert at_3["paper_trapdoor_ac_m"] == pytest.approx(0.54)
    assert at_3["paper_luring_dac"] == pytest.approx(0.75)
    at_2 = frame[frame["epsilon"] == 0.2].iloc[0]
    assert at_2["trapdoor_ac_m_attack"] == "dim_0.2"
    assert math.isnan(at_2["luring_ac_m"]) and at_2["paper_luring_ac_m"] == pytest.approx(0.92)
    text = luring_markdown(frame)
    assert "50.0% (25/50) by dim_ti_0.3" in text
    assert "54.0%" in text


def test_table_20_without_paper_or_defense() -> None:
    frame = luring_comparison_table(table_20_cells(), None, "luring", None)
    assert list(frame["epsilon"]) == [0.3]
    assert frame["trapdoor_ac_m"].isna().all()
    assert frame.filter(like="paper_").isna().all().all()
    other = luring_comparison_table(table_20_cells(), "mnist", "luring_ce", None)
    assert other["luring_ac_m"].iloc[0] == 0.0
    assert math.isnan(other["paper_luring_ac_m"].iloc[0])  # approach cross_entropy: no paper row


# --- writing -----------------------------------------------------------------------------


def test_write_baseline_tables(tmp_path: Path) -> None:
    paths = write_cells(tmp_path, forensic_cells() + table_20_cells())
    out = tmp_path / "out"
    out.mkdir()
    outputs = {f"{table}_{kind}": out / f"{table}.{kind}" for table in ("comparison", "luring")
               for kind in ("csv", "md")}  # fmt: skip
    metrics = write_baseline_tables(
        paths,
        outputs,
        paper_dataset="mnist",
        defenses={"attractor": "attractor", "lid": "lid", "trapdoor": "trapdoor"},
        luring_defense="luring",
        trapdoor_defense="trapdoor",
    )
    assert not list(out.glob(".tmp-*"))
    comparison = pd.read_csv(outputs["comparison_csv"])
    assert len(comparison) == 8  # 4 attacks at 5% and 0.5%; trapdoor's fgsm shares a row
    assert comparison["trapdoor_tpr"].notna().sum() == 2
    assert ",49,50," in outputs["comparison_csv"].read_text()  # counts as integers
    assert "98.0% (49/50)" in outputs["comparison_md"].read_text()
    assert "by dim_ti_0.3" in outputs["luring_md"].read_text()
    assert metrics["rows.comparison"] == 8.0 and metrics["rows.luring"] == 2.0
    assert metrics["comparison.attractor.fpr0_05.tpr_mean"] == pytest.approx(
        (0.98 * 3 + 3 / 40) / 4
    )
    assert metrics["luring.transfer_public.trapdoor.eps0_3.ac_m"] == pytest.approx(0.5)
    assert all(isinstance(value, float) for value in metrics.values())
    with pytest.raises(ValueError, match="unknown baseline table output"):
        write_baseline_tables(paths, {"figure_png": out / "x.png"}, paper_dataset=None)


def test_empty_inputs_give_empty_tables(tmp_path: Path) -> None:
    out = tmp_path / "c.md"
    write_baseline_tables(
        [], {"comparison_md": out, "luring_md": tmp_path / "l.md"}, paper_dataset=None
    )
    assert "(no data for this table)" in out.read_text()
    assert "(no data for this table)" in (tmp_path / "l.md").read_text()
