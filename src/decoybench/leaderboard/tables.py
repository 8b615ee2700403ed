"""The leaderboard and the adaptive-attack table, from the defenses' rows
(decoybench.leaderboard.row).

Leaderboard: one row per defense (undefended included) with the clean accuracy, the clean
false-rejection rate and the per-sample worst-case attack success (rejection charged,
decoybench.metrics.defender_failures) under oblivious and under adaptive attacks, at each
operating point (`fpr_<f>` columns; a label check or no detector has one point, shown in
both); sorted by the adaptive worst case at the first FPR, most robust first. `flags`
names the checks that failed: `weak_adaptive` (the adaptive worst case below the oblivious
one: the adaptive attacks are weaker than ignoring the defense), `zero_gradient` (G(x) has
no gradient on some clean inputs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from decoybench.io import read_json
from decoybench.leaderboard.workflow import TABLES
from decoybench.tables.paper import (
    MarkdownFormat,
    integer_counts,
    markdown_table,
    rate_columns,
    requested_outputs,
    write_tables,
)


def _point(points: Mapping[str, Any], fpr: float) -> Any:
    """The operating point of `points` for FPR column `fpr` (the only one if just one)."""
    key = f"fpr_{fpr:g}"
    if key in points:
        return points[key]
    return next(iter(points.values())) if len(points) == 1 else None


def leaderboard_frame(rows: Sequence[Mapping[str, Any]], fprs: Sequence[float]) -> pd.DataFrame:
    """The leaderboard (module docstring)."""
    records = []
    for row in rows:
        first = row["attacks"][0] if row["attacks"] else None
        record: dict[str, Any] = {"defense": row["defense"], "n": row["n"]}
        record.update(rate_columns("clean_accuracy", first and first["clean_accuracy"]))
        flags = []
        for fpr in fprs:
            tag = f"fpr_{fpr:g}"
            point = first and _point(first["operating_points"], fpr)
            record.update(
                rate_columns(f"clean_rejection_{tag}", point and point["clean_rejection"])
            )
            worst = {
                threat: _point(row["worst_case"].get(threat, {}), fpr)
                for threat in ("oblivious", "adaptive")
            }
            for threat, rate in worst.items():
                record.update(rate_columns(f"{threat}_{tag}", rate))
            oblivious, adaptive = worst["oblivious"], worst["adaptive"]
            if oblivious and adaptive and adaptive["value"] < oblivious["value"]:
                flags.append(f"weak_adaptive@{tag}")
        if row["gradient"]["zero_share"] > 0:
            flags.append(f"zero_gradient({100 * row['gradient']['zero_share']:.0f}%)")
        record["flags"] = ", ".join(flags)
        records.append(record)
    frame = pd.DataFrame(records)
    if len(frame):
        key = f"adaptive_fpr_{fprs[0]:g}"
        frame = frame.sort_values([key, "defense"], kind="stable", na_position="last")
    return integer_counts(frame.reset_index(drop=True), names=("n",))


def adaptive_attacks_frame(
    rows: Sequence[Mapping[str, Any]], fprs: Sequence[float]
) -> pd.DataFrame:
    """Every scored set: defense, threat, setting, attack and its charged attack success and
    detection of the fooling examples at each FPR column."""
    records = []
    for row in rows:
        for entry in row["attacks"]:
            record = {key: entry[key] for key in ("threat", "setting", "attack")}
            record = {"defense": row["defense"], **record}
            for fpr in fprs:
                tag = f"fpr_{fpr:g}"
                point = _point(entry["operating_points"], fpr)
                record.update(
                    rate_columns(f"success_{tag}", point and point["charged_attack_success"])
                )
                record.update(
                    rate_columns(f"detected_{tag}", point and point["detection_of_fooling"])
                )
            records.append(record)
    return integer_counts(pd.DataFrame(records))


CAPTIONS = {
    "leaderboard": (
        "Leaderboard: per-sample worst-case attack success (misclassified and accepted, a "
        "rejected clean input charged to the defender) over the oblivious and the adaptive "
        "attacks, with 95% Wilson intervals; most robust first."
    ),
    "adaptive_attacks": (
        "Every attack scored against each defense's deployed classifier and detector: "
        "attack success charged with clean rejections, and the detection of the examples "
        "that fool the classifier."
    ),
}


def _markdown(name: str, frame: pd.DataFrame) -> str:
    rates = tuple(column for column in frame.columns if f"{column}_total" in frame.columns)
    return markdown_table(frame, CAPTIONS[name], MarkdownFormat(rates=rates))


def write_leaderboard_tables(
    *, rows: Sequence[str | Path], fprs: Sequence[float], outputs: Mapping[str, str | Path]
) -> dict[str, pd.DataFrame]:
    """Read the rows' JSON, write the requested tables (`<table>_csv` / `<table>_md`)."""
    loaded = [read_json(path) for path in rows]
    frames = {
        "leaderboard": leaderboard_frame(loaded, fprs),
        "adaptive_attacks": adaptive_attacks_frame(loaded, fprs),
    }
    write_tables(frames, requested_outputs(outputs, TABLES, "leaderboard"), _markdown)
    return frames
