"""The leaderboard and its companion tables, from the defenses' rows
(decoybench.leaderboard.row) and ε sweeps (decoybench.leaderboard.sweep).

Leaderboard: one row per defense (undefended included) at the first calibrated FPR, with
the clean accuracy, the clean false-rejection rate and, per threat model (a norm budget:
`linf_0.3`, `l2_2.0` by default), the per-sample worst-case attack success (rejection
charged, decoybench.metrics.defender_failures) over the oblivious and over the adaptive
attacks; sorted by the adaptive worst cases, most robust first. `flags` names the checks
that failed: `weak_adaptive` (at some FPR and threat model the adaptive worst case is below
the oblivious one: the adaptive attacks are weaker than ignoring the defense),
`zero_gradient` (G(x) has no gradient on some clean inputs), `unsaturated_sweep` (the ε
sweep stays under 95% at its largest ε). `worst_cases` holds every operating point in long
form, `adaptive_attacks` every scored set, `epsilon_sweep` the sweeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from decoybench.io import read_json
from decoybench.leaderboard.row import THREATS
from decoybench.leaderboard.sweep import saturation
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


def model_names(row: Mapping[str, Any]) -> list[str]:
    """The row's threat models, in config order."""
    return [model["name"] for model in row["threat_models"]]


def _worst(row: Mapping[str, Any], threat: str, model: str, fpr: float) -> Any:
    return _point(row["worst_case"].get(threat, {}).get(model, {}), fpr)


def _flags(
    row: Mapping[str, Any], fprs: Sequence[float], saturation: Mapping[str, Any] | None
) -> list[str]:
    """The checks of one row that failed (module docstring)."""
    flags = []
    for model in model_names(row):
        for fpr in fprs:
            oblivious, adaptive = (_worst(row, threat, model, fpr) for threat in THREATS)
            if oblivious and adaptive and adaptive["value"] < oblivious["value"]:
                flags.append(f"weak_adaptive({model}@fpr_{fpr:g})")
    if row["gradient"]["zero_share"] > 0:
        flags.append(f"zero_gradient({100 * row['gradient']['zero_share']:.0f}%)")
    if saturation is not None and not saturation["saturated"]:
        value, epsilon = 100 * saturation["value"], saturation["epsilon"]
        flags.append(f"unsaturated_sweep({value:.0f}%@{epsilon:g})")
    return flags


