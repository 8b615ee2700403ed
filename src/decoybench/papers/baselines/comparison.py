"""The attractors paper's Table III: the baseline detectors beside the attractor.

Per operating point (the cells' FPR targets, 5% and 0.5% by default) and attack, each
detector's TPR, FPR, AUC and overall attack success rate (`forensic.operating_points`) and
the attack's success rate on the model the attacker sees (`rates.target_asr`), for the
column groups `COMPARISON_GROUPS` (attractor, LID, Feature Squeezing, MagNet, Trapdoor),
from each configured defense's forensic cells; the attack's white-box success on the bare
victim (ASR on C) beside them; the paper's numbers (`baseline_paper_numbers.paper_table_iii`)
in ``paper_*`` columns. Table III is at 5% FPR; at another target only the threshold-free
AUC (and, for the attractor at 0.5%, Table IV's TPR and overall rate) is the paper's.

Each rate is flattened by `paper_tables.rate_columns` (value, 95% interval, count, total);
the Markdown shows a rate as "98.0% (49/50)", "—" where absent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from decoybench import defense_registry
from decoybench.papers.attractors.paper_numbers import (
    ATTRACTORS_ROWS,
    ATTRACTORS_TABLE_IV,
    attractors_row,
)
from decoybench.papers.baselines.paper_numbers import paper_dataset_name, paper_table_iii
from decoybench.papers.baselines.table_cells import (
    Cell,
    CellSource,
    label,
    lookup,
    metric_key,
    rate_text,
    read_cells,
)
from decoybench.papers.baselines.workflow import COMPARISON_GROUPS
from decoybench.tables.paper import (
    ABSENT,
    as_float,
    column_names,
    integer_counts,
    is_nan,
    percent_text,
    rate_columns,
)

__all__ = [
    "COMPARISON_GROUPS",
    "GROUP_TITLES",
    "comparison_columns",
    "comparison_groups",
    "comparison_markdown",
    "comparison_metrics",
    "comparison_table",
]

# Table III's column groups: the registered types marked `compared`, in registry order (the
# attractor, then LID, FS, MagNet, Trapdoor: the paper's order), and their column titles.
GROUP_TITLES: dict[str, str] = {
    group: defense_registry.get(group).title for group in COMPARISON_GROUPS
}
DETECTION_MEASURES: tuple[str, ...] = ("tpr", "fpr", "auc", "overall_asr")
PAPER_FPR = 0.05  # Table III's operating point
TABLE_IV_FPR = 0.005  # Table IV's second operating point (attractor TPR and overall rate)
FPR_TOLERANCE = 1e-9


def _row(metrics: Cell) -> str | None:
    attack = metrics.get("attack", {})
    return attractors_row(
        label(metrics), str(attack.get("name", "")), str(attack.get("target_mode", "none"))
    )


def _attack_type(metrics: Cell) -> str:
    return "UA" if metrics.get("attack", {}).get("target_mode", "none") == "none" else "TA"


def _order(metrics: Cell) -> tuple[int, int, str]:
    """UA before TA, then the paper's row order (attacks without a row last), then label."""
    row = _row(metrics)
    rank = ATTRACTORS_ROWS.index(row) if row in ATTRACTORS_ROWS else len(ATTRACTORS_ROWS)
    return (0 if _attack_type(metrics) == "UA" else 1, rank, label(metrics))


def comparison_groups(defenses: Mapping[str, str | None] | None) -> dict[str, str]:
    """{column group: defense name} in `COMPARISON_GROUPS` order, unconfigured ones dropped;
    None configures every group under its own name. ValueError for an unknown group."""
    if defenses is None:
        return {group: group for group in COMPARISON_GROUPS}
    unknown = sorted(set(defenses) - set(COMPARISON_GROUPS))
    if unknown:
        raise ValueError(
            f"unknown comparison group(s) {', '.join(unknown)}; "
            f"known: {', '.join(COMPARISON_GROUPS)}"
        )
    return {group: defenses[group] for group in COMPARISON_GROUPS if defenses.get(group)}


def _point(metrics: Cell | None, fpr_target: float) -> dict[str, Any] | None:
    """The cell's operating point at `fpr_target` (None when it has none)."""
    for point in lookup(metrics, "forensic", "operating_points") or []:
        if math.isclose(float(point["fpr_target"]), fpr_target, abs_tol=FPR_TOLERANCE):
            return point
    return None


