"""The decoy defenses against the baseline detectors: overall attack success rate per attack
and detector (the attractors paper's Table III as a heat map).

One panel per FPR target; rows are the attacks, columns the detectors (attractor, LID, FS,
MagNet, Trapdoor); the colour is the overall attack success rate (successful and undetected
among attempts, 0 → 1), each cell annotated with the percentage and its counts; a detector
without a cell for an attack is grey with "—". Reads the `comparison` frame of
`decoybench.papers.baselines.comparison` (or builds it from the cells).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from decoybench.figures.save import save_figure
from decoybench.papers.baselines.comparison import (
    COMPARISON_GROUPS,
    GROUP_TITLES,
    comparison_table,
)
from decoybench.papers.baselines.table_cells import CellSource
from decoybench.tables.paper import ABSENT, is_nan

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["baseline_comparison_figure", "plot_baseline_comparison"]

COLOURMAP = "YlOrRd"
MISSING_COLOUR = "0.85"
COLOUR_LABEL = "overall attack success rate (successful and undetected / attempted)"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _groups(table: pd.DataFrame) -> list[str]:
    return [group for group in COMPARISON_GROUPS if f"{group}_overall_asr" in table.columns]


def _attack_label(row: pd.Series) -> str:
    paper_row = row.get("paper_row")
    if is_nan(paper_row) or not paper_row or paper_row == row["attack"]:
        return str(row["attack"])
    return f"{row['attack']} ({paper_row})"


def _annotation(row: pd.Series, prefix: str) -> str:
    """ "3.1%\\n4/129"; "—" when the detector has no cell; "n/a\\n0/0" for an empty rate."""
    value, count, total = row[prefix], row[f"{prefix}_count"], row[f"{prefix}_total"]
    if is_nan(total) or is_nan(count):
        return ABSENT
    if int(total) == 0 or is_nan(value):
        return f"n/a\n{int(count)}/{int(total)}"
    return f"{100 * float(value):.1f}%\n{int(count)}/{int(total)}"


def _panel(axes: Axes, rows: pd.DataFrame, groups: list[str], colours: Any) -> Any:
    """One FPR target's heat map on `axes`; returns the image (for the colour bar)."""
    values = np.array(
        [[float(row[f"{g}_overall_asr"]) for g in groups] for _, row in rows.iterrows()],
        dtype=float,
    ).reshape(len(rows), len(groups))
    image = axes.imshow(
        np.ma.masked_invalid(values), cmap=colours, vmin=0.0, vmax=1.0, aspect="auto"
    )
    for i, (_, row) in enumerate(rows.iterrows()):
        for j, group in enumerate(groups):
            text = _annotation(row, f"{group}_overall_asr")
            dark = not np.isnan(values[i, j]) and values[i, j] > 0.6
            axes.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else ("0.35" if text == ABSENT else "black"),
            )
    axes.set_xticks(range(len(groups)), [GROUP_TITLES[g] for g in groups])
    axes.set_yticks(range(len(rows)), [_attack_label(row) for _, row in rows.iterrows()])
    axes.tick_params(axis="both", labelsize=8, length=0)
    axes.set_xticks(np.arange(-0.5, len(groups)), minor=True)
    axes.set_yticks(np.arange(-0.5, len(rows)), minor=True)
    axes.grid(which="minor", color="white", linewidth=1.5)
    axes.tick_params(which="minor", length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    return image


def baseline_comparison_figure(table: pd.DataFrame, title: str | None = None) -> Figure:
    """The heat map of a `comparison_table` frame: one panel per FPR target (as ordered in
    the frame), rows = attacks, columns = detectors, colour = overall ASR, annotated."""
    plt = _pyplot()
    groups = _groups(table)
    targets = list(dict.fromkeys(table["fpr_target"])) if len(table) else []
    n_attacks = max((int((table["fpr_target"] == t).sum()) for t in targets), default=1)
    n_panels = max(len(targets), 1)
    width = 2.6 + (1.5 + 1.0 * max(len(groups), 1)) * n_panels
    figure, panels = plt.subplots(
        1, n_panels, figsize=(width, 1.6 + 0.42 * n_attacks), squeeze=False, layout="constrained"
    )
    colours = plt.get_cmap(COLOURMAP).with_extremes(bad=MISSING_COLOUR)
    image = None
    for axes, target in zip(panels[0], targets, strict=False):
        rows = table[table["fpr_target"] == target]
        image = _panel(axes, rows, groups, colours)
        axes.set_title(f"detector threshold at {100 * float(target):g}% FPR", fontsize=9)
    if image is None:
        axes = panels[0][0]
        axes.text(0.5, 0.5, "no forensic cell", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
    else:
        bar = figure.colorbar(image, ax=list(panels[0]), fraction=0.04, pad=0.02)
        bar.set_label(COLOUR_LABEL, fontsize=8)
        bar.ax.tick_params(labelsize=7)
        panels[0][0].set_ylabel("attack", fontsize=9)
        for axes in panels[0]:
            axes.set_xlabel("detector", fontsize=9)
    figure.suptitle(
        title or "Overall attack success rate against each detector (lower is better)",
        fontsize=10,
    )
    return figure


def plot_baseline_comparison(
    source: pd.DataFrame | CellSource | Iterable[CellSource],
    out_png: str | Path,
    out_pdf: str | Path,
    *,
    paper_dataset: str | None = None,
    defenses: Mapping[str, str | None] | None = None,
    title: str | None = None,
) -> None:
    """Write `baseline_comparison_figure` as PNG and PDF atomically and close it. `source`
    is a `comparison_table` frame, or the cells to build one from (with `paper_dataset`,
    `defenses`)."""
    table = (
        source
        if isinstance(source, pd.DataFrame)
        else comparison_table(source, paper_dataset, defenses)
    )
    figure = baseline_comparison_figure(table, title)
    save_figure(figure, out_png, out_pdf)
    _pyplot().close(figure)
