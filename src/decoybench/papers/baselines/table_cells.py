"""Shared reading and formatting of the baseline tables (`comparison`, `table20`): cell
metrics (eval JSON) from paths or dicts, nested look-ups, a cell's attack label, a rate as
"98.0% (49/50)" and MLflow metric keys."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from decoybench.io import read_json
from decoybench.tables.paper import ABSENT, is_nan

__all__ = ["Cell", "CellSource", "label", "lookup", "metric_key", "rate_text", "read_cells"]

Cell = dict[str, Any]
CellSource = str | Path | Mapping[str, Any]


def read_cells(cells: CellSource | Iterable[CellSource]) -> list[Cell]:
    """Cell metrics from paths or already-read dicts (one path alone is a list of one)."""
    if isinstance(cells, (str, Path, Mapping)):
        cells = [cells]
    return [dict(cell) if isinstance(cell, Mapping) else read_json(cell) for cell in cells]


def lookup(value: Any, *path: str | int) -> Any:
    """A nested entry (None when any step is missing)."""
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def label(metrics: Cell) -> str:
    """The cell's attack label ("fgsm_0.3")."""
    return str(metrics["cell"]["attack"])


def rate_text(row: Mapping[str, Any], prefix: str) -> str:
    """A rate column as "98.0% (49/50)", "n/a (0/0)" for an empty one, "—" when absent."""
    value, count, total = row.get(prefix), row.get(f"{prefix}_count"), row.get(f"{prefix}_total")
    if is_nan(total) or is_nan(count):
        return ABSENT
    if int(total) == 0 or is_nan(value):
        return f"n/a ({int(count)}/{int(total)})"
    return f"{100 * float(value):.1f}% ({int(count)}/{int(total)})"


def metric_key(*parts: str) -> str:
    """An MLflow metric key: the parts joined by ".", other characters than [A-Za-z0-9_-]
    replaced by "_"."""
    return ".".join(re.sub(r"[^A-Za-z0-9_-]", "_", part) for part in parts)
