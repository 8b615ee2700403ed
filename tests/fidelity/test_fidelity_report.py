"""Diagnoses and the reproduction report (decoybench.fidelity.report), on constructed claims."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from decoybench.fidelity.report import PointResult, diagnose, reproduction_report, slack


def claim(key: str, measured: float, low: float, high: float, verdict: str, **extra: Any):
    return {
        "key": key, "claim": f"claim {key}", "measured": measured, "measured_low": low,
        "measured_high": high, "comparison": extra.get("comparison", ">="),
        "threshold": extra.get("threshold", 0.9), "verdict": verdict,
        "paper": extra.get("paper", "98%"),
    }  # fmt: skip


def point(sweep: str, kind: str, index: int, value: Any, *rows: dict[str, Any]) -> PointResult:
    record = {"sweep": sweep, "kind": kind, "index": index, "value": value,
              "key": f"a.{sweep}", "label": f"{index:02d}-{value}"}  # fmt: skip
    return PointResult(record=record, claims=pd.DataFrame(list(rows)).set_index("key"))


def test_slack_by_comparison() -> None:
    assert slack({"measured": 0.95, "threshold": 0.9, "comparison": ">="}) == pytest.approx(0.05)
    assert slack({"measured": 0.2, "threshold": 0.0, "comparison": "<="}) == pytest.approx(-0.2)
    assert slack({"measured": -0.01, "threshold": 0.02, "comparison": "within"}) == pytest.approx(
        0.01
    )
    assert math.isnan(slack({"measured": math.nan, "threshold": 0.0, "comparison": ">"}))
    with pytest.raises(ValueError, match="unknown comparison"):
        slack({"measured": 0.0, "threshold": 0.0, "comparison": "=="})


def test_diagnoses() -> None:
    default = claim("k", 0.5, 0.4, 0.6, "fails")
    # holds on the default run
    assert diagnose("k", claim("k", 0.99, 0.97, 1.0, "holds"), [])[0] == "reproduces"
    # nobody measured it
    assert diagnose("k", default, [])[0] == "not diagnosed"
    # a choice sweep reaches it: implementation choice, the setting named
    choice = [point("a2", "choice", 0, 0.2, claim("k", 0.97, 0.95, 0.99, "holds"))]
    category, text = diagnose("k", default, choice)
    assert category == "implementation choice" and "a.a2 = 0.2" in text
    # a scale sweep that improves beyond the first point's half-width: scale, with numbers
    trend = [
        point("epochs", "scale", 0, 5, claim("k", 0.40, 0.30, 0.50, "fails")),
        point("epochs", "scale", 1, 30, claim("k", 0.70, 0.62, 0.78, "fails")),
    ]
    category, text = diagnose("k", default, trend)
    assert category == "scale" and "0.400 at 5 → 0.700 at 30" in text
    # no improvement and every point fails: not reproducible, the sweeps listed
    flat = [
        point("epochs", "scale", 0, 5, claim("k", 0.40, 0.30, 0.50, "fails")),
        point("epochs", "scale", 1, 30, claim("k", 0.42, 0.32, 0.52, "fails")),
        point("a2", "choice", 0, 1.0, claim("k", 0.10, 0.05, 0.15, "fails")),
    ]
    category, text = diagnose("k", default, flat)
    assert category == "not reproducible" and "3 of 3 points fail" in text and "a2 (a.a2" in text
    # never decided anywhere: scale (too few images)
    undecided = [point("n", "scale", 0, 100, claim("k", 0.9, 0.8, 0.95, "undecided"))]
    category, text = diagnose("k", claim("k", 0.9, 0.85, 0.97, "undecided"), undecided)
    assert category == "scale" and "too small" in text


def test_report_writes_every_claim_and_a_figure_per_sweep(tmp_path: Path) -> None:
    default = pd.DataFrame(
        [claim("tpr.pgd", 0.2, 0.1, 0.3, "fails"), claim("gap", 0.0, -0.01, 0.01, "holds")]
    )
    points = [
        point("a2", "choice", 0, 0.01, claim("tpr.pgd", 0.1, 0.05, 0.2, "fails")),
        point("a2", "choice", 1, 1.0, claim("tpr.pgd", 0.96, 0.93, 0.99, "holds")),
    ]
    out = tmp_path / "fidelity" / "attractors.md"
    frame = reproduction_report(
        paper="attractors", title="Attractors", default_claims=default, points=points,
        figure_dir=tmp_path / "fidelity" / "figures", out=out,
        sweeps={"a2": {"kind": "choice", "why": "W's scale."}},
    )  # fmt: skip
    assert list(frame["diagnosis"]) == ["implementation choice", "reproduces"]
    text = out.read_text()
    assert "| claim tpr.pgd (`tpr.pgd`) | 98% | 0.200 [0.100, 0.300] | fails |" in text
    assert "holds at a.a2 = 1.0 (sweep a2)" in text
    assert "![a2](figures/attractors_a2.png)" in text and "W's scale." in text
    assert "holds: 0.960 [0.930, 0.990]" in text
    assert (tmp_path / "fidelity" / "figures" / "attractors_a2.png").stat().st_size > 1000
    assert (tmp_path / "fidelity" / "figures" / "attractors_a2.pdf").exists()


def test_copy_reports_keeps_figure_links(tmp_path: Path) -> None:
    from decoybench.fidelity.report import copy_reports

    source = tmp_path / "results" / "fidelity"
    (source / "figures").mkdir(parents=True)
    (source / "luring.md").write_text("![b](figures/luring_b.png)\n")
    (source / "figures" / "luring_b.png").write_bytes(b"\x89PNG")
    (source / "figures" / "luring_b.pdf").write_bytes(b"%PDF")
    copies = copy_reports(source, tmp_path / "docs")
    assert sorted(p.relative_to(tmp_path / "docs").as_posix() for p in copies) == [
        "figures/luring_b.png",
        "luring.md",
    ]
    assert (tmp_path / "docs" / "figures" / "luring_b.png").read_bytes() == b"\x89PNG"


def test_an_undecided_point_closer_to_the_claim_is_diagnosed_by_its_kind() -> None:
    default = claim("k", 0.10, 0.07, 0.15, "fails")  # detection 10% against ≥ 90%
    points = [
        point("epochs", "scale", 0, 1, claim("k", 0.02, 0.01, 0.05, "fails")),
        point("epochs", "scale", 1, 10, claim("k", 0.875, 0.82, 0.91, "undecided")),
    ]
    category, text = diagnose("k", default, points)
    assert category == "scale"
    assert "0.020 at 1 → 0.875 at 10" in text  # the improving trend wins first here
    lateral = [point("cap", "choice", 0, 7.0, claim("k", 0.88, 0.82, 0.92, "undecided"))]
    category, text = diagnose("k", default, lateral)
    assert category == "implementation choice" and "undecided at a.cap = 7.0" in text


def test_undecided_default_and_mapping_values_read_by_label() -> None:
    default = claim("k", 0.0, -0.1, 0.1, "undecided", comparison=">", threshold=0.0)
    below = claim("k", -0.2, -0.3, -0.1, "fails", comparison=">", threshold=0.0)
    mapping = point("epochs", "scale", 0, {"luring": {"epochs": 32}}, below)
    mapping.record["label"] = "00-32-epochs"
    level = claim("k", 0.01, -0.1, 0.1, "undecided", comparison=">", threshold=0.0)
    other = point("b", "choice", 0, "second_max", level)
    category, text = diagnose("k", default, [mapping, other])
    assert category == "scale" and "at 1 of 2 swept settings (1 fail, none holds)" in text
    default = claim("k", -0.3, -0.4, -0.2, "fails", comparison=">", threshold=0.0)
    category, text = diagnose("k", default, [mapping])
    assert category == "not reproducible" and "a.epochs ∈ {32-epochs}" in text
