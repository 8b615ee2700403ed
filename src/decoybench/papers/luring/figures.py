"""Luring paper (Bernhard, Moellic & Dutertre 2021) Figures 2 and 3.

* Figure 2 (Sec. 3.2-3.3): DR (solid line) and IAR (dashed line) of Eq. 3 against ε, one
  panel per attack (FGSM, PGD, MIM, MIML2), one colour per approach (Luring, Stack, Auto,
  C.E), with 95% intervals and the number of adversarial examples common to all approaches.
* Figure 3 (left/middle): mean l0 distortion of the attacks on each M∘P (and on M).
* Figure 3 (right): saliency maps: the clean image, the gradient of M's cross-entropy loss,
  and the mapping gradient ∇x P(x) of each augmented model
  (`decoybench.papers.luring.analysis`).

Each plotting function returns the matplotlib Figure; `save_luring_figure` writes it as PNG
and PDF atomically (`decoybench.figures.attack_success.save_figure`) and closes it;
`plot_luring_figures` draws and writes all three from the workflow's files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from decoybench.figures.save import save_figure
from decoybench.io import read_npz

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "APPROACH_LABELS",
    "ATTACK_TITLES",
    "LURING_FIGURE_OUTPUTS",
    "plot_luring_distortion",
    "plot_luring_figures",
    "plot_luring_rates",
    "plot_luring_saliency",
    "save_luring_figure",
]

ATTACK_TITLES: dict[str, str] = {
    "fgsm": "FGSM",
    "linf_pgd": "PGD",
    "mim": "MIM",
    "mim_l2": "MIML2",
}
APPROACH_LABELS: dict[str, str] = {
    "luring": "Luring",
    "stack": "Stack",
    "auto": "Auto",
    "cross_entropy": "C.E",
}
APPROACH_COLOURS: dict[str, str] = {
    "luring": "C3",
    "stack": "C0",
    "auto": "C2",
    "cross_entropy": "C1",
}
TARGET_COLOUR = "0.45"
EXTRA_COLOURS = ("C4", "C5", "C6", "C7", "C8", "C9")
DODGE = 0.04  # horizontal offset between approaches, as a share of the ε step
# The output keys `plot_luring_figures` writes (rule plot_luring_figures).
LURING_FIGURE_OUTPUTS: tuple[str, ...] = (
    "rates_png",
    "rates_pdf",
    "distortion_png",
    "distortion_pdf",
    "saliency_png",
    "saliency_pdf",
)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_luring_figure(figure: Figure, png_path: str | Path, pdf_path: str | Path) -> None:
    """Write `figure` as PNG (150 dpi) and PDF, each atomically, then close it."""
    save_figure(figure, png_path, pdf_path)
    _pyplot().close(figure)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def approach_label(approach: Any) -> str:
    """Fig. 2's legend name of an approach ("luring" -> "Luring", "cross_entropy" -> "C.E")."""
    return APPROACH_LABELS.get(str(approach), str(approach))


def _ordered(values: Any, order: Mapping[str, Any] | tuple[str, ...]) -> list[str]:
    """Distinct values: those in `order` first (in its order), then the rest as they come."""
    seen = list(dict.fromkeys(str(value) for value in values))
    known = [key for key in order if key in seen]
    return known + [value for value in seen if value not in known]


