"""The baseline detectors beside the decoy defenses, built from cell metrics (eval JSON) and
written as CSV and Markdown: ``comparison``, the attractors paper's Table III
(`decoybench.papers.baselines.comparison`), and ``luring``, the luring paper's Table 20
(`decoybench.papers.baselines.table20`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from decoybench.papers.baselines.comparison import (
    comparison_markdown,
    comparison_metrics,
    comparison_table,
)
from decoybench.papers.baselines.table20 import (
    luring_comparison_table,
    luring_markdown,
    luring_metrics,
)
from decoybench.papers.baselines.table_cells import CellSource, read_cells
from decoybench.tables.paper import requested_outputs, write_tables

__all__ = ["BASELINE_TABLES", "baseline_headline_metrics", "write_baseline_tables"]

BASELINE_TABLES: tuple[str, ...] = ("comparison", "luring")


def baseline_headline_metrics(frames: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    """Numbers worth tracking (MLflow), floats: each table's row count; per comparison group
    and FPR target, the mean and max overall ASR and mean TPR over the attacks it has a cell
    for; per Table 20 group and ε, its AC_M and DAC minima."""
    metrics = {f"rows.{name}": float(len(frame)) for name, frame in frames.items()}
    metrics.update(comparison_metrics(frames.get("comparison")))
    metrics.update(luring_metrics(frames.get("luring")))
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
    another key). `cells`: paths or dicts, or one path alone (as Snakemake passes a named
    input of one file); `defenses`: {column group: defense} (any mapping), None for every
    group under its own name. Returns `baseline_headline_metrics`."""
    requested = requested_outputs(outputs, BASELINE_TABLES, "baseline")
    loaded = read_cells(cells)
    defenses = None if defenses is None else dict(defenses)
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
