"""The baseline detectors beside the decoy defenses: the attractors paper's Table III and the
luring paper's Table 20, built from cell metrics (eval JSON).

* ``comparison`` (attractors Table III): per operating point (the cells' FPR targets, 5% and
  0.5% by default) and attack, each detector's TPR, FPR, AUC and overall attack success rate
  (`forensic.operating_points`) and the attack's success rate on the model the attacker
  sees (`rates.target_asr`), for the column groups `COMPARISON_GROUPS` (attractor, LID,
  Feature Squeezing, MagNet, Trapdoor), from each configured defense's forensic cells; the
  attack's white-box success on the bare victim (ASR on C) beside them; the paper's numbers
  (`baseline_paper_numbers.paper_table_iii`) in ``paper_*`` columns. Table III is at 5% FPR;
  at another target only the threshold-free AUC (and, for the attractor at 0.5%, Table IV's
  TPR and overall rate) is the paper's.
* ``luring`` (luring Table 20): per (setting, ε), the attacker-optimal (lowest) AC_MoP, AC_M
  and DAC, each with the attack that attained it, over the FGSM / MIM / DIM / MIM-TI /
  DIM-TI transfer cells of the trapdoor and the luring defense, beside the paper's.

Each rate is flattened by `paper_tables.rate_columns` (value, 95% interval, count, total);
the Markdown shows a rate as "98.0% (49/50)", "—" where absent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from decoybench import defense_registry
from decoybench.io import read_json
from decoybench.papers.attractors.paper_numbers import (
    ATTRACTORS_ROWS,
    ATTRACTORS_TABLE_IV,
    attractors_row,
)
from decoybench.papers.baselines.paper_numbers import (
    paper_dataset_name,
    paper_table_20,
    paper_table_iii,
)
from decoybench.tables.paper import (
    ABSENT,
    as_float,
    column_names,
    integer_counts,
    is_nan,
    percent_text,
    rate_columns,
    requested_outputs,
    write_tables,
)

__all__ = [
    "BASELINE_TABLES",
    "COMPARISON_GROUPS",
    "GROUP_TITLES",
    "TABLE_20_ATTACKS",
    "baseline_headline_metrics",
    "comparison_markdown",
    "comparison_table",
    "luring_comparison_table",
    "luring_markdown",
    "write_baseline_tables",
]

BASELINE_TABLES: tuple[str, ...] = ("comparison", "luring")
# Table III's column groups: the registered types marked `compared`, in registry order (the
# attractor, then LID, FS, MagNet, Trapdoor: the paper's order), and their column titles.
COMPARISON_GROUPS: tuple[str, ...] = defense_registry.types_where(compared=True)
GROUP_TITLES: dict[str, str] = {
    group: defense_registry.get(group).title for group in COMPARISON_GROUPS
}
# Table 20's candidate attacks (registry names) in the paper's order; ties go to the first.
TABLE_20_ATTACKS: tuple[str, ...] = ("fgsm", "mim", "dim", "mim_ti", "dim_ti")
TABLE_20_GROUPS: tuple[str, ...] = ("trapdoor", "luring")
TABLE_20_TITLES: dict[str, str] = {"trapdoor": "Trapdoor", "luring": "Luring"}
TABLE_20_RATES: tuple[str, ...] = ("ac_mop", "ac_m", "dac")
DETECTION_MEASURES: tuple[str, ...] = ("tpr", "fpr", "auc", "overall_asr")
PAPER_FPR = 0.05  # Table III's operating point
TABLE_IV_FPR = 0.005  # Table IV's second operating point (attractor TPR and overall rate)
FPR_TOLERANCE = 1e-9
EPSILON_DIGITS = 9

Cell = dict[str, Any]
CellSource = str | Path | Mapping[str, Any]


def _read(cells: CellSource | Iterable[CellSource]) -> list[Cell]:
    """Cell metrics from paths or already-read dicts (one path alone is a list of one)."""
    if isinstance(cells, (str, Path, Mapping)):
        cells = [cells]
    return [dict(cell) if isinstance(cell, Mapping) else read_json(cell) for cell in cells]


def _lookup(value: Any, *path: str | int) -> Any:
    """A nested entry (None when any step is missing)."""
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _label(metrics: Cell) -> str:
    return str(metrics["cell"]["attack"])


def _row(metrics: Cell) -> str | None:
    attack = metrics.get("attack", {})
    return attractors_row(
        _label(metrics), str(attack.get("name", "")), str(attack.get("target_mode", "none"))
    )


def _attack_type(metrics: Cell) -> str:
    return "UA" if metrics.get("attack", {}).get("target_mode", "none") == "none" else "TA"


def _order(metrics: Cell) -> tuple[int, int, str]:
    """UA before TA, then the paper's row order (attacks without a row last), then label."""
    row = _row(metrics)
    rank = ATTRACTORS_ROWS.index(row) if row in ATTRACTORS_ROWS else len(ATTRACTORS_ROWS)
    return (0 if _attack_type(metrics) == "UA" else 1, rank, _label(metrics))