def leaderboard_frame(
    rows: Sequence[Mapping[str, Any]],
    fprs: Sequence[float],
    saturation: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """The leaderboard (module docstring), at the first FPR; `saturation`: per defense, its
    ε sweep's last point (decoybench.leaderboard.sweep.saturation)."""
    fpr = fprs[0]
    records = []
    for row in rows:
        first = row["attacks"][0] if row["attacks"] else None
        point = first and _point(first["operating_points"], fpr)
        record: dict[str, Any] = {"defense": row["defense"], "n": row["n"], "fpr_target": fpr}
        record.update(rate_columns("clean_accuracy", first and first["clean_accuracy"]))
        record.update(rate_columns("clean_rejection", point and point["clean_rejection"]))
        for model in model_names(row):
            for threat in THREATS:
                record.update(rate_columns(f"{threat}_{model}", _worst(row, threat, model, fpr)))
        record["flags"] = ", ".join(_flags(row, fprs, (saturation or {}).get(row["defense"])))
        records.append(record)
    frame = pd.DataFrame(records)
    if len(frame):
        models = model_names(rows[0])
        keys = [f"adaptive_{model}" for model in models]
        frame = frame.sort_values([*keys, "defense"], kind="stable", na_position="last")
    return integer_counts(frame.reset_index(drop=True), names=("n",))


def worst_cases_frame(rows: Sequence[Mapping[str, Any]], fprs: Sequence[float]) -> pd.DataFrame:
    """Every worst case of the rows in long form: defense, operating point (FPR target),
    threat model, knowledge (oblivious / adaptive), the rate and the attacks it is over."""
    records = []
    for row in rows:
        for fpr in fprs:
            for model in model_names(row):
                for threat in THREATS:
                    worst = _worst(row, threat, model, fpr)
                    records.append(
                        {
                            "defense": row["defense"],
                            "fpr_target": fpr,
                            "threat_model": model,
                            "knowledge": threat,
                            **rate_columns("attack_success", worst),
                            "attacks": " ".join(worst["attacks"]) if worst else "",
                        }
                    )
    return integer_counts(pd.DataFrame(records))


def adaptive_attacks_frame(
    rows: Sequence[Mapping[str, Any]], fprs: Sequence[float]
) -> pd.DataFrame:
    """Every scored set at each operating point: defense, knowledge, setting, attack, the
    deployment it is scored on (`default`: the row's; attractor's `integrated` M_(d,r) is
    outside the row's worst case), FPR target, the clean rejections, the detection of the
    examples that fool the classifier, and the charged attack success, unbounded and within
    each threat model."""
    records = []
    for row in rows:
        for entry in row["attacks"]:
            for fpr in fprs:
                point = _point(entry["operating_points"], fpr)
                record = {
                    "defense": row["defense"],
                    **{key: entry[key] for key in ("threat", "setting", "attack")},
                    "deployed": entry.get("deployed", "default"),
                    "fpr_target": fpr,
                }
                record.update(rate_columns("clean_rejection", point and point["clean_rejection"]))
                record.update(rate_columns("detected", point and point["detection_of_fooling"]))
                record.update(rate_columns("success", point and point["charged_attack_success"]))
                for model in model_names(row):
                    within = point and point["threat_models"][model]["charged_attack_success"]
                    record.update(rate_columns(f"success_{model}", within))
                records.append(record)
    return integer_counts(pd.DataFrame(records))


CAPTIONS = {
    "leaderboard": (
        "Leaderboard: per-sample worst-case attack success (misclassified and accepted, a "
        "rejected clean input charged to the defender) over the oblivious and the adaptive "
        "attacks, with 95% Wilson intervals; most robust first."
    ),
    "worst_cases": (
        "Every per-sample worst case: per defense, operating point, threat model (norm "
        "budget) and attacker knowledge, the attack success with the clean rejections "
        "charged and the attacks it is over."
    ),
    "epsilon_sweep": (
        "The adaptive attack's success against its budget ε per defense, per sample the "
        "worst over its gradients (exact, and the type's BPDA surrogate where it has one) and "
        "every smaller ε: "
        "it must reach 100% at large ε, else the attack (not the defense) is at fault."
    ),
    "adaptive_attacks": (
        "Every attack scored against each defense's deployed classifier and detector: "
        "attack success charged with clean rejections, and the detection of the examples "
        "that fool the classifier; a set crafted for another deployment of the defense "
        "(deployed: integrated, the attractor's M_(d,r)) is scored on that one."
    ),
}


def _markdown(name: str, frame: pd.DataFrame) -> str:
    rates = tuple(column for column in frame.columns if f"{column}_total" in frame.columns)
    return markdown_table(frame, CAPTIONS[name], MarkdownFormat(rates=rates))


def epsilon_sweep_frame(sweeps: Sequence[Mapping[str, Any]], fprs: Sequence[float]) -> pd.DataFrame:
    """Each defense's charged attack success at each ε of its sweep (the worst over the
    gradients it was run with) and each FPR column."""
    records = []
    for sweep in sweeps:
        for point in sweep["points"]:
            for fpr in fprs:
                records.append(
                    {
                        "defense": sweep["defense"],
                        "attack": sweep["attack"]["attack"],
                        "gradients": "+".join(sweep.get("gradients", ["exact"])),
                        "epsilon": point["epsilon"],
                        "fpr_target": fpr,
                        **rate_columns("attack_success", _point(point["operating_points"], fpr)),
                    }
                )
    return integer_counts(pd.DataFrame(records))


def write_leaderboard_tables(
    *,
    rows: Sequence[str | Path],
    sweeps: Sequence[str | Path],
    fprs: Sequence[float],
    outputs: Mapping[str, str | Path],
) -> dict[str, pd.DataFrame]:
    """Read the rows' and the sweeps' JSON, write the requested tables (`<table>_csv` /
    `<table>_md`)."""
    loaded = [read_json(path) for path in rows]
    swept = [read_json(path) for path in sweeps]
    saturated = {sweep["defense"]: saturation(sweep) for sweep in swept}
    frames = {
        "leaderboard": leaderboard_frame(loaded, fprs, saturated),
        "worst_cases": worst_cases_frame(loaded, fprs),
        "adaptive_attacks": adaptive_attacks_frame(loaded, fprs),
        "epsilon_sweep": epsilon_sweep_frame(swept, fprs),
    }
    write_tables(frames, requested_outputs(outputs, TABLES, "leaderboard"), _markdown)
    return frames
