"""The attractors paper's tables, from hand-written cell metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from decoybench.metrics import Rate
from decoybench.papers.attractors.paper_numbers import attractors_row
from decoybench.papers.attractors.tables import attractor_tables, write_attractor_tables


def rate(count: int, total: int) -> dict[str, Any]:
    return Rate(count, total).as_dict()


def cell(kind: str, defense: str, label: str, attack: str, asr: tuple[int, int], **extra: Any):
    return {
        "cell": {"kind": kind, "defense": defense, "attack": label, "setting": kind},
        "attack": {"name": attack, "target_mode": extra.pop("target_mode", "none")},
        "rates": {"target_asr": rate(*asr)},
        "distortion": {"mean_l2": extra.pop("mean_l2", math.nan)},
        **extra,
    }


def point(fpr: float, tpr, fp, overall, recovery, auc: float) -> dict[str, Any]:
    return {
        "fpr_target": fpr,
        "tpr": rate(*tpr),
        "fpr": rate(*fp),
        "overall_asr": rate(*overall),
        "recovery_rate": rate(*recovery),
        "auc": auc,
    }


@pytest.fixture
def cell_files(tmp_path: Path) -> list[Path]:
    cells = [
        cell("whitebox", "undefended", "pgd", "linf_pgd", (9, 10)),
        cell("whitebox", "undefended", "fgsm", "fgsm", (6, 10)),
        cell("whitebox", "undefended", "cw", "cw2", (10, 10), mean_l2=1.25, target_mode="random"),
        cell("forensic", "attractor", "pgd", "linf_pgd", (3, 10), forensic={
            "operating_points": [
                point(0.05, (3, 3), (1, 20), (0, 10), (2, 3), 0.98),
                point(0.005, (2, 3), (0, 20), (1, 10), (2, 2), 0.98),
            ]}),
        cell("forensic", "attractor", "fgsm", "fgsm", (1, 10), forensic={
            "operating_points": [
                point(0.05, (1, 1), (1, 20), (0, 10), (1, 1), 1.0),
                point(0.005, (1, 1), (0, 20), (0, 10), (1, 1), 1.0),
            ]}),
        cell("forensic", "attractor", "mystery", "igs", (0, 10), forensic={
            "operating_points": [
                point(0.05, (0, 0), (1, 20), (0, 10), (0, 0), math.nan),
            ]}),
        cell("integrated", "attractor", "pgd", "linf_pgd", (1, 8)),
        cell("integrated", "attractor", "cw", "cw2", (2, 8), mean_l2=3.5, target_mode="random"),
        cell("whitebox", "undefended", "transfer-only", "dim", (5, 10)),
    ]  # fmt: skip
    paths = []
    for index, metrics in enumerate(cells):
        path = tmp_path / f"cell{index}.json"
        path.write_text(json.dumps(metrics))
        paths.append(path)
    return paths


def test_table_one_joins_the_victim_and_forensic_cells(cell_files) -> None:
    frame, shown = attractor_tables(cell_files, "mnist5k")["attractor_forensic"]
    # Paper order (FGSM before PGD), attacks without a paper row last.
    assert list(frame["attack"]) == ["fgsm", "pgd", "mystery"]
    assert list(frame["paper_row"]) == ["FGSM", "PGD", ""]
    pgd = frame.set_index("attack").loc["pgd"]
    assert (pgd["asr_victim_count"], pgd["asr_victim_total"]) == (9, 10)
    assert pgd["asr_attractor"] == pytest.approx(0.3)
    assert pgd["detection"] == 1.0 and pgd["recovery"] == pytest.approx(2 / 3)
    assert pgd["overall_asr"] == 0.0
    assert pgd["paper_asr_victim"] == 1.0 and pgd["paper_asr_attractor"] == pytest.approx(0.071)
    mystery = frame.set_index("attack").loc["mystery"]
    assert math.isnan(mystery["asr_victim"]) and math.isnan(mystery["paper_asr_attractor"])
    shown = shown.set_index("attack")
    assert (
        shown.loc["pgd", "ASR on M"].startswith("30.0% [")
        and "(3/10)" in shown.loc["pgd", "ASR on M"]
    )
    assert shown.loc["pgd", "ASR on M (paper)"] == "7.1%"
    assert shown.loc["mystery", "ASR on C"] == "—"
    assert shown.loc["mystery", "detected (F_d)"] == "n/a (0/0)"  # no adversarial found


def test_detection_and_low_fpr_tables(cell_files) -> None:
    tables = attractor_tables(cell_files, "mnist5k")
    detection = tables["attractor_detection"][0].set_index("attack")
    assert detection.loc["pgd", "auc"] == pytest.approx(0.98)
    assert (detection.loc["pgd", "fpr_count"], detection.loc["pgd", "fpr_total"]) == (1, 20)
    assert tables["attractor_detection"][1].set_index("attack").loc["pgd", "AUC"] == "98.0%"
    low, low_shown = tables["attractor_low_fpr"]
    low = low.set_index("attack")
    assert low.loc["pgd", "tpr_2"] == pytest.approx(2 / 3)
    assert low.loc["pgd", "overall_asr_2_count"] == 1
    assert (low.loc["pgd", "fpr_1_count"], low.loc["pgd", "fpr_2_count"]) == (1, 0)
    assert math.isnan(low.loc["mystery", "tpr_2"])  # calibrated at one point only
    assert low.loc["pgd", "paper_overall_asr_2"] == 0.0  # Table IV, PGD at 0.5% FPR
    assert "TPR @ 0.5% FPR" in low_shown.columns and "FPR @ 5% FPR (paper)" in low_shown.columns


def test_integrated_and_distortion_tables(cell_files) -> None:
    tables = attractor_tables(cell_files, "mnist5k")
    integrated = tables["attractor_integrated"][0].set_index("attack")
    assert list(integrated.index) == ["pgd", "cw"]
    assert integrated.loc["pgd", "asr_integrated"] == pytest.approx(1 / 8)
    assert integrated.loc["cw", "paper_asr_integrated"] == pytest.approx(0.019)
    distortion, shown = tables["attractor_distortion"]
    assert list(distortion["attack"]) == ["cw"]  # BLB, CW2, EAD only
    assert distortion.loc[0, "l2_victim"] == 1.25 and distortion.loc[0, "l2_integrated"] == 3.5
    assert distortion.loc[0, "paper_l2_integrated"] == pytest.approx(0.39)
    assert shown.loc[0, "mean L2 on M_(d,r)"] == "3.500"
    assert shown.loc[0, "mean L2 on M_(d,r) (paper, CIFAR-10)"] == "0.390"


def test_paper_columns_follow_the_dataset(cell_files) -> None:
    cifar = attractor_tables(cell_files, "cifar10")["attractor_forensic"][0].set_index("attack")
    assert cifar.loc["pgd", "paper_asr_attractor"] == pytest.approx(0.946)
    svhn = attractor_tables(cell_files, "svhn")["attractor_forensic"][0]
    assert svhn["paper_asr_attractor"].isna().all()  # the paper has no SVHN columns


def test_written_tables_are_csv_and_markdown(cell_files, tmp_path) -> None:
    outputs = {
        name: (tmp_path / f"{name}.csv", tmp_path / f"{name}.md")
        for name in ("attractor_forensic", "attractor_distortion")
    }
    rows = write_attractor_tables(cell_files, "mnist5k", outputs)
    assert rows == {"attractor_forensic": 3, "attractor_distortion": 1}
    assert len(pd.read_csv(outputs["attractor_forensic"][0])) == 3
    assert outputs["attractor_forensic"][1].read_text().startswith("| type")
    with pytest.raises(ValueError, match="unknown attractor table"):
        write_attractor_tables(cell_files, "mnist5k", {"table_ix": outputs["attractor_forensic"]})


@pytest.mark.parametrize(
    ("label", "attack", "mode", "row"),
    [
        ("deepsec-mnist.pgd", "linf_pgd", "none", "PGD"),
        ("trapdoor.pgd", "linf_pgd", "none", "PGD*"),
        ("trapdoor.bpda", "bpda", "none", "BPDA"),  # no starred BPDA row in the paper
        ("mim_0.3", "mim", "none", "UMIFGSM"),
        ("mim_targeted", "mim", "random", "TMIFGSM"),
        ("dim_0.3", "dim", "none", None),
        # Like for like only (issue 17, defect 1): the paper's CW2 / EAD / JSMA are targeted.
        ("cw2", "cw2", "none", None),
        ("cw2_ta", "cw2", "random", "CW2"),
        ("ead", "ead", "none", None),
        ("ead_ta", "ead", "random", "EAD"),
        ("trapdoor.cw2", "cw2", "random", "CW2*"),
        ("jsma", "jsma", "random", "JSMA"),
        ("llc_0.3", "llc", "least_likely", "LLC"),
        ("pgd_targeted", "linf_pgd", "random", None),
    ],
)
def test_paper_rows(label, attack, mode, row) -> None:
    assert attractors_row(label, attack, mode) == row


def test_claims_are_checked_against_stated_thresholds(cell_files) -> None:
    from decoybench.papers.attractors.claims import attractor_claims

    forensic = attractor_tables(cell_files, "mnist5k")["attractor_forensic"][0]
    clean = {"clean_accuracy_victim": rate(96, 100), "clean_accuracy_defended": rate(94, 100)}
    claims = attractor_claims(forensic, clean, "mnist5k")
    assert claims.loc[0, "paper"] == "C 98.1%, M 98.0% (MNIST)"  # Table II, MNIST
    assert attractor_claims(forensic, clean, "cifar10").loc[0, "paper"] == (
        "C 90.1%, M 90.0% (CIFAR-10)"
    )
    assert attractor_claims(forensic, clean, "imagenet").loc[0, "paper"] == "—"
    verdicts = {(row.claim.split(" (")[0].split(" at most")[0], row.attack): row.verdict
                for row in claims.itertuples()}  # fmt: skip
    # Ten images per cell: every interval straddles its threshold.
    assert verdicts[("clean accuracy of M within 1 point of C", "")] == "undecided"  # 2 pts
    assert verdicts[("ASR on M", "fgsm")] == "undecided"  # 10% vs 0.25 × 60%, n = 10
    assert verdicts[("ASR on M", "pgd")] == "undecided"  # 30% vs 0.25 × 90%, n = 10
    assert verdicts[("TPR ≥ 95%", "pgd")] == "undecided"  # 3/3
    assert not any(claims["attack"] == "mystery")  # IGS is no paper row
    clean["clean_accuracy_defended"] = rate(9580, 10000)  # −0.2 points [−0.8, +0.4]
    clean["clean_accuracy_victim"] = rate(9600, 10000)
    assert attractor_claims(forensic, clean, "mnist5k").loc[0, "verdict"] == "holds"


def _forensic_row(attack: str, row: str, on_c: int, on_m: int, detected: int) -> dict[str, Any]:
    """A Table I CSV row over 500 images: ASR on C and M, and F_d's TPR over M's successes."""
    values: dict[str, Any] = {"type": "UA", "attack": attack, "paper_row": row}
    for prefix, count, total in (
        ("asr_victim", on_c, 500),
        ("asr_attractor", on_m, 500),
        ("detection", detected, on_m),
    ):
        values.update({prefix: count / total, f"{prefix}_count": count, f"{prefix}_total": total})
        values[f"paper_{prefix}"] = math.nan
    return values


def test_claim_verdicts_are_read_from_intervals() -> None:
    """At 500 images each verdict is decided from its interval: holds, fails, or, for a
    point estimate just on the right side of the threshold, undecided."""
    from decoybench.papers.attractors.claims import attractor_claims

    forensic = pd.DataFrame(
        [
            _forensic_row("fgsm", "FGSM", 480, 80, 80),  # 16% vs 0.25 × 96%: holds
            _forensic_row("pgd", "PGD", 450, 300, 60),  # 60% vs 22.5%: fails; TPR 20% fails
            _forensic_row("bim", "BIM", 400, 95, 94),  # 19% vs 20%: undecided; TPR 98.9%
        ]
    )
    clean = {"clean_accuracy_victim": rate(980, 1000), "clean_accuracy_defended": rate(900, 1000)}
    claims = attractor_claims(forensic, clean, "mnist5k")
    verdicts = {(row.claim.split(" (")[0].split(" at most")[0], row.attack): row.verdict
                for row in claims.itertuples()}  # fmt: skip
    assert verdicts[("clean accuracy of M within 1 point of C", "")] == "fails"  # −8 points
    assert verdicts[("ASR on M", "fgsm")] == "holds"
    assert verdicts[("ASR on M", "pgd")] == "fails"
    assert verdicts[("ASR on M", "bim")] == "undecided"
    assert verdicts[("TPR ≥ 95%", "fgsm")] == "holds"  # 80/80: Wilson low 95.4%
    assert verdicts[("TPR ≥ 95%", "pgd")] == "fails"
    assert verdicts[("TPR ≥ 95%", "bim")] == "undecided"


def test_figure7_claim_uses_the_valid_attractor_summary() -> None:
    """Fig. 7a's claim is read from the valid (in-box) attractor's cosines; the lattice
    attractor outside [0, 1] is shown beside it and decides nothing (issue 17, defect 3)."""
    from decoybench.papers.attractors.claims import attractor_claims

    clean = {"clean_accuracy_victim": rate(96, 100), "clean_accuracy_defended": rate(96, 100)}
    forensic = pd.DataFrame([_forensic_row("fgsm", "FGSM", 480, 80, 80)])
    summary = {
        "defined_Z2": 100,
        "count_Z2_above_0.8": 0,
        "median_Z2": -0.35,
        "defined_Z2_lattice": 100,
        "count_Z2_lattice_above_0.8": 84,
        "median_Z2_lattice": 0.95,
    }
    row = (
        attractor_claims(forensic, clean, "mnist5k", summary).set_index("key").loc["fig7_attracted"]
    )
    assert row["verdict"] == "fails" and row["measured"] == 0.0
    assert "0/100 above 0.8 (median -0.35)" in row["ours"] and "84/100" in row["ours"]
    summary.update({"count_Z2_above_0.8": 90, "median_Z2": 0.9})
    row = (
        attractor_claims(forensic, clean, "mnist5k", summary).set_index("key").loc["fig7_attracted"]
    )
    assert row["verdict"] == "holds"
    no_analysis = attractor_claims(forensic, clean, "mnist5k").set_index("key")
    assert no_analysis.loc["fig7_attracted", "verdict"] == "no data"
