"""luring_adaptive (decoybench.papers.luring.tables.threat) on hand-built cell metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from decoybench.metrics import Rate
from decoybench.papers.luring.tables.inputs import load_inputs
from decoybench.papers.luring.tables.threat import INSIDE, OUTSIDE, threat_table


def cell(
    setting: str, kind: str, label: str, name: str, ac_m: int, dac: int, **extra: Any
) -> dict[str, Any]:
    """A luring cell over 10 images of X': AC_M and DAC counts as given."""
    identity = {"setting": setting, "kind": kind, "defense": "luring", "attack": label}
    identity.update(extra)
    return {
        "cell": identity,
        "attack": {"name": name, "norm": "l2", "epsilon": None},
        "source_model": "T" if kind == "transfer" else "victim",
        "queries_per_sample": 650.0 if kind == "decision" else 40.0,
        "luring": {
            "approach": "luring",
            "n_selected": 10,
            "rates": {
                "ac_mop": Rate(0, 10).as_dict(),
                "ac_m": Rate(ac_m, 10).as_dict(),
                "dac": Rate(dac, 10).as_dict(),
            },
        },
    }


def write(tmp_path: Path, cells: list[dict[str, Any]]) -> tuple[list[Path], dict[str, Path]]:
    paths = []
    for k, metrics in enumerate(cells):
        paths.append(tmp_path / f"cell{k}.json")
        paths[-1].write_text(json.dumps(metrics))
    sidecar = tmp_path / "luring.json"
    sidecar.write_text(json.dumps({"approach": "luring"}))
    return paths, {"luring": sidecar}


def test_inside_and_outside_rows_labelled_with_intervals(tmp_path: Path) -> None:
    cells, defenses = write(
        tmp_path,
        [
            cell("transfer_public", "transfer", "mim_0.3", "mim", ac_m=6, dac=9),
            cell("transfer_public", "transfer", "fgsm_0.3", "fgsm", ac_m=1, dac=1),
            cell(
                "transfer_public",
                "transfer",
                "cw2_k20",
                "cw2",
                ac_m=4,
                dac=7,
                attack_config={"attack": "cw2", "confidence": 20},
            ),
            cell(
                "transfer_public_s_mnist",
                "transfer",
                "fgsm_0.3",
                "fgsm",
                ac_m=5,
                dac=8,
                ensemble_with_public=True,
            ),
            cell("decision_hidden", "decision", "hsj_l2", "hop_skip_jump", ac_m=0, dac=2),
        ],
    )
    inputs = load_inputs(cells, defenses)
    # The paper's tables keep the paper's cells only (no κ sweep, ensemble, decision).
    assert sorted(c.label for c in inputs.luring) == ["fgsm_0.3", "mim_0.3"]
    frame = threat_table(inputs).set_index(["setting", "attack"])
    # FGSM on T alone is no row (not among the strongest transfers); on the ensemble it is.
    assert ("transfer_public", "fgsm_0.3") not in frame.index
    assert list(frame["threat"]) == [INSIDE, INSIDE, INSIDE, OUTSIDE]
    hsj = frame.loc["decision_hidden", "hsj_l2"]
    assert hsj["success"] == pytest.approx(0.8) and hsj["success_count"] == 8
    assert hsj["fooled_m"] == pytest.approx(1.0) and hsj["queries_per_sample"] == 650.0
    low, high = Rate(8, 10).interval
    assert hsj["success_low"] == pytest.approx(low) and hsj["success_high"] == high
    assert hsj["worst_in_threat"]
    cw2 = frame.loc["transfer_public", "cw2_k20"]
    assert cw2["confidence"] == 20 and cw2["success"] == pytest.approx(0.3)
    assert math.isnan(frame.loc["transfer_public", "mim_0.3"]["confidence"])
    # Inside, the strongest is C&W κ 20 on T (0.3) over MIM (0.1) and the ensemble (0.2).
    marked = frame[frame["worst_in_threat"]].index.tolist()
    assert marked == [("transfer_public", "cw2_k20"), ("decision_hidden", "hsj_l2")]


def test_no_rows_without_cells(tmp_path: Path) -> None:
    cells, defenses = write(tmp_path, [])
    frame = threat_table(load_inputs(cells, defenses))
    assert frame.empty and "success_low" in frame.columns