def _paper_detection(
    paper_dataset: str | None, group: str, row: str | None, fpr_target: float
) -> dict[str, float]:
    """The paper's TPR, FPR, AUC, overall ASR for one group, row and operating point."""
    tpr, fpr, auc, overall = paper_table_iii(paper_dataset, group, row)
    if not math.isclose(fpr_target, PAPER_FPR, abs_tol=FPR_TOLERANCE):
        tpr = fpr = overall = None  # Table III is at 5% FPR; its AUC has no threshold
        if group == "attractor" and math.isclose(fpr_target, TABLE_IV_FPR, abs_tol=FPR_TOLERANCE):
            name = paper_dataset_name(paper_dataset) or ""
            table_iv = ATTRACTORS_TABLE_IV.get(name, {}).get(row or "")
            if table_iv is not None:
                tpr, overall = table_iv[2], table_iv[3]
    values = dict(zip(DETECTION_MEASURES, (tpr, fpr, auc, overall), strict=True))
    return {f"paper_{group}_{key}": as_float(value) for key, value in values.items()}


def _group_columns(group: str, metrics: Cell | None, fpr_target: float) -> dict[str, Any]:
    """One group's measured columns at one operating point (NaN without a cell or point)."""
    point = _point(metrics, fpr_target)
    return {
        **rate_columns(f"{group}_asr", lookup(metrics, "rates", "target_asr")),
        **rate_columns(f"{group}_tpr", lookup(point, "tpr")),
        **rate_columns(f"{group}_fpr", lookup(point, "fpr")),
        f"{group}_auc": as_float(lookup(point, "auc")),
        **rate_columns(f"{group}_overall_asr", lookup(point, "overall_asr")),
    }


def comparison_columns(groups: Sequence[str]) -> list[str]:
    """The comparison frame's columns for `groups` (rates expanded, `column_names`)."""
    spec = ["fpr_target", "type", "attack", "paper_row", "asr_victim*"]
    for group in groups:
        spec += [f"{group}_asr*", f"{group}_tpr*", f"{group}_fpr*", f"{group}_auc"]
        spec += [f"{group}_overall_asr*"]
        spec += [f"paper_{group}_{key}" for key in DETECTION_MEASURES]
    return column_names(spec)


def _sorted_cells(
    cells: list[Cell], groups: Mapping[str, str]
) -> tuple[dict[str, dict[str, Cell]], dict[str, Cell]]:
    """({group: {label: forensic cell of its defense}}, {label: white-box undefended cell})."""
    by_group: dict[str, dict[str, Cell]] = {group: {} for group in groups}
    victim: dict[str, Cell] = {}
    for metrics in cells:
        identity = metrics["cell"]
        if identity.get("kind") == "whitebox" and identity.get("defense") == "undefended":
            victim[label(metrics)] = metrics
        elif identity.get("kind") == "forensic" and "forensic" in metrics:
            for group, defense in groups.items():
                if identity.get("defense") == defense:
                    by_group[group][label(metrics)] = metrics
    return by_group, victim


def comparison_table(
    cells: CellSource | Iterable[CellSource],
    paper_dataset: str | None,
    defenses: Mapping[str, str | None] | None = None,
) -> pd.DataFrame:
    """Table III: one row per (FPR target, attack label), FPR targets from 5% down, attacks
    UA then TA in the paper's order; per column group in `defenses` ({group: configured
    defense}, groups of `COMPARISON_GROUPS`, None = each under its own name) that defense's
    forensic cell's ASR on its model (`target_asr`), TPR, FPR, AUC and overall ASR, NaN where
    it has no cell for the attack; `asr_victim`: the white-box cell on the undefended victim;
    `paper_{group}_*`: the paper's numbers (NaN where it gives none)."""
    groups = comparison_groups(defenses)
    by_group, victim = _sorted_cells(read_cells(cells), groups)
    first: dict[str, Cell] = {}
    for group_cells in by_group.values():
        for name, metrics in group_cells.items():
            first.setdefault(name, metrics)
    targets = sorted(
        {
            round(float(point["fpr_target"]), 12)
            for group_cells in by_group.values()
            for metrics in group_cells.values()
            for point in lookup(metrics, "forensic", "operating_points") or []
        },
        reverse=True,
    )
    rows: list[dict[str, Any]] = []
    for fpr_target in targets:
        for name in sorted(first, key=lambda name: _order(first[name])):
            if not any(_point(by_group[g].get(name), fpr_target) for g in groups):
                continue
            row = _row(first[name])
            record: dict[str, Any] = {
                "fpr_target": fpr_target,
                "type": _attack_type(first[name]),
                "attack": name,
                "paper_row": row or "",
                **rate_columns("asr_victim", lookup(victim.get(name), "rates", "target_asr")),
            }
            for group in groups:
                record.update(_group_columns(group, by_group[group].get(name), fpr_target))
                record.update(_paper_detection(paper_dataset, group, row, fpr_target))
            rows.append(record)
    frame = pd.DataFrame(rows, columns=comparison_columns(list(groups)))
    return integer_counts(frame)


