"""The luring paper's tables, from hand-written cell metrics, sidecars and an Ω npz."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from decoybench.metrics import Rate
from decoybench.papers.luring.paper_numbers import (
    LURING_DEFENSE_TABLE,
    LURING_TABLE_8,
    LURING_TABLE_19,
    paper_agreement,
    paper_defense,
    paper_distortion,
    paper_epsilons,
    paper_logits,
)
from decoybench.papers.luring.tables.claims import CLAIMS_COLUMNS, claims_table
from decoybench.papers.luring.tables.write import (
    LURING_TABLES,
    build_luring_tables,
    headline_metrics,
    write_luring_tables,
)

APPROACH = {
    "luring": "luring",
    "luring_stack": "stack",
    "luring_auto": "auto",
    "luring_ce": "cross_entropy",
}


def rate(count: int, total: int) -> dict[str, Any]:
    return Rate(count, total).as_dict()


def samples(label, selected, augmented, target) -> dict[str, list]:
    return {
        "index": list(range(len(label))),
        "selected": list(selected),
        "label": list(label),
        "augmented_clean": list(label),
        "target_clean": list(label),
        "augmented_adversarial": list(augmented),
        "target_adversarial": list(target),
    }


def luring_cell(defense: str, attack: str, label: str, epsilon, **luring: Any) -> dict[str, Any]:
    luring.setdefault("rates", {})
    luring.setdefault("distortion_on_public", {"mean_l0": 1.0, "mean_l2": 1.0, "mean_linf": 0.1})
    return {
        "cell": {
            "dataset": "mnist5k",
            "setting": "transfer_public",
            "kind": "transfer",
            "defense": defense,
            "attack": label,
        },
        "attack": {"name": attack, "norm": "linf", "epsilon": epsilon},
        "rates": {"target_asr": rate(1, 2)},
        "distortion": {"mean_l0": 9.0, "mean_l2": 9.0, "mean_linf": 9.0},
        "n_attempted": 5,
        "luring": {"approach": APPROACH[defense], "n_selected": 5, "n_blank": 0, **luring},
    }


def luring_rates(ac_m: tuple[int, int], dac: tuple[int, int], ac_mop=(0, 10)) -> dict:
    return {"ac_mop": rate(*ac_mop), "ac_m": rate(*ac_m), "dac": rate(*dac)}


LABELS = [1, 2, 3, 4, 5]
# Figure 2, FGSM at ε = 0.3: each defense's (selected, M∘P(x'), M(x')). Fooled on the selected:
# luring {0,1,2,3}, stack {0,1,3,4}, auto {0,...,4}, ce {0,1,3}; common X' = {0, 1, 3}.
FGSM_MIDDLE = {
    "luring": ([1, 1, 1, 1, 0], [0, 0, 0, 0, 0], [1, 0, 9, 4, 0]),
    "luring_stack": ([1] * 5, [0, 0, 3, 0, 0], [0, 0, 3, 0, 0]),
    "luring_auto": ([1] * 5, [0, 0, 0, 0, 0], [7, 0, 0, 0, 0]),
    "luring_ce": ([1] * 5, [0, 0, 3, 0, 5], [1, 0, 3, 0, 5]),
}
# On the common X': luring DR 2/3, IAR 2/3; stack 0/3, 0/3; auto 1/3, 0/3; ce 1/3, 1/3.
EXPECTED_COMMON = {
    "luring": ((2, 3), (2, 3)),
    "luring_stack": ((0, 3), (0, 3)),
    "luring_auto": ((1, 3), (0, 3)),
    "luring_ce": ((1, 3), (1, 3)),
}


def write(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return path


def sidecar(defense: str, both_correct: int) -> dict[str, Any]:
    return {
        "approach": APPROACH[defense],
        "component": "mnist",
        "recipe": {},
        "target_name": "victim",
        "table8": {
            "test_accuracy_augmented": rate(960, 1000),
            "test_accuracy_target": rate(990, 1000),
            "agreement_same_label": rate(970, 1000),
            "agreement_both_correct": rate(both_correct, 1000),
        },
    }


def build_inputs(tmp_path: Path, luring_agreement: int = 950) -> tuple[list[Path], dict]:
    defenses = {
        name: write(
            tmp_path / "defenses" / name / "defense.json",
            sidecar(name, luring_agreement if name == "luring" else 975),
        )
        for name in APPROACH
    }
    cells: list[dict[str, Any]] = []
    for name, (selected, augmented, target) in FGSM_MIDDLE.items():
        cells.append(
            luring_cell(
                name,
                "fgsm",
                "fgsm_0.3",
                0.3,
                rates={"dr": rate(9, 10), "iar": rate(8, 10)},
                per_sample=samples(LABELS, [bool(s) for s in selected], augmented, target),
            )
        )
        for epsilon in (0.1, 0.5):  # no luring effect anywhere: M agrees with M∘P
            cells.append(
                luring_cell(
                    name,
                    "fgsm",
                    f"fgsm_{epsilon}",
                    epsilon,
                    per_sample=samples(LABELS, [True] * 5, [0] * 5, [0] * 5),
                )
            )
    # FGSM at 0.2 on Luring only: not on every defense, so not in Figure 2's data.
    cells.append(
        luring_cell(
            "luring",
            "fgsm",
            "fgsm_0.2",
            0.2,
            per_sample=samples(LABELS, [True] * 5, [0] * 5, LABELS),
        )
    )
    # Table 14 rows: MIM-W at ε = 0.3 (float noise on purpose), SPSA at 0.3 and 0.25.
    eps = 0.1 + 0.2
    mim_w = {
        "luring": {
            "mim": ((8, 10), (9, 10)),
            "dim": ((5, 10), (7, 10)),
            "mim_ti": ((5, 10), (6, 10)),  # ties DIM on AC_M, lower DAC: chosen
        },
        "luring_stack": {"mim": ((3, 10), (5, 10)), "dim": ((4, 10), (4, 10))},
        "luring_ce": {"mim": ((4, 10), (7, 10)), "dim_ti": ((6, 10), (8, 10))},
    }
    for name, attacks in mim_w.items():
        for attack, (ac_m, dac) in attacks.items():
            cells.append(
                luring_cell(name, attack, f"{attack}_0.3", eps, rates=luring_rates(ac_m, dac))
            )
    for name, ac_m in (("luring", 9), ("luring_stack", 6), ("luring_auto", 7), ("luring_ce", 8)):
        cells.append(
            luring_cell(name, "spsa", "spsa_0.3", 0.3, rates=luring_rates((ac_m, 10), (ac_m, 10)))
        )
    cells.append(
        luring_cell("luring", "spsa", "spsa_0.25", 0.25, rates=luring_rates((9, 10), (9, 10)))
    )
    # Table 9: CWL2 crafted on M (white-box, undefended) and on the Luring M∘P.
    cells.append(
        luring_cell(
            "luring",
            "cw2",
            "cw2",
            None,
            distortion_on_public={"mean_l0": 300.0, "mean_l2": 1.1, "mean_linf": 0.3},
            per_sample=samples(LABELS, [1, 1, 1, 0, 1], [0, 0, 3, 0, 0], LABELS),
        )
    )
    whitebox = {
        "cell": {"setting": "whitebox", "kind": "whitebox", "defense": "undefended"},
        "attack": {"name": "cw2", "norm": "l2", "epsilon": None},
        "distortion": {"mean_l0": 200.0, "mean_l2": 0.9, "mean_linf": 0.25},
        "n_attempted": 10,
    }
    cells.append(
        {
            **whitebox,
            "cell": {**whitebox["cell"], "attack": "cw2"},
            "rates": {"target_asr": rate(7, 10)},
        }
    )
    cells.append(
        {
            **whitebox,
            "cell": {**whitebox["cell"], "attack": "jsma"},
            "attack": {"name": "jsma", "epsilon": None},
            "rates": {"target_asr": rate(1, 2)},
        }
    )
    # Another defense's cell is ignored.
    cells.append(
        {
            "cell": {
                "setting": "forensic",
                "kind": "forensic",
                "defense": "attractor",
                "attack": "fgsm_0.3",
            },
            "attack": {"name": "fgsm", "epsilon": 0.3},
        }
    )
    paths = [write(tmp_path / "eval" / f"{k}.json", value) for k, value in enumerate(cells)]
    return paths, defenses


@pytest.fixture
def tables(tmp_path: Path) -> dict[str, pd.DataFrame]:
    cells, defenses = build_inputs(tmp_path)
    return build_luring_tables(cells=cells, defenses=defenses, analysis=None, paper_dataset="mnist")


def test_common_adversarial_set_and_hand_computed_rates(tables: dict[str, pd.DataFrame]) -> None:
    frame = tables["luring_characterization"]
    assert sorted(frame["epsilon"].unique()) == [0.1, 0.3, 0.5]  # 0.2: Luring only
    middle = frame[np.isclose(frame["epsilon"], 0.3)].set_index("defense")
    assert list(middle.index) == list(APPROACH)  # the sidecars' order
    assert (middle["n_common"] == 3).all()
    for name, ((dr, total), (iar, _)) in EXPECTED_COMMON.items():
        row = middle.loc[name]
        assert (row["dr_count"], row["dr_total"]) == (dr, total)
        assert (row["iar_count"], row["iar_total"]) == (iar, total)
        assert row["dr"] == pytest.approx(dr / total)
        assert row["dr_low"] < row["dr"] < row["dr_high"] or dr in (0, total)
        assert row["dr_own"] == pytest.approx(0.9) and row["iar_own"] == pytest.approx(0.8)
        assert row["approach"] == APPROACH[name] and row["attack"] == "fgsm"
    for column in (
        "attack",
        "epsilon",
        "defense",
        "approach",
        "dr",
        "dr_low",
        "dr_high",
        "iar",
        "iar_low",
        "iar_high",
        "n_common",
        "dr_own",
        "iar_own",
    ):
        assert column in frame.columns


def test_mim_w_picks_lowest_ac_m_per_defense_and_epsilon(tables: dict[str, pd.DataFrame]) -> None:
    frame = tables["luring_defense"]
    mim_w = frame[frame["row"] == "MIM-W"].set_index("defense")
    assert list(mim_w.index) == ["luring", "luring_stack", "luring_ce"]
    assert mim_w.loc["luring", "chosen_attack"] == "mim_ti"  # AC_M tie with DIM, lower DAC
    assert mim_w.loc["luring", "chosen_label"] == "mim_ti_0.3"
    assert mim_w.loc["luring", "candidates"] == "dim_0.3;mim_0.3;mim_ti_0.3"
    assert mim_w.loc["luring_stack", "chosen_attack"] == "mim"
    assert mim_w.loc["luring_ce", "chosen_attack"] == "mim"
    assert (mim_w.loc["luring", "ac_m_count"], mim_w.loc["luring", "dac_count"]) == (5, 6)
    # The paper's Table 14 MIM-W, ε = 0.3 (our ε is 0.30000000000000004).
    assert tuple(mim_w.loc["luring", ["paper_ac_mop", "paper_ac_m", "paper_dac"]]) == (
        0.13,
        0.69,
        0.75,
    )
    spsa = frame[frame["row"] == "SPSA"]
    assert set(spsa["epsilon"]) == {0.25, 0.3}
    assert math.isnan(spsa[spsa["epsilon"] == 0.25]["paper_ac_m"].iloc[0])  # no such paper ε
    assert "ECO" not in set(frame["row"])  # no cells, no row


def test_paper_number_lookup() -> None:
    assert paper_agreement("mnist", "luring") == (0.974, 0.969)
    assert paper_agreement("mnist5k", "target") == (0.991, None)
    assert paper_agreement("cifar10", "auto") == (None, None)
    assert paper_agreement(None, "luring") == (None, None)
    assert paper_defense("svhn", "MIM-W", 0.08 + 1e-9, "luring") == (0.0, 0.48, 0.67)
    assert paper_defense("cifar10", "ECO", 0.03, "stack") == (0.09, 0.44, 0.59)
    assert paper_defense("cifar10", "SPSA", 0.03, "auto") == (None, None, None)
    assert paper_defense("mnist", "SPSA", 0.5, "luring") == (None, None, None)
    assert paper_distortion("svhn", "target") == (0.32, 0.04)
    assert paper_logits("mnist") is None and paper_logits("cifar10")[6] == 0.89
    assert paper_epsilons("mnist", "ECO") == (0.2, 0.3, 0.4)
    # Sec. 3.1's relative test-accuracy drops, 1.71%, 4.26%, 4.48%, follow from Table 8.
    for dataset, drop in (("mnist", 1.71), ("svhn", 4.26), ("cifar10", 4.48)):
        base, luring = LURING_TABLE_8[dataset]["target"][0], LURING_TABLE_8[dataset]["luring"][0]
        assert 100 * (base - luring) / base == pytest.approx(drop, abs=0.02)
    # Table 19's Luring column repeats the MIM-W cells of Tables 14 and 1.
    for dataset, row in LURING_TABLE_19.items():
        assert (
            LURING_DEFENSE_TABLE[dataset]["MIM-W"][row["epsilon"]]["luring"][1:]
            == (row["luring"][1:])
        )
    assert "auto" not in LURING_DEFENSE_TABLE["cifar10"]["SPSA"][0.02]


def test_agreement_and_distortion_tables(tables: dict[str, pd.DataFrame]) -> None:
    agreement = tables["luring_agreement"].set_index("defense")
    assert list(agreement.index) == ["target", *APPROACH]
    assert agreement.loc["target", "test_accuracy"] == pytest.approx(0.99)
    assert pd.isna(agreement.loc["target", "agreement_both_correct_count"])
    assert agreement.loc["luring", "agreement_both_correct_count"] == 950
    assert agreement.loc["luring", "paper_agree"] == 0.969
    assert math.isnan(agreement.loc["target", "paper_agree"])

    distortion = tables["luring_distortion"]
    cw2 = distortion[distortion["attack"] == "cw2"].set_index("model")
    assert list(cw2.index) == ["target", "luring"]  # jsma has no luring cell; attractor ignored
    assert cw2.loc["target", "n"] == 7 and cw2.loc["target", "mean_l2"] == 0.9
    assert cw2.loc["luring", "n"] == 3 and cw2.loc["luring", "mean_l0"] == 300.0
    assert (cw2.loc["target", "paper_mean_l2"], cw2.loc["luring", "paper_mean_linf"]) == (
        0.96,
        0.31,
    )
    fgsm = distortion[distortion["attack"] == "fgsm"]
    assert fgsm["paper_mean_l2"].isna().all() and (fgsm["model"] != "target").all()


def test_claims_on_constructed_numbers(tables: dict[str, pd.DataFrame]) -> None:
    """The fixture's X' are 3-5 images: every margin's interval straddles 0, and the
    agreement gap of 2.5 points [−4.2, −0.8] straddles −3: nothing is decided."""
    claims = tables["luring_claims"].set_index("key")
    agreement = claims.loc["agreement.luring.luring_ce"]
    assert agreement["verdict"] == "undecided" and agreement["measured"] == pytest.approx(-0.025)
    iar = claims.loc["iar.transfer_public.fgsm.luring"]  # one row over ε 0.1, 0.3, 0.5
    assert iar["verdict"] == "undecided" and iar["measured"] == pytest.approx(0.0)
    assert "ε = 0.3 [fgsm_0.3]: Luring 66.7%" in iar["detail"]
    dac = claims.loc["dac.transfer_public.MIM-W.luring"]
    assert dac["verdict"] == "undecided" and dac["measured"] == pytest.approx(0.6 - 0.7)
    assert "not compared (no data): Auto" in dac["detail"]
    assert set(claims["verdict"]) == {"undecided"}
    assert len(claims) == 7
    metrics = headline_metrics(tables)
    assert metrics["claim.dac.transfer_public.MIM-W.luring"] == 0.5
    assert metrics["claims.undecided"] == 7.0 and metrics["claims.holds"] == 0.0
    assert metrics["rows.luring_claims"] == 7.0


def test_agreement_claim_fails_far_beyond_three_points(tmp_path: Path) -> None:
    cells, defenses = build_inputs(tmp_path, luring_agreement=900)
    frames = build_luring_tables(
        cells=cells[:0], defenses=defenses, analysis=None, paper_dataset="svhn"
    )
    claims = frames["luring_claims"]
    assert len(claims) == 1 and claims["verdict"].iloc[0] == "fails"  # −7.5 points
    assert claims["measured"].iloc[0] == pytest.approx(-0.075)
    empty = claims_table(
        frames["luring_agreement"].iloc[:0],
        frames["luring_characterization"],
        frames["luring_defense"],
    )
    assert empty.empty and list(empty.columns) == list(CLAIMS_COLUMNS)


NO_ROWS = pd.DataFrame(columns=["setting", "row", "epsilon", "defense", "approach"])


def _rates(prefix: str, count: int, total: int = 100) -> dict[str, float]:
    return {
        prefix: count / total,
        f"{prefix}_count": count,
        f"{prefix}_total": total,
        f"{prefix}_low": math.nan,
        f"{prefix}_high": math.nan,
    }


def _figure2(rows: list[tuple[float, str, int, int]]) -> pd.DataFrame:
    """Figure 2 rows (ε, approach, IAR count, DR count) of one attack, 100 images each."""
    names = {"luring": "luring", "stack": "luring_stack", "auto": "luring_auto"}
    names["cross_entropy"] = "luring_ce"
    return pd.DataFrame(
        [
            {
                "setting": "transfer_public",
                "attack": "mim",
                "attack_label": f"mim_{epsilon:g}",
                "epsilon": epsilon,
                "defense": names[approach],
                "approach": approach,
                "n_common": 100,
                **_rates("iar", iar),
                **_rates("dr", dr),
            }
            for epsilon, approach, iar, dr in rows
        ]
    )


def test_figure2_claim_is_over_every_epsilon_not_the_middle_one() -> None:
    """Sec. 3.3: Luring's IAR is the highest "for every ϵ". Above the others at ε = 0.1 and
    at the middle ε = 0.2 but below Stack at 0.3: the claim fails (the middle-ε reading
    said it held)."""
    rows = []
    for epsilon, luring, stack in ((0.1, 80, 20), (0.2, 70, 20), (0.3, 30, 60)):
        rows += [(epsilon, "luring", luring, 90), (epsilon, "stack", stack, 10)]
        rows += [(epsilon, "auto", 10, 10), (epsilon, "cross_entropy", 10, 10)]
    claims = claims_table(NO_ROWS, _figure2(rows), NO_ROWS).set_index("key")
    assert claims.loc["iar.transfer_public.mim.luring", "verdict"] == "fails"
    assert claims.loc["iar.transfer_public.mim.luring", "measured"] == pytest.approx(-0.3)
    assert claims.loc["dr.transfer_public.mim.luring", "verdict"] == "holds"  # 90 vs 10
    # A margin of 2 points at n = 100 decides nothing.
    close = [(0.1, "luring", 52, 90), (0.1, "stack", 50, 10)]
    close += [(0.1, "auto", 10, 10), (0.1, "cross_entropy", 10, 10)]
    claims = claims_table(NO_ROWS, _figure2(close), NO_ROWS).set_index("key")
    assert claims.loc["iar.transfer_public.mim.luring", "verdict"] == "undecided"


OMEGA = {
    "luring": [[5, 1, 3], [2, 2, 2], [9, 0, 4], [1, 1, 1]],
    "luring_stack": [[4, 2, 3], [1, 3, 1], [8, 0, 5], [0, 0, 0]],
    "luring_ce": [[3, 0, 2], [3, 1, 1], [1, 0, 3], [0, 2, 0]],
}


def write_analysis(path: Path, approaches: list[str]) -> Path:
    arrays = {
        "index": np.arange(4),
        "defenses": np.array(list(OMEGA)),
        "approaches": np.array(approaches),
    }
    arrays.update(
        {f"omega__{name}": np.array(omega, dtype=np.int64) for name, omega in OMEGA.items()}
    )
    np.savez(path, **arrays)
    return path


def test_table_10_dominance_on_hand_built_omega(tmp_path: Path) -> None:
    from decoybench.papers.luring.tables.logits import logits_table

    analysis = write_analysis(tmp_path / "analysis.npz", ["luring", "stack", "cross_entropy"])
    frame = logits_table(analysis, "svhn")
    counts = {
        (row.compared_with, row["class"]): row.rate_count for _, row in frame.iterrows()
    }  # 0-based classes; "all" = strictly above both
    assert [counts["all", c] for c in range(3)] == [3, 0, 2]
    assert [counts["luring_stack", c] for c in range(3)] == [4, 1, 2]
    assert [counts["luring_ce", c] for c in range(3)] == [3, 2, 4]
    assert (frame["rate_total"] == 4).all()
    everything = frame[frame["compared_with"] == "all"]
    assert list(everything["paper_rate"]) == [0.81, 0.85, 0.86]
    assert frame[frame["compared_with"] != "all"]["paper_rate"].isna().all()
    assert "MNIST" in logits_table(analysis, "mnist")["note"].iloc[0]
    with pytest.raises(ValueError, match="luring_stack \\(luring\\)"):
        logits_table(write_analysis(tmp_path / "two.npz", ["luring", "luring", "stack"]), "svhn")


def test_markdown_and_csv_written(tmp_path: Path) -> None:
    cells, defenses = build_inputs(tmp_path)
    outputs = {
        f"{name}_{extension}": tmp_path / "tables" / f"{name}.{extension}"
        for name in LURING_TABLES
        for extension in ("csv", "md")
    }
    frames = write_luring_tables(
        cells=cells, defenses=defenses, analysis=None, paper_dataset="mnist", outputs=outputs
    )
    for name in LURING_TABLES:
        text = outputs[f"{name}_md"].read_text()
        assert text.startswith("Luring paper") and "\n\n" in text
        csv = pd.read_csv(outputs[f"{name}_csv"])
        assert list(csv.columns) == list(frames[name].columns)
    characterization = outputs["luring_characterization_md"].read_text()
    assert "66.7% [" in characterization and "(2/3)" in characterization
    assert "(no data for this table)" in outputs["luring_logits_md"].read_text()
    assert "96.0% [" in outputs["luring_agreement_md"].read_text()
    assert not list((tmp_path / "tables").glob(".tmp-*"))
    with pytest.raises(ValueError, match="unknown luring table output"):
        write_luring_tables(
            cells=cells,
            defenses=defenses,
            analysis=None,
            paper_dataset="mnist",
            outputs={"luring_figure_png": tmp_path / "x.png"},
        )
