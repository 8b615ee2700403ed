"""The luring paper's Table 20: per (setting, ε), the attacker-optimal (lowest) AC_MoP, AC_M
and DAC, each with the attack that attained it, over the FGSM / MIM / DIM / MIM-TI / DIM-TI
transfer cells of the trapdoor and the luring defense, beside the paper's.

Each rate is flattened by `paper_tables.rate_columns` (value, 95% interval, count, total);
the Markdown shows a rate as "98.0% (49/50)", "—" where absent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from decoybench.papers.baselines.paper_numbers import paper_table_20
from decoybench.papers.baselines.table_cells import (
    Cell,
    CellSource,
    label,
    lookup,
    metric_key,
    rate_text,
    read_cells,
)
from decoybench.tables.paper import (
    as_float,
    column_names,
    integer_counts,
    is_nan,
    percent_text,
    rate_columns,
)

__all__ = [
    "EPSILON_DIGITS",
    "TABLE_20_ATTACKS",
    "luring_columns",
    "luring_comparison_table",
    "luring_markdown",
    "luring_metrics",
]

# Table 20's candidate attacks (registry names) in the paper's order; ties go to the first.
TABLE_20_ATTACKS: tuple[str, ...] = ("fgsm", "mim", "dim", "mim_ti", "dim_ti")
TABLE_20_GROUPS: tuple[str, ...] = ("trapdoor", "luring")
TABLE_20_TITLES: dict[str, str] = {"trapdoor": "Trapdoor", "luring": "Luring"}
TABLE_20_RATES: tuple[str, ...] = ("ac_mop", "ac_m", "dac")
EPSILON_DIGITS = 9


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
        and lookup(metrics, "attack", "name") in TABLE_20_ATTACKS
    ]


def _epsilon(metrics: Cell) -> float | None:
    epsilon = lookup(metrics, "attack", "epsilon")
    return None if epsilon is None else round(float(epsilon), EPSILON_DIGITS)


def _minimum(candidates: list[Cell], name: str) -> tuple[Mapping[str, Any] | None, str | None]:
    """(rate, attack label) of the lowest `name` rate among `candidates` with a non-empty X';
    ties go to the earlier attack of `TABLE_20_ATTACKS`, then the label."""
    ranked = []
    for metrics in candidates:
        rate = lookup(metrics, "luring", "rates", name)
        if rate is None or not rate.get("total"):
            continue
        attack = TABLE_20_ATTACKS.index(metrics["attack"]["name"])
        ranked.append((float(rate["count"]) / float(rate["total"]), attack, label(metrics), rate))
    if not ranked:
        return None, None
    _, _, shown, rate = min(ranked, key=lambda entry: entry[:3])
    return rate, shown


def luring_columns() -> list[str]:
    """The Table 20 frame's columns (rates expanded, `column_names`)."""
    spec = ["setting", "epsilon"]
    for group in TABLE_20_GROUPS:
        spec += [f"{group}_defense", f"{group}_candidates"]
        for name in TABLE_20_RATES:
            spec += [f"{group}_{name}*", f"{group}_{name}_attack"]
        spec += [f"paper_{group}_{name}" for name in TABLE_20_RATES]
    return column_names(spec)


def _group_record(
    group: str,
    defense: str | None,
    candidates: list[Cell],
    epsilon: float | None,
    paper_dataset: str | None,
) -> dict[str, Any]:
    """One group's columns of a Table 20 row: its minima and the paper's values."""
    record: dict[str, Any] = {
        f"{group}_defense": defense,
        f"{group}_candidates": ";".join(sorted(map(label, candidates))),
    }
    for name in TABLE_20_RATES:
        rate, shown = _minimum(candidates, name)
        record.update(rate_columns(f"{group}_{name}", rate))
        record[f"{group}_{name}_attack"] = shown
    approaches = {lookup(m, "luring", "approach") or group for m in candidates}
    approach = group if group == "trapdoor" or approaches <= {"luring"} else ""
    paper = paper_table_20(paper_dataset, epsilon, approach)
    record.update(
        {
            f"paper_{group}_{name}": as_float(value)
            for name, value in zip(TABLE_20_RATES, paper, strict=True)
        }
    )
    return record


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
    loaded = read_cells(cells)
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
            record.update(_group_record(group, defenses[group], candidates, epsilon, paper_dataset))
        rows.append(record)
    return integer_counts(pd.DataFrame(rows, columns=luring_columns()))


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


def luring_metrics(luring: pd.DataFrame | None) -> dict[str, float]:
    """Per Table 20 group and ε, its AC_M and DAC minima (MLflow metrics, floats)."""
    metrics: dict[str, float] = {}
    if luring is None:
        return metrics
    for _, row in luring.iterrows():
        epsilon = f"eps{float(row['epsilon']):g}"
        for group in TABLE_20_GROUPS:
            for name in ("ac_m", "dac"):
                value = as_float(row[f"{group}_{name}"])
                if not math.isnan(value):
                    key = metric_key("luring", str(row["setting"]), group, epsilon, name)
                    metrics[key] = value
    return metrics