def _groups(defenses: Mapping[str, str | None] | None) -> dict[str, str]:
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


# --- Table III ---------------------------------------------------------------------------


def _point(metrics: Cell | None, fpr_target: float) -> dict[str, Any] | None:
    """The cell's operating point at `fpr_target` (None when it has none)."""
    for point in _lookup(metrics, "forensic", "operating_points") or []:
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
        **rate_columns(f"{group}_asr", _lookup(metrics, "rates", "target_asr")),
        **rate_columns(f"{group}_tpr", _lookup(point, "tpr")),
        **rate_columns(f"{group}_fpr", _lookup(point, "fpr")),
        f"{group}_auc": as_float(_lookup(point, "auc")),
        **rate_columns(f"{group}_overall_asr", _lookup(point, "overall_asr")),
    }


def comparison_columns(groups: Sequence[str]) -> list[str]:
    """The comparison frame's columns for `groups` (rates expanded, `column_names`)."""
    spec = ["fpr_target", "type", "attack", "paper_row", "asr_victim*"]
    for group in groups:
        spec += [f"{group}_asr*", f"{group}_tpr*", f"{group}_fpr*", f"{group}_auc"]
        spec += [f"{group}_overall_asr*"]
        spec += [f"paper_{group}_{key}" for key in DETECTION_MEASURES]
    return column_names(spec)


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
    groups = _groups(defenses)
    by_group: dict[str, dict[str, Cell]] = {group: {} for group in groups}
    victim: dict[str, Cell] = {}
    for metrics in _read(cells):
        identity = metrics["cell"]
        if identity.get("kind") == "whitebox" and identity.get("defense") == "undefended":
            victim[_label(metrics)] = metrics
        elif identity.get("kind") == "forensic" and "forensic" in metrics:
            for group, defense in groups.items():
                if identity.get("defense") == defense:
                    by_group[group][_label(metrics)] = metrics
    first: dict[str, Cell] = {}
    for group_cells in by_group.values():
        for label, metrics in group_cells.items():
            first.setdefault(label, metrics)
    targets = sorted(
        {
            round(float(point["fpr_target"]), 12)
            for group_cells in by_group.values()
            for metrics in group_cells.values()
            for point in _lookup(metrics, "forensic", "operating_points") or []
        },
        reverse=True,
    )
    rows: list[dict[str, Any]] = []
    for fpr_target in targets:
        for label in sorted(first, key=lambda name: _order(first[name])):
            if not any(_point(by_group[g].get(label), fpr_target) for g in groups):
                continue
            row = _row(first[label])
            record: dict[str, Any] = {
                "fpr_target": fpr_target,
                "type": _attack_type(first[label]),
                "attack": label,
                "paper_row": row or "",
                **rate_columns("asr_victim", _lookup(victim.get(label), "rates", "target_asr")),
            }
            for group in groups:
                record.update(_group_columns(group, by_group[group].get(label), fpr_target))
                record.update(_paper_detection(paper_dataset, group, row, fpr_target))
            rows.append(record)
    frame = pd.DataFrame(rows, columns=comparison_columns(list(groups)))
    return integer_counts(frame)


