"""The attractors paper's Tables I, III, IV, V and VI, built from cell metrics (eval JSON).

Rows are the configured attacks that have a cell on the attractor defense; each row pairs our
measurement (rate with its 95% interval and counts) with the paper's number for the same
attack on the target's data set (mnist5k and mnist: MNIST, cifar10: CIFAR-10;
decoybench.papers.attractors.paper_numbers; Table VI: the paper's CIFAR-10 numbers for every
target).
"ASR on C" is the attack's white-box cell on the undefended victim, with the same label.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from decoybench.io import read_json, read_npz, write_text
from decoybench.papers.attractors.analysis import summarize_attractor_analysis
from decoybench.papers.attractors.claims import attractor_claims
from decoybench.papers.attractors.paper_numbers import (
    ATTRACTORS_ROWS,
    ATTRACTORS_TABLE_I,
    ATTRACTORS_TABLE_III,
    ATTRACTORS_TABLE_IV,
    ATTRACTORS_TABLE_V,
    ATTRACTORS_TABLE_VI,
    PAPER_DATASET,
    attractors_row,
)
from decoybench.tables.paper import format_rate

DISTORTION_ROWS = ("BLB", "CW2", "EAD")

Cell = dict[str, Any]


def _key(metrics: Cell) -> tuple[str, str]:
    return metrics["cell"]["kind"], metrics["cell"]["defense"]


def load_cells(paths: Iterable[str | Path]) -> dict[tuple[str, str], dict[str, Cell]]:
    """Cell metrics grouped by (setting kind, defense), then by attack label."""
    cells: dict[tuple[str, str], dict[str, Cell]] = {}
    for path in paths:
        metrics = read_json(path)
        cells.setdefault(_key(metrics), {})[metrics["cell"]["attack"]] = metrics
    return cells


def _paper_order(labels: Iterable[str], cells: dict[str, Cell]) -> list[str]:
    """Labels in the paper's row order (attacks without a paper row last, by label)."""

    def rank(label: str) -> tuple[int, str]:
        row = _row(cells[label])
        return (ATTRACTORS_ROWS.index(row) if row else len(ATTRACTORS_ROWS), label)

    return sorted(labels, key=rank)


def _row(metrics: Cell) -> str | None:
    attack = metrics.get("attack", {})
    return attractors_row(
        metrics["cell"]["attack"], attack.get("name", ""), attack.get("target_mode", "none")
    )


def _lookup(metrics: Cell | None, *path: str | int) -> dict[str, Any] | None:
    """A nested entry of a cell (None when the cell or the entry is missing)."""
    value: Any = metrics
    for part in path:
        if value is None:
            return None
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _operating_points(cells: dict[str, Cell]) -> list[str]:
    """'5% FPR', '0.5% FPR', ...: the target FPRs of the cells' detector operating points."""
    for metrics in cells.values():
        points = _lookup(metrics, "forensic", "operating_points") or []
        return [f"{100 * float(point['fpr_target']):g}% FPR" for point in points]
    return []


@dataclass(frozen=True)
class Column:
    """One measurement of a table: our value per attack label beside the paper's.

    `ours(label)` returns a rate dict (value, count, total, ci_low, ci_high), a plain number
    (AUC, mean distortion) or None; `paper` is (paper table, column index) or None.
    """

    prefix: str
    header: str
    ours: Callable[[str], dict[str, Any] | float | None]
    paper: tuple[dict[str, tuple[Any, ...]], int] | None
    number_format: str = "percent"  # how a plain number shows: percent or decimal
    paper_label: str = "paper"


RATE_KEYS = ("value", "count", "total", "ci_low", "ci_high")


def _csv_columns(prefix: str, value: dict[str, Any] | float | None) -> dict[str, Any]:
    """CSV columns of one measurement: a rate's value, count, total and interval, or a number."""
    if isinstance(value, dict):
        return {prefix if key == "value" else f"{prefix}_{key}": value[key] for key in RATE_KEYS}
    return {prefix: math.nan if value is None else float(value)}


def _shown(value: dict[str, Any] | float | None, number_format: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, dict):
        return format_rate(*(value[key] for key in RATE_KEYS[:1] + RATE_KEYS[3:] + RATE_KEYS[1:3]))
    return f"{100 * value:.1f}%" if number_format == "percent" else f"{value:.3f}"


def _paper_value(column: Column, row: str) -> float:
    if column.paper is None:
        return math.nan
    table, index = column.paper
    values = table.get(row)
    return math.nan if values is None or values[index] is None else float(values[index])


