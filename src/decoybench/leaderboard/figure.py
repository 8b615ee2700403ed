"""The leaderboard's figures: each defense's worst-case attack success under oblivious and
under adaptive attacks per threat model, and each defense's ε sweep, at one operating
point, with 95% intervals."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from decoybench.figures.save import save_figure

COLORS = (("oblivious", "#9ecae1"), ("adaptive", "#de2d26"))


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bars(axis, frame: pd.DataFrame, model: str) -> None:  # type: ignore[no-untyped-def]
    positions = range(len(frame))
    for offset, (threat, color) in zip((-0.2, 0.2), COLORS, strict=True):
        column = f"{threat}_{model}"
        value = 100 * frame[column].fillna(0)
        low = 100 * frame[f"{column}_low"].fillna(0)
        high = 100 * frame[f"{column}_high"].fillna(0)
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
    axis.set_xlim(0, 100)
    axis.set_title(model, fontsize="medium")


def plot_leaderboard(
    table_csv: str | Path,
    fpr: float,
    threat_models: Sequence[str],
    png_path: str | Path,
    pdf_path: str | Path,
) -> None:
    """Horizontal bars per defense (the leaderboard's order), oblivious beside adaptive, one
    panel per threat model."""
    plt = _pyplot()
    frame = pd.read_csv(table_csv)
    figure, axes = plt.subplots(
        1, len(threat_models), figsize=(4.2 * len(threat_models), 0.45 * len(frame) + 1.4),
        sharey=True, squeeze=False,
    )  # fmt: skip
    for axis, model in zip(axes[0], threat_models, strict=True):
        _bars(axis, frame, model)
        axis.set_xlabel("worst-case attack success (%)")
    axes[0][0].invert_yaxis()
    axes[0][-1].legend(loc="lower right", fontsize="small")
    figure.suptitle(f"clean rejections charged, at {100 * fpr:g}% FPR", fontsize="medium")
    figure.tight_layout()
    save_figure(figure, png_path, pdf_path)
    plt.close(figure)


def plot_epsilon_sweep(
    sweep_csv: str | Path, fpr: float, png_path: str | Path, pdf_path: str | Path
) -> None:
    """Charged attack success against ε, a curve with its 95% band per defense."""
    plt = _pyplot()
    frame = pd.read_csv(sweep_csv)
    frame = frame[frame["fpr_target"] == fpr]
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for defense, curve in frame.groupby("defense", sort=False):
        curve = curve.sort_values("epsilon")
        (line,) = axis.plot(curve["epsilon"], 100 * curve["attack_success"], marker="o",
                            label=defense)  # fmt: skip
        axis.fill_between(
            curve["epsilon"], 100 * curve["attack_success_low"],
            100 * curve["attack_success_high"], color=line.get_color(), alpha=0.15,
        )  # fmt: skip
    axis.set_xscale("log")
    axis.set_ylim(0, 101)
    axis.set_xlabel("L∞ budget ε")
    axis.set_ylabel(f"attack success, rejections charged (%), at {100 * fpr:g}% FPR")
    axis.legend(fontsize="small", ncol=2)
    figure.tight_layout()
    save_figure(figure, png_path, pdf_path)
    plt.close(figure)