# --- Table 20 ----------------------------------------------------------------------------


def _transfer_cells(cells: list[Cell], defense: str | None) -> list[Cell]:
    """`defense`'s transfer cells of Table 20's attacks that hold a `luring` entry."""
    if defense is None:
        return []
    return [
        metrics
        for metrics in cells
        if metrics["cell"].get("defense") == defense
        and metrics["cell"].get("kind") == "transfer"
        and "luring" in metrics
        and _lookup(metrics, "attack", "name") in TABLE_20_ATTACKS
    ]


def _epsilon(metrics: Cell) -> float | None:
    epsilon = _lookup(metrics, "attack", "epsilon")
    return None if epsilon is None else round(float(epsilon), EPSILON_DIGITS)


def _minimum(candidates: list[Cell], name: str) -> tuple[Mapping[str, Any] | None, str | None]:
    """(rate, attack label) of the lowest `name` rate among `candidates` with a non-empty X';
    ties go to the earlier attack of `TABLE_20_ATTACKS`, then the label."""
    ranked = []
    for metrics in candidates:
        rate = _lookup(metrics, "luring", "rates", name)
        if rate is None or not rate.get("total"):
            continue
        attack = TABLE_20_ATTACKS.index(metrics["attack"]["name"])
        ranked.append((float(rate["count"]) / float(rate["total"]), attack, _label(metrics), rate))
    if not ranked:
        return None, None
    _, _, label, rate = min(ranked, key=lambda entry: entry[:3])
    return rate, label


def luring_columns() -> list[str]:
    """The Table 20 frame's columns (rates expanded, `column_names`)."""
    spec = ["setting", "epsilon"]
    for group in TABLE_20_GROUPS:
        spec += [f"{group}_defense", f"{group}_candidates"]
        for name in TABLE_20_RATES:
            spec += [f"{group}_{name}*", f"{group}_{name}_attack"]
        spec += [f"paper_{group}_{name}" for name in TABLE_20_RATES]
    return column_names(spec)


def luring_comparison_table(
    cells: CellSource | Iterable[CellSource],
    paper_dataset: str | None,
    luring_defense: str | None,
    trapdoor_defense: str | None,
) -> pd.DataFrame:
    """Table 20: per (setting, ε) of the two defenses' transfer cells of `TABLE_20_ATTACKS`,
    each defense's lowest AC_MoP, AC_M and DAC (`luring.rates`), each with the attack label
    that attained it (`*_attack`; minima taken per column, as the paper's "optimal ... values
    (among FGSM, MIM, DIM, MIM-TI and DIM-TI)"), the candidates' labels, and the paper's
    values at that ε (the luring group's only for a cell of approach "luring")."""
    loaded = _read(cells)
    defenses = {"trapdoor": trapdoor_defense, "luring": luring_defense}
    grouped: dict[tuple[str, float | None], dict[str, list[Cell]]] = {}
    for group, defense in defenses.items():
        for metrics in _transfer_cells(loaded, defense):
            key = (str(metrics["cell"].get("setting", "")), _epsilon(metrics))
            grouped.setdefault(key, {}).setdefault(group, []).append(metrics)
    rows: list[dict[str, Any]] = []
    for setting, epsilon in sorted(grouped, key=lambda k: (k[0], k[1] is None, k[1] or 0.0)):
        record: dict[str, Any] = {"setting": setting, "epsilon": as_float(epsilon)}
        for group in TABLE_20_GROUPS:
            candidates = grouped[(setting, epsilon)].get(group, [])
            record[f"{group}_defense"] = defenses[group]
            record[f"{group}_candidates"] = ";".join(sorted(map(_label, candidates)))
            for name in TABLE_20_RATES:
                rate, label = _minimum(candidates, name)
                record.update(rate_columns(f"{group}_{name}", rate))
                record[f"{group}_{name}_attack"] = label
            approaches = {_lookup(m, "luring", "approach") or group for m in candidates}
            approach = group if group == "trapdoor" or approaches <= {"luring"} else ""
            paper = paper_table_20(paper_dataset, epsilon, approach)
            record.update(
                {
                    f"paper_{group}_{name}": as_float(value)
                    for name, value in zip(TABLE_20_RATES, paper, strict=True)
                }
            )
        rows.append(record)
    return integer_counts(pd.DataFrame(rows, columns=luring_columns()))