def _defense_styles(table: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """(legend label, colour) per defense, defenses ordered by approach (Luring first)."""
    approaches = dict(zip(table["defense"].astype(str), table["approach"], strict=True))
    ordered = sorted(
        approaches,
        key=lambda name: (_rank(approaches[name]), list(approaches).index(name)),
    )
    shared = pd.Series([str(approaches[name]) for name in ordered]).value_counts()
    styles: dict[str, tuple[str, str]] = {}
    extra = iter(EXTRA_COLOURS * 4)
    used: set[str] = set()
    for name in ordered:
        approach = str(approaches[name])
        label = approach_label(approach)
        if shared[approach] > 1:
            label = f"{label} ({name})"
        colour = APPROACH_COLOURS.get(approach)
        if colour is None or colour in used:
            colour = next(extra)
        used.add(colour)
        styles[name] = (label, colour)
    return styles


def _rank(approach: Any) -> int:
    keys = list(APPROACH_LABELS)
    return keys.index(str(approach)) if str(approach) in keys else len(keys)


def _errors(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Asymmetric error bar lengths; Wilson bounds can sit a rounding error inside the value."""
    return np.clip(np.vstack([values - low, high - values]), 0, None)


def _step(epsilons: np.ndarray) -> float:
    """The smallest gap between distinct ε of a panel (the ε itself, or 1, if only one)."""
    distinct = np.unique(epsilons[np.isfinite(epsilons)])
    if distinct.size > 1:
        return float(np.diff(distinct).min())
    return float(abs(distinct[0])) if distinct.size and distinct[0] else 1.0


def plot_luring_rates(characterization: pd.DataFrame) -> Figure:
    """Figure 2: DR (solid) and IAR (dashed) of Eq. 3 against ε, one panel per attack.

    Columns: attack, epsilon, defense, approach, dr, dr_low, dr_high, iar, iar_low, iar_high,
    n_common. One colour per approach (legend Luring, Stack, Auto, C.E), markers on every
    point (a single ε is still visible), 95% intervals as error bars, approaches dodged
    slightly along ε; "n=…" above each ε is n_common, the number of adversarial examples
    successful on every M∘P that the rates are taken over (Sec. 3.2).
    """
    plt = _pyplot()
    table = characterization.copy()
    attacks = _ordered(table["attack"], tuple(ATTACK_TITLES))
    styles = _defense_styles(table)
    columns = max(1, len(attacks))
    figure, grid = plt.subplots(
        1, columns, figsize=(3.2 * columns + 1.6, 3.4), squeeze=False, sharey=True
    )
    for axes, attack in zip(grid[0], attacks, strict=False):
        rows = table[table["attack"].astype(str) == attack]
        epsilons = rows["epsilon"].to_numpy(dtype=float)
        step = _step(epsilons)
        for position, (defense, (label, colour)) in enumerate(styles.items()):
            mine = rows[rows["defense"].astype(str) == defense].sort_values("epsilon")
            if mine.empty:
                continue
            x = mine["epsilon"].to_numpy(dtype=float)
            x = x + (position - (len(styles) - 1) / 2) * DODGE * step
            for metric, linestyle, marker in (("dr", "-", "o"), ("iar", "--", "s")):
                values = mine[metric].to_numpy(dtype=float)
                errors = _errors(
                    values,
                    mine[f"{metric}_low"].to_numpy(dtype=float),
                    mine[f"{metric}_high"].to_numpy(dtype=float),
                )
                axes.errorbar(
                    x,
                    values,
                    yerr=errors,
                    color=colour,
                    linestyle=linestyle,
                    marker=marker,
                    markersize=4,
                    capsize=2,
                    linewidth=1.2,
                    label=f"{label} {metric.upper()}",
                )
        for epsilon, group in rows.groupby("epsilon", sort=True):
            counts = sorted({int(value) for value in group["n_common"].dropna()})
            if counts:
                axes.text(
                    float(epsilon),
                    1.01,
                    "n=" + "/".join(str(count) for count in counts),
                    transform=axes.get_xaxis_transform(),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
        distinct = np.unique(epsilons[np.isfinite(epsilons)])
        axes.set_xticks(distinct, [f"{value:g}" for value in distinct])
        if distinct.size:
            axes.set_xlim(distinct.min() - 0.5 * step, distinct.max() + 0.5 * step)
        axes.set_title(ATTACK_TITLES.get(attack, attack), pad=14)
        axes.set_xlabel(r"$\epsilon$")
        axes.set_ylim(0.0, 1.05)
        axes.grid(alpha=0.3)
    grid[0][0].set_ylabel("rate")
    handles = _rate_legend(plt, styles)
    figure.legend(
        handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False
    )
    figure.tight_layout()
    return figure


def _rate_legend(plt: Any, styles: Mapping[str, tuple[str, str]]) -> list[Any]:
    """One colour entry per approach, then what the two line styles mean."""
    from matplotlib.lines import Line2D

    handles: list[Any] = [
        Line2D([], [], color=colour, marker="o", label=label) for label, colour in styles.values()
    ]
    handles.append(Line2D([], [], color="black", linestyle="-", marker="o", label="DR"))
    handles.append(Line2D([], [], color="black", linestyle="--", marker="s", label="IAR"))
    return handles


def _group_label(attack: str, label: Any, epsilon: float) -> str:
    name = ATTACK_TITLES.get(attack, attack) if _blank(label) else str(label)
    return name if not np.isfinite(epsilon) else f"{name}\n$\\epsilon$={epsilon:g}"


def plot_luring_distortion(distortion: pd.DataFrame) -> Figure:
    """Figure 3 (left): mean l0 distortion (pixels changed) of the successful adversarial
    examples, one bar group per attack and ε, one bar per model: M ("target", grey) and each
    M∘P (coloured by approach). Columns: model, approach (empty or NaN for the target),
    attack, attack_label, epsilon, mean_l0, mean_l2, mean_linf, n. Rows with NaN mean_l0
    (no successful example) are left out; each bar is labelled with its n.
    """
    plt = _pyplot()
    table = distortion[np.isfinite(distortion["mean_l0"].to_numpy(dtype=float))].copy()
    table["epsilon"] = table["epsilon"].astype(float).fillna(math.inf)  # no ε: last, unlabelled
    table["attack"] = table["attack"].astype(str)
    table["model"] = table["model"].astype(str)
    attack_order = _ordered(table["attack"], tuple(ATTACK_TITLES))
    keys = sorted(
        set(zip(table["attack"], table["epsilon"], strict=True)),
        key=lambda key: (attack_order.index(key[0]), key[1]),
    )
    defenses = table[table["model"] != "target"].rename(columns={"model": "defense"})
    styles = _defense_styles(defenses) if not defenses.empty else {}
    models = (["target"] if (table["model"] == "target").any() else []) + list(styles)
    width = 0.8 / max(1, len(models))
    figure, axes = plt.subplots(figsize=(min(16.0, 2.0 + 1.1 * max(1, len(keys))), 3.8))
    for offset, model in enumerate(models):
        label, colour = ("M (target)", TARGET_COLOUR) if model == "target" else styles[model]
        rows = table[table["model"] == model].set_index(["attack", "epsilon"])
        rows = rows[~rows.index.duplicated()]
        values = [float(rows["mean_l0"].get(key, math.nan)) for key in keys]
        counts = [rows["n"].get(key) for key in keys]
        positions = np.arange(len(keys)) + (offset - (len(models) - 1) / 2) * width
        axes.bar(positions, values, width * 0.92, color=colour, label=label)
        for position, value, count in zip(positions, values, counts, strict=True):
            if np.isfinite(value) and count is not None and not _blank(count):
                axes.text(
                    position,
                    value,
                    f"{int(count)}",
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
    first_label = table.groupby("attack")["attack_label"].first()
    labels = [_group_label(attack, first_label.get(attack), epsilon) for attack, epsilon in keys]
    axes.set_xticks(np.arange(len(keys)), labels, fontsize=8)
    axes.set_ylabel(r"mean $\ell_0$ distortion (pixels changed)")
    axes.set_title(r"$\ell_0$ adversarial distortion (bars labelled with n)", fontsize=9)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    axes.grid(axis="y", alpha=0.3)
    axes.margins(y=0.12)
    figure.tight_layout()
    return figure


def _display(values: np.ndarray) -> np.ndarray:
    """A (C, H, W) map as (H, W): colour gradients are summed over channels."""
    return values.sum(axis=0) if values.shape[0] > 1 else values[0]


def _image(values: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """A (C, H, W) image in [0, 1] as imshow data and options (grey for one channel)."""
    if values.shape[0] == 1:
        return values[0], {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}
    return np.clip(np.transpose(values, (1, 2, 0)), 0.0, 1.0), {}


def plot_luring_saliency(measurements: Mapping[str, np.ndarray]) -> Figure:
    """Figure 3 (right): per image (row), the clean image, ∇x of M's cross-entropy loss and
    the mapping gradient ∇x P(x) = ∇x Σ P(x) of each augmented model (columns titled with
    the approach). Each map has its own symmetric colour scale (0 is white; red positive,
    blue negative); for colour images the gradient is summed over channels.

    `measurements` is the `analyze_luring` npz: saliency_images, saliency_target,
    saliency_index, defenses, approaches and saliency__{defense}.
    """
    plt = _pyplot()
    images = np.asarray(measurements["saliency_images"], dtype=np.float32)
    defenses = [str(name) for name in np.asarray(measurements["defenses"]).ravel()]
    approaches = [str(name) for name in np.asarray(measurements["approaches"]).ravel()]
    index = np.asarray(measurements["saliency_index"]).ravel()
    rows, columns = max(1, len(images)), 2 + len(defenses)
    figure, grid = plt.subplots(
        rows, columns, figsize=(1.9 * columns, 1.9 * rows + 0.4), squeeze=False
    )
    titles = ["clean image", r"$\nabla_x$ CE of M"] + [
        rf"$\nabla_x P(x)$: {approach_label(approach)}" for approach in approaches
    ]
    for column, title in enumerate(titles):
        grid[0][column].set_title(title, fontsize=8)
    for axes in grid.ravel():
        axes.set_xticks([])
        axes.set_yticks([])
    if len(images) == 0:
        grid[0][0].text(0.5, 0.5, "no image", ha="center", va="center", fontsize=8)
    maps = [np.asarray(measurements["saliency_target"], dtype=np.float32)] + [
        np.asarray(measurements[f"saliency__{name}"], dtype=np.float32) for name in defenses
    ]
    for row in range(len(images)):
        data, options = _image(images[row])
        grid[row][0].imshow(data, **options)
        grid[row][0].set_ylabel(f"test #{int(index[row])}", fontsize=7)
        for column, values in enumerate(maps, start=1):
            shown = _display(values[row])
            scale = float(np.abs(shown).max())
            scale = scale if np.isfinite(scale) and scale > 0 else 1.0
            picture = grid[row][column].imshow(shown, cmap="RdBu_r", vmin=-scale, vmax=scale)
            colourbar = figure.colorbar(picture, ax=grid[row][column], fraction=0.046, pad=0.02)
            colourbar.ax.tick_params(labelsize=5)
    figure.tight_layout()
    return figure


def plot_luring_figures(
    *,
    characterization: str | Path,
    distortion: str | Path,
    measurements: str | Path,
    outputs: Mapping[str, str | Path],
) -> None:
    """Figure 2 from the `luring_characterization` CSV, Figure 3 (left) from the
    `luring_distortion` CSV and Figure 3 (right) from the luring analysis npz, each written
    as PNG and PDF (`save_luring_figure`) to `outputs` (keys `LURING_FIGURE_OUTPUTS`)."""
    rates = plot_luring_rates(pd.read_csv(characterization))
    save_luring_figure(rates, outputs["rates_png"], outputs["rates_pdf"])
    figure = plot_luring_distortion(pd.read_csv(distortion))
    save_luring_figure(figure, outputs["distortion_png"], outputs["distortion_pdf"])
    saliency = plot_luring_saliency(read_npz(measurements))
    save_luring_figure(saliency, outputs["saliency_png"], outputs["saliency_pdf"])
