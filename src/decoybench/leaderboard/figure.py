"""The leaderboard figure: each defense's worst-case attack success under oblivious and
under adaptive attacks at one operating point, with 95% intervals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from decoybench.figures.save import save_figure


def plot_leaderboard(
    table_csv: str | Path, fpr: float, png_path: str | Path, pdf_path: str | Path
) -> None:
    """Horizontal bars per defense (the leaderboard's order), oblivious beside adaptive."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = pd.read_csv(table_csv)
    tag = f"fpr_{fpr:g}"
    figure, axis = plt.subplots(figsize=(6.4, 0.45 * len(frame) + 1.2))
    positions = range(len(frame))
    for offset, threat, color in ((-0.2, "oblivious", "#9ecae1"), (0.2, "adaptive", "#de2d26")):
        value = 100 * frame[f"{threat}_{tag}"].fillna(0)
        low = 100 * frame[f"{threat}_{tag}_low"].fillna(0)
        high = 100 * frame[f"{threat}_{tag}_high"].fillna(0)
        axis.barh(
            [position + offset for position in positions],
            value,
            height=0.4,
            xerr=[value - low, high - value],
            color=color,
            label=f"{threat} attacks",
            capsize=2,
        )
    axis.set_yticks(list(positions), frame["defense"])
    axis.invert_yaxis()
    axis.set_xlim(0, 100)
    axis.set_xlabel(f"worst-case attack success, rejections charged (%), at {100 * fpr:g}% FPR")
    axis.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    save_figure(figure, png_path, pdf_path)
    plt.close(figure)