# --- Markdown ----------------------------------------------------------------------------


def rate_text(row: Mapping[str, Any], prefix: str) -> str:
    """A rate column as "98.0% (49/50)", "n/a (0/0)" for an empty one, "—" when absent."""
    value, count, total = row.get(prefix), row.get(f"{prefix}_count"), row.get(f"{prefix}_total")
    if is_nan(total) or is_nan(count):
        return ABSENT
    if int(total) == 0 or is_nan(value):
        return f"n/a ({int(count)}/{int(total)})"
    return f"{100 * float(value):.1f}% ({int(count)}/{int(total)})"


def _fpr_title(fpr_target: float) -> str:
    return f"{100 * fpr_target:g}% FPR"


def _groups_in(frame: pd.DataFrame, candidates: Sequence[str]) -> list[str]:
    return [group for group in candidates if f"{group}_overall_asr" in frame.columns]


COMPARISON_CAPTION = (
    "Attractors paper (Zhang et al. 2020), Table III: TPR on successful adversarial inputs, "
    "FPR on clean inputs, AUC and overall attack success rate (successful and undetected "
    "among attempts) of each detector, and the attack's success rate on the model the "
    "attacker sees (ASR), beside the paper's numbers (paper; Table III is at 5% FPR, so at "
    "other targets only the AUC, and the attractor's Table IV TPR and overall rate at 0.5%)."
)


def comparison_markdown(
    frame: pd.DataFrame, defenses: Mapping[str, str | None] | None = None
) -> str:
    """Markdown of `comparison_table`: the caption, then one section per FPR target with a
    row per (attack, detector) where we or the paper have a number: ASR on C (the bare
    victim), ours (rates as "98.0% (49/50)", AUC as a percent) and the paper's."""
    groups = _groups_in(frame, COMPARISON_GROUPS)
    names = _groups(defenses) if defenses is not None else {g: g for g in groups}
    shown = ", ".join(f"{GROUP_TITLES[g]} = {names.get(g, g)}" for g in groups)
    parts = [COMPARISON_CAPTION + (f" Defenses: {shown}." if shown else ""), ""]
    if frame.empty:
        return "\n".join([*parts, "(no data for this table)", ""])
    for fpr_target, at_target in frame.groupby("fpr_target", sort=False):
        records = []
        for _, row in at_target.iterrows():
            for group in groups:
                measured = not is_nan(row[f"{group}_asr_total"]) or not is_nan(
                    row[f"{group}_tpr_total"]
                )
                paper = [row[f"paper_{group}_{key}"] for key in DETECTION_MEASURES]
                if not measured and all(is_nan(value) for value in paper):
                    continue
                records.append(
                    {
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
                            for title, value in zip(
                                ("TPR", "FPR", "AUC", "overall ASR"), paper, strict=True
                            )
                        },
                    }
                )
        parts.append(f"### {_fpr_title(float(fpr_target))}")
        parts.append("")
        body = pd.DataFrame(records).to_markdown(index=False) if records else "(no data)"
        parts += [body, ""]
    return "\n".join(parts)


LURING_CAPTION = (
    "Luring paper (Bernhard et al. 2021), Table 20: attacker-optimal (lowest) AC_MoP, AC_M "
    "and DAC among FGSM, MIM, DIM, MIM-TI and DIM-TI crafted on the public model (the "
    "trapdoored model, or M∘P for Luring) and transferred to M, each with the attack that "
    "attained it, beside the paper's values (paper)."
)