# --- Markdown ----------------------------------------------------------------------------


def _fpr_title(fpr_target: float) -> str:
    return f"{100 * fpr_target:g}% FPR"


def _groups_in(frame: pd.DataFrame) -> list[str]:
    return [group for group in COMPARISON_GROUPS if f"{group}_overall_asr" in frame.columns]


COMPARISON_CAPTION = (
    "Attractors paper (Zhang et al. 2020), Table III: TPR on successful adversarial inputs, "
    "FPR on clean inputs, AUC and overall attack success rate (successful and undetected "
    "among attempts) of each detector, and the attack's success rate on the model the "
    "attacker sees (ASR), beside the paper's numbers (paper; Table III is at 5% FPR, so at "
    "other targets only the AUC, and the attractor's Table IV TPR and overall rate at 0.5%)."
)


def _markdown_record(row: pd.Series, group: str) -> dict[str, str] | None:
    """One (attack, detector) row of the Markdown; None where neither we nor the paper have
    a number."""
    measured = not is_nan(row[f"{group}_asr_total"]) or not is_nan(row[f"{group}_tpr_total"])
    paper = [row[f"paper_{group}_{key}"] for key in DETECTION_MEASURES]
    if not measured and all(is_nan(value) for value in paper):
        return None
    return {
        "type": row["type"],
        "attack": row["attack"],
        "paper row": row["paper_row"] or ABSENT,
        "ASR on C": rate_text(row, "asr_victim"),
        "detector": GROUP_TITLES[group],
        "ASR": rate_text(row, f"{group}_asr"),
        "TPR": rate_text(row, f"{group}_tpr"),
        "FPR": rate_text(row, f"{group}_fpr"),
        "AUC": percent_text(row[f"{group}_auc"]),
        "overall ASR": rate_text(row, f"{group}_overall_asr"),
        **{
            f"{title} (paper)": percent_text(value)
            for title, value in zip(("TPR", "FPR", "AUC", "overall ASR"), paper, strict=True)
        },
    }


def comparison_markdown(
    frame: pd.DataFrame, defenses: Mapping[str, str | None] | None = None
) -> str:
    """Markdown of `comparison_table`: the caption, then one section per FPR target with a
    row per (attack, detector) where we or the paper have a number: ASR on C (the bare
    victim), ours (rates as "98.0% (49/50)", AUC as a percent) and the paper's."""
    groups = _groups_in(frame)
    names = comparison_groups(defenses) if defenses is not None else {g: g for g in groups}
    shown = ", ".join(f"{GROUP_TITLES[g]} = {names.get(g, g)}" for g in groups)
    parts = [COMPARISON_CAPTION + (f" Defenses: {shown}." if shown else ""), ""]
    if frame.empty:
        return "\n".join([*parts, "(no data for this table)", ""])
    for fpr_target, at_target in frame.groupby("fpr_target", sort=False):
        records = [
            record
            for _, row in at_target.iterrows()
            for group in groups
            if (record := _markdown_record(row, group)) is not None
        ]
        parts.append(f"### {_fpr_title(float(fpr_target))}")
        parts.append("")
        body = pd.DataFrame(records).to_markdown(index=False) if records else "(no data)"
        parts += [body, ""]
    return "\n".join(parts)


def comparison_metrics(comparison: pd.DataFrame | None) -> dict[str, float]:
    """Per comparison group and FPR target, the mean and max overall ASR and mean TPR over
    the attacks it has a cell for (MLflow metrics, floats)."""
    metrics: dict[str, float] = {}
    if comparison is None or comparison.empty:
        return metrics
    for fpr_target, rows in comparison.groupby("fpr_target", sort=False):
        target = f"fpr{float(fpr_target):g}"
        for group in _groups_in(comparison):
            overall = pd.to_numeric(rows[f"{group}_overall_asr"], errors="coerce").dropna()
            tpr = pd.to_numeric(rows[f"{group}_tpr"], errors="coerce").dropna()
            if len(overall):
                key = metric_key("comparison", group, target, "overall_asr_mean")
                metrics[key] = float(overall.mean())
                key = metric_key("comparison", group, target, "overall_asr_max")
                metrics[key] = float(overall.max())
            if len(tpr):
                metrics[metric_key("comparison", group, target, "tpr_mean")] = float(tpr.mean())
    return metrics
