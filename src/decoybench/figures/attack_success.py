"""Attack success per attack and setting: crafting model vs target, with 95% intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from decoybench.figures.save import save_figure

__all__ = ["plot_attack_success"]


def _series(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """`table` with a `series` column, one bar series per (setting, defense), and the series
    in order of appearance: several defenses share a setting (luring's four approaches all
    sit in the transfer setting on their public model)."""
    defenses = table["defense"] if "defense" in table else pd.Series("undefended", table.index)
    series_labels = [
        setting if defense == "undefended" else f"{setting} / {defense}"
        for setting, defense in zip(table["setting"], defenses, strict=True)
    ]
    return table.assign(series=series_labels), list(dict.fromkeys(series_labels))


def _count_labels(axes: Any, positions: np.ndarray, rows: pd.DataFrame) -> None:
    """Each bar's count/total: inside a tall bar at its base, above a short bar's error bar."""
    values = rows["target_asr"].to_numpy(dtype=float)
    highs = rows["target_asr_ci_high"].to_numpy(dtype=float)
    for position, value, high, count, total in zip(
        positions,
        values,
        highs,
        rows["target_asr_count"],
        rows["target_asr_total"],
        strict=True,
    ):
        if np.isnan(value):
            continue
        label = f"{int(count)}/{int(total)}"
        if value >= 0.25:  # inside a tall bar, at its base
            axes.text(
                position, 0.02, label, rotation=90, ha="center", va="bottom", fontsize=7,
                color="white",
            )  # fmt: skip
        else:  # above a short bar's error bar
            axes.text(
                position, high + 0.02, label, rotation=90, ha="center", va="bottom", fontsize=7,
                color="black",
            )  # fmt: skip


def _bars(axes: Any, positions: np.ndarray, rows: pd.DataFrame, setting: str, width: float) -> None:
    """One series: target ASR bars with Wilson error bars, a black tick at the ASR on the
    crafting model, and the counts."""
    values = rows["target_asr"].to_numpy(dtype=float)
    # Wilson bounds can sit a rounding error inside the value at 0% and 100%.
    errors = np.clip(
        np.vstack(
            [
                values - rows["target_asr_ci_low"].to_numpy(dtype=float),
                rows["target_asr_ci_high"].to_numpy(dtype=float) - values,
            ]
        ),
        0,
        None,
    )
    axes.bar(positions, values, width * 0.92, yerr=errors, capsize=3, label=setting)
    axes.scatter(
        positions,
        rows["source_asr"].to_numpy(dtype=float),
        marker="_",
        s=200,
        color="black",
        zorder=3,
    )
    _count_labels(axes, positions, rows)


def plot_attack_success(table: pd.DataFrame, png_path: str | Path, pdf_path: str | Path) -> None:
    """Grouped bars: target ASR per attack (groups) and setting (bars), Wilson error bars;
    a black tick marks the ASR on the crafting model, so transfer losses show at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attacks = sorted(table["attack"].unique())
    table, settings = _series(table)
    width = 0.8 / len(settings)
    figure, axes = plt.subplots(figsize=(min(16.0, 3.0 + 0.9 * len(attacks)), 4.5))
    for offset, setting in enumerate(settings):
        rows = table[table["series"] == setting].set_index("attack").reindex(attacks)
        positions = np.arange(len(attacks)) + (offset - (len(settings) - 1) / 2) * width
        _bars(axes, positions, rows, setting, width)
    axes.set_xticks(np.arange(len(attacks)), attacks, rotation=30, ha="right")
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("attack success rate on target")
    dataset = ", ".join(table["dataset"].unique())
    axes.set_title(f"{dataset}: target ASR (bars, 95% CI) vs ASR on crafting model (—)", fontsize=9)
    axes.legend(
        title="setting", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1, 1)
    )
    axes.grid(axis="y", alpha=0.3)
    save_figure(figure, png_path, pdf_path)
    plt.close(figure)