def luring_markdown(frame: pd.DataFrame) -> str:
    """Markdown of `luring_comparison_table`: one row per (setting, ε); per defense each
    minimum as "12.0% (6/50) by mim_0.3" and the paper's value as a percent."""
    if frame.empty:
        return f"{LURING_CAPTION}\n\n(no data for this table)\n"
    records = []
    for _, row in frame.iterrows():
        record: dict[str, str] = {"setting": row["setting"], "ε": f"{row['epsilon']:g}"}
        for group in TABLE_20_GROUPS:
            title = TABLE_20_TITLES[group]
            for name, shown in zip(TABLE_20_RATES, ("AC_MoP", "AC_M", "DAC"), strict=True):
                text = rate_text(row, f"{group}_{name}")
                attack = row[f"{group}_{name}_attack"]
                if not is_nan(attack) and attack:
                    text = f"{text} by {attack}"
                record[f"{title} {shown}"] = text
                record[f"{title} {shown} (paper)"] = percent_text(row[f"paper_{group}_{name}"])
        records.append(record)
    names = ", ".join(
        f"{group} = {frame[f'{group}_defense'].iloc[0]}"
        for group in TABLE_20_GROUPS
        if not is_nan(frame[f"{group}_defense"].iloc[0])
    )
    caption = LURING_CAPTION + (f" Defenses: {names}." if names else "")
    return f"{caption}\n\n{pd.DataFrame(records).to_markdown(index=False)}\n"


# --- writing -----------------------------------------------------------------------------


def _metric_key(*parts: str) -> str:
    return ".".join(re.sub(r"[^A-Za-z0-9_-]", "_", part) for part in parts)


def baseline_headline_metrics(frames: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    """Numbers worth tracking (MLflow), floats: each table's row count; per comparison group
    and FPR target, the mean and max overall ASR and mean TPR over the attacks it has a cell
    for; per Table 20 group and ε, its AC_M and DAC minima."""
    metrics = {f"rows.{name}": float(len(frame)) for name, frame in frames.items()}
    comparison = frames.get("comparison")
    if comparison is not None and not comparison.empty:
        for fpr_target, rows in comparison.groupby("fpr_target", sort=False):
            target = f"fpr{float(fpr_target):g}"
            for group in _groups_in(comparison, COMPARISON_GROUPS):
                overall = pd.to_numeric(rows[f"{group}_overall_asr"], errors="coerce").dropna()
                tpr = pd.to_numeric(rows[f"{group}_tpr"], errors="coerce").dropna()
                if len(overall):
                    metrics[_metric_key("comparison", group, target, "overall_asr_mean")] = float(
                        overall.mean()
                    )
                    metrics[_metric_key("comparison", group, target, "overall_asr_max")] = float(
                        overall.max()
                    )
                if len(tpr):
                    metrics[_metric_key("comparison", group, target, "tpr_mean")] = float(
                        tpr.mean()
                    )
    luring = frames.get("luring")
    if luring is not None:
        for _, row in luring.iterrows():
            epsilon = f"eps{float(row['epsilon']):g}"
            for group in TABLE_20_GROUPS:
                for name in ("ac_m", "dac"):
                    value = as_float(row[f"{group}_{name}"])
                    if not math.isnan(value):
                        key = _metric_key("luring", str(row["setting"]), group, epsilon, name)
                        metrics[key] = value
    return metrics


def write_baseline_tables(
    cells: CellSource | Iterable[CellSource],
    outputs: Mapping[str, str | Path],
    *,
    paper_dataset: str | None,
    defenses: Mapping[str, str | None] | None = None,
    luring_defense: str | None = None,
    trapdoor_defense: str | None = None,
) -> dict[str, float]:
    """Build both tables and write each requested one atomically: `outputs` maps
    "comparison_csv" / "comparison_md" / "luring_csv" / "luring_md" to a path (ValueError for
    another key). Returns `baseline_headline_metrics`."""
    requested = requested_outputs(outputs, BASELINE_TABLES, "baseline")
    loaded = _read(cells)
    frames = {
        "comparison": comparison_table(loaded, paper_dataset, defenses),
        "luring": luring_comparison_table(loaded, paper_dataset, luring_defense, trapdoor_defense),
    }

    def markdown(name: str, frame: pd.DataFrame) -> str:
        if name == "comparison":
            return comparison_markdown(frame, defenses)
        return luring_markdown(frame)

    write_tables(frames, requested, markdown)
    return baseline_headline_metrics(frames)
