"""Aggregate cell metrics (eval JSON files) into tables written as CSV and Markdown (the
Markdown by the shared `decoybench.tables.paper.markdown_table`)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from decoybench.cells.sanity import flag_gradient_masking
from decoybench.io import read_json, write_text
from decoybench.papers.attractors.paper_numbers import ATTRACTORS_TABLE_II, PAPER_DATASET
from decoybench.tables.paper import format_rate, markdown_table

RATE_COLUMNS = ("target_clean_accuracy", "source_asr", "target_asr", "transfer_rate")
ATTACK_COLUMNS = ("norm", "epsilon", "gradient_free", "target_mode")


def cell_rows(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per cell: identity columns, each rate with count/total/interval, distortions."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        metrics = read_json(path)
        row: dict[str, Any] = dict(metrics["cell"])
        row.update(
            source_model=metrics["source_model"],
            target_model=metrics["target_model"],
            n_attempted=metrics["n_attempted"],
        )
        for name in RATE_COLUMNS:
            rate = metrics["rates"][name]
            row[name] = rate["value"]
            row[f"{name}_count"] = rate["count"]
            row[f"{name}_total"] = rate["total"]
            row[f"{name}_ci_low"] = rate["ci_low"]
            row[f"{name}_ci_high"] = rate["ci_high"]
        row.update(metrics["distortion"])
        attack = metrics.get("attack", {})
        row.update({key: attack.get(key) for key in ATTACK_COLUMNS})
        sanity = metrics.get("sanity", {})
        row["epsilon_zero_consistent"] = sanity.get("epsilon_zero_consistent")
        row["monotone_in_epsilon"] = sanity.get("monotone_in_epsilon")
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise ValueError("no evaluation cells to tabulate")
    frame["gradient_masking_suspected"] = flag_gradient_masking(frame)
    return frame.sort_values(["setting", "defense", "attack"], kind="stable").reset_index(drop=True)


def sanity_flags(row: pd.Series) -> str:
    """Short warnings for a row: failed sanity checks and suspected gradient masking."""
    flags = []
    if row.get("epsilon_zero_consistent") is False:
        flags.append("ε=0 changes predictions")
    if row.get("monotone_in_epsilon") is False:
        flags.append("success falls as ε grows")
    if bool(row.get("gradient_masking_suspected", False)):
        flags.append("gradient-free beats white-box: possible gradient masking")
    return "; ".join(flags)


def attack_markdown(frame: pd.DataFrame) -> str:
    """Readable Markdown of `cell_rows`: rates with intervals and counts, distortions to 3
    decimals, sanity flags; no caption."""
    shown = frame[["setting", "kind", "defense", "attack", "source_model", "target_model"]].copy()
    for name in RATE_COLUMNS:
        shown[name] = [
            format_rate(*values)
            for values in frame[
                [name, f"{name}_ci_low", f"{name}_ci_high", f"{name}_count", f"{name}_total"]
            ].itertuples(index=False)
        ]
    for name in ("mean_l2", "mean_linf"):
        shown[name] = frame[name].map(lambda value: "n/a" if math.isnan(value) else f"{value:.3f}")
    shown["flags"] = [sanity_flags(row) for _, row in frame.iterrows()]
    return markdown_table(shown, None)


def write_attack_table(
    paths: Iterable[str | Path], csv_path: str | Path, markdown_path: str | Path
) -> pd.DataFrame:
    """Collect cells into the attack-success table; write CSV and Markdown atomically."""
    frame = cell_rows(paths)
    write_text(csv_path, frame.to_csv(index=False))
    write_text(markdown_path, attack_markdown(frame))
    return frame


def clean_accuracy_rows(defense_json: str | Path, dataset: str) -> pd.DataFrame:
    """Attractors Table II: clean accuracy of C and M (ours, with interval) and the paper's,
    plus the integrated model M_(d,r) at each operating point (not in the paper: it answers
    F_r's label on every false detection)."""
    clean = read_json(defense_json)["clean"]
    paper = ATTRACTORS_TABLE_II.get(PAPER_DATASET.get(dataset, dataset), {})
    entries = [
        ("victim model C", clean["clean_accuracy_victim"], paper.get("victim", math.nan)),
        (
            "attractor-embedded model M",
            clean["clean_accuracy_defended"],
            paper.get("defended", math.nan),
        ),
    ]
    for point in clean.get("operating_points", []):
        if "clean_accuracy_integrated" in point:
            entries.append(
                (
                    f"integrated model M_(d,r) at {100 * point['fpr_target']:g}% FPR",
                    point["clean_accuracy_integrated"],
                    math.nan,
                )
            )
    rows = [
        {
            "dataset": dataset,
            "model": model,
            "accuracy": rate["value"],
            "accuracy_ci_low": rate["ci_low"],
            "accuracy_ci_high": rate["ci_high"],
            "count": rate["count"],
            "total": rate["total"],
            "paper_accuracy": paper_value,
        }
        for model, rate, paper_value in entries
    ]
    return pd.DataFrame(rows)


def write_clean_accuracy_table(
    defense_json: str | Path, dataset: str, csv_path: str | Path, markdown_path: str | Path
) -> pd.DataFrame:
    """Write attractors Table II as CSV and Markdown, atomically."""
    frame = clean_accuracy_rows(defense_json, dataset)
    shown = pd.DataFrame(
        {
            "model": frame["model"],
            f"{dataset} (ours)": [
                format_rate(*values)
                for values in frame[
                    ["accuracy", "accuracy_ci_low", "accuracy_ci_high", "count", "total"]
                ].itertuples(index=False)
            ],
            "paper": frame["paper_accuracy"].map(
                lambda value: "n/a" if math.isnan(value) else f"{100 * value:.1f}%"
            ),
        }
    )
    write_text(csv_path, frame.to_csv(index=False))
    write_text(markdown_path, markdown_table(shown, None))
    return frame