def _identity(label: str, metrics: Cell) -> dict[str, Any]:
    mode = metrics.get("attack", {}).get("target_mode", "none")
    return {
        "type": "UA" if mode == "none" else "TA",
        "attack": label,
        "paper_row": _row(metrics) or "",
    }


def build_table(
    labels: list[str], cells: dict[str, Cell], columns: list[Column]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(CSV frame, Markdown frame) of `labels`: each column's value beside the paper's."""
    csv_rows, shown_rows = [], []
    for label in labels:
        identity = _identity(label, cells[label])
        csv_row, shown_row = dict(identity), dict(identity)
        for column in columns:
            value = column.ours(label)
            paper = _paper_value(column, identity["paper_row"])
            csv_row.update(_csv_columns(column.prefix, value))
            csv_row[f"paper_{column.prefix}"] = paper
            shown_row[column.header] = _shown(value, column.number_format)
            shown_row[f"{column.header} ({column.paper_label})"] = _shown(
                paper, column.number_format
            )
        csv_rows.append(csv_row)
        shown_rows.append(shown_row)
    return pd.DataFrame(csv_rows), pd.DataFrame(shown_rows)


def _asr(group: dict[str, Cell]) -> Callable[[str], Any]:
    """The target ASR of each label's cell in `group`."""
    return lambda label: _lookup(group.get(label), "rates", "target_asr")


def _mean_l2(group: dict[str, Cell]) -> Callable[[str], Any]:
    """The mean L2 distortion of each label's cell in `group`."""
    return lambda label: _lookup(group.get(label), "distortion", "mean_l2")


def _at_point(forensic: dict[str, Cell], index: int, key: str) -> Callable[[str], Any]:
    """`key` of each label's forensic cell at detector operating point `index`."""
    return lambda label: _lookup(forensic.get(label), "forensic", "operating_points", index, key)


PaperTable = dict[str, tuple[Any, ...]]


def _forensic_table(
    labels: list[str], forensic: dict[str, Cell], victim: dict[str, Cell], paper: PaperTable
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table I: ASR on C and on M, detection, recovery and overall ASR."""
    return build_table(
        labels,
        forensic,
        [
            Column("asr_victim", "ASR on C", _asr(victim), (paper, 0)),
            Column("asr_attractor", "ASR on M", _asr(forensic), (paper, 1)),
            Column("detection", "detected (F_d)", _at_point(forensic, 0, "tpr"), (paper, 2)),
            Column(
                "recovery",
                "recovered (F_r)",
                _at_point(forensic, 0, "recovery_rate"),
                (paper, 3),
            ),
            Column("overall_asr", "overall ASR", _at_point(forensic, 0, "overall_asr"), (paper, 4)),
        ],
    )


def _detection_table(
    labels: list[str], forensic: dict[str, Cell], paper: PaperTable
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table III (attractor columns): TPR, FPR, AUC and overall ASR at the first point."""
    return build_table(
        labels,
        forensic,
        [
            Column("tpr", "TPR", _at_point(forensic, 0, "tpr"), (paper, 0)),
            Column("fpr", "FPR", _at_point(forensic, 0, "fpr"), (paper, 1)),
            Column("auc", "AUC", _at_point(forensic, 0, "auc"), (paper, 2)),
            Column("overall_asr", "overall ASR", _at_point(forensic, 0, "overall_asr"), (paper, 3)),
        ],
    )


def _low_fpr_columns(
    forensic: dict[str, Cell], index: int, point: str, paper: PaperTable
) -> tuple[Column, Column, Column]:
    """Table IV's TPR, FPR and overall ASR at operating point `index` (named `point`)."""
    return (
        Column(
            f"tpr_{index + 1}",
            f"TPR @ {point}",
            _at_point(forensic, index, "tpr"),
            (paper, 2 * index),
        ),
        Column(f"fpr_{index + 1}", f"FPR @ {point}", _at_point(forensic, index, "fpr"), None),
        Column(
            f"overall_asr_{index + 1}",
            f"overall ASR @ {point}",
            _at_point(forensic, index, "overall_asr"),
            (paper, 2 * index + 1),
        ),
    )


def _low_fpr_table(
    labels: list[str], forensic: dict[str, Cell], paper: PaperTable
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table IV: TPR, FPR and overall ASR at the first two operating points."""
    return build_table(
        labels,
        forensic,
        [
            column
            for index, point in enumerate(_operating_points(forensic)[:2])
            for column in _low_fpr_columns(forensic, index, point, paper)
        ],
    )


def _integrated_table(
    labels: list[str], integrated: dict[str, Cell], victim: dict[str, Cell], paper: PaperTable
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table V: ASR on C and on M_(d,r)."""
    return build_table(
        labels,
        integrated,
        [
            Column("asr_victim", "ASR on C", _asr(victim), (paper, 0)),
            Column("asr_integrated", "ASR on M_(d,r)", _asr(integrated), (paper, 1)),
        ],
    )


def _distortion_table(
    labels: list[str], integrated: dict[str, Cell], victim: dict[str, Cell]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table VI: mean L2 on C and on M_(d,r), beside the paper's CIFAR-10 numbers."""
    return build_table(
        labels,
        integrated,
        [
            Column(
                "l2_victim",
                "mean L2 on C",
                _mean_l2(victim),
                (ATTRACTORS_TABLE_VI, 0),
                "decimal",
                "paper, CIFAR-10",
            ),
            Column(
                "l2_integrated",
                "mean L2 on M_(d,r)",
                _mean_l2(integrated),
                (ATTRACTORS_TABLE_VI, 1),
                "decimal",
                "paper, CIFAR-10",
            ),
        ],
    )


def attractor_tables(
    paths: Iterable[str | Path], dataset: str
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Tables I, III, IV, V, VI of `dataset`'s cells as {name: (CSV frame, Markdown frame)},
    beside the paper's numbers for the dataset it corresponds to (none for others; Table VI:
    always the paper's CIFAR-10 numbers, the only ones it gives)."""
    cells = load_cells(paths)
    paper_dataset = PAPER_DATASET.get(dataset, dataset)
    victim = cells.get(("whitebox", "undefended"), {})
    forensic = cells.get(("forensic", "attractor"), {})
    integrated = cells.get(("integrated", "attractor"), {})
    forensic_labels = _paper_order(forensic, forensic)
    integrated_labels = _paper_order(integrated, integrated)
    distortion_labels = [
        label for label in integrated_labels if _row(integrated[label]) in DISTORTION_ROWS
    ]
    table_i, table_iii, table_iv, table_v = (
        table.get(paper_dataset, {})
        for table in (ATTRACTORS_TABLE_I, ATTRACTORS_TABLE_III, ATTRACTORS_TABLE_IV,
                      ATTRACTORS_TABLE_V)
    )  # fmt: skip
    return {
        "attractor_forensic": _forensic_table(forensic_labels, forensic, victim, table_i),
        "attractor_detection": _detection_table(forensic_labels, forensic, table_iii),
        "attractor_low_fpr": _low_fpr_table(forensic_labels, forensic, table_iv),
        "attractor_integrated": _integrated_table(integrated_labels, integrated, victim, table_v),
        "attractor_distortion": _distortion_table(distortion_labels, integrated, victim),
    }


def write_attractor_tables(
    paths: Iterable[str | Path],
    dataset: str,
    outputs: dict[str, tuple[str | Path, str | Path]],
    defense_json: str | Path | None = None,
    analysis: str | Path | None = None,
) -> dict[str, int]:
    """Write each table as CSV and Markdown (atomically): `outputs[name] = (csv, md)`.

    `attractor_claims` (decoybench.papers.attractors.claims) needs the defense build's
    `defense_json` for the clean accuracies and, for Fig. 7a's claim, the Sec. VI-C
    `analysis` measurements (.npz; without them that claim has no data). Returns the row
    count of each table.
    """
    tables = attractor_tables(paths, dataset)
    if "attractor_claims" in outputs:
        if defense_json is None:
            raise ValueError("attractor_claims needs the defense file (defense_json)")
        clean = read_json(defense_json)["clean"]
        summary = None if analysis is None else summarize_attractor_analysis(read_npz(analysis))
        claims = attractor_claims(tables["attractor_forensic"][0], clean, dataset, summary)
        tables["attractor_claims"] = (claims, claims)
    missing = sorted(set(outputs) - set(tables))
    if missing:
        raise ValueError(
            f"unknown attractor table(s) {', '.join(missing)}; known: {', '.join(tables)}"
        )
    for name, (csv_path, markdown_path) in outputs.items():
        frame, shown = tables[name]
        write_text(csv_path, frame.to_csv(index=False))
        text = shown.to_markdown(index=False) if len(shown) else "(no cells for this table)"
        write_text(markdown_path, text + "\n")
    return {name: len(tables[name][0]) for name in outputs}
