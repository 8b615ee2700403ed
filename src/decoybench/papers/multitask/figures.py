"""Multi-task paper (Wang et al. 2019) Figures 3-6.

* Figure 3 (Sec. IV-D1): success rate of black-box C&W examples transferred to the oracle,
  against κ, on the original and on the defended oracle;
* Figures 4 and 5 (Sec. IV-D1, IV-D2): precision and recall of detecting black-box and
  grey-box C&W examples against κ, one panel each;
* Figure 6 (Sec. V-A): misclassification heat maps of FGSM, IGS, DeepFool and
  high-confidence C&W examples on the bare oracle, beside the training Classmap.

Figures 3-5 read the `multitask_cw_sweep` table (`decoybench.papers.multitask.tables.attacks`);
Figure 6 reads the cells' `class_map` and the defense sidecar's `classmap`. Each plotting
function returns the matplotlib Figure; `save_multitask_figure` writes it as PNG and PDF
atomically (`decoybench.figures.attack_success.save_figure`) and closes it;
`plot_multitask_figures` reads the files and writes all three (the workflow's entry).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from decoybench.figures.save import save_figure
from decoybench.io import read_json

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "CLASSMAP_FAMILIES",
    "classmap_cells",
    "misclassification_map",
    "plot_multitask_classmaps",
    "plot_multitask_cw_detection",
    "plot_multitask_cw_transfer",
    "plot_multitask_figures",
    "save_multitask_figure",
]

CLASSMAP_FAMILIES: tuple[str, ...] = ("FGSM", "IGS", "DeepFool", "C&W")  # Fig. 6's order
FGSM_EPSILON = 0.1  # Fig. 6's FGSM: the ε closest to the black-box one (Sec. IV-B)
ORIGINAL_COLOUR, DEFENDED_COLOUR = "C0", "C3"
PRECISION_COLOUR, RECALL_COLOUR = "C2", "C1"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_multitask_figure(figure: Figure, png_path: str | Path, pdf_path: str | Path) -> None:
    """Write `figure` as PNG (150 dpi) and PDF, each atomically, then close it."""
    save_figure(figure, png_path, pdf_path)
    _pyplot().close(figure)


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric column (NaN where absent or empty)."""
    if name not in table:
        return np.full(len(table), np.nan)
    return pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float)


def _rate_line(
    axes: Axes, table: pd.DataFrame, prefix: str, *, colour: str, label: str, marker: str
) -> None:
    """One rate against κ: a line with markers and its 95% interval as a band; a missing κ
    (NaN) breaks the line."""
    kappa = _column(table, "kappa")
    values = _column(table, prefix)
    low, high = _column(table, f"{prefix}_low"), _column(table, f"{prefix}_high")
    low, high = np.where(np.isnan(values), np.nan, low), np.where(np.isnan(values), np.nan, high)
    axes.plot(kappa, values, color=colour, marker=marker, markersize=4, linewidth=1.3, label=label)
    axes.fill_between(kappa, low, high, color=colour, alpha=0.18, linewidth=0)


def _kappa_axes(axes: Axes, table: pd.DataFrame, title: str) -> None:
    kappa = _column(table, "kappa")
    distinct = np.unique(kappa[np.isfinite(kappa)])
    if distinct.size:
        axes.set_xticks(distinct, [f"{value:g}" for value in distinct])
        step = float(np.diff(distinct).min()) if distinct.size > 1 else 1.0
        axes.set_xlim(distinct.min() - 0.3 * step, distinct.max() + 0.3 * step)
    else:
        axes.text(0.5, 0.5, "no C&W cell", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel(r"C&W confidence $\kappa$")
    axes.set_ylim(-0.02, 1.05)
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)


def _sorted(sweep: pd.DataFrame) -> pd.DataFrame:
    if "kappa" not in sweep:
        return sweep.iloc[0:0].assign(kappa=pd.Series(dtype=float))
    return sweep.assign(kappa=_column(sweep, "kappa")).sort_values("kappa", kind="stable")


def plot_multitask_cw_transfer(sweep: pd.DataFrame) -> Figure:
    """Figure 3: success rate of black-box C&W examples transferred from the substitute,
    against κ, on the original oracle and on the defended one (label through Z*), with 95%
    intervals as bands. Columns (`multitask_cw_sweep`): kappa,
    blackbox_transfer_success_{original,defended} and their _low, _high."""
    plt = _pyplot()
    table = _sorted(sweep)
    figure, axes = plt.subplots(figsize=(4.6, 3.4))
    for prefix, colour, label, marker in (
        ("blackbox_transfer_success_original", ORIGINAL_COLOUR, "original oracle", "o"),
        ("blackbox_transfer_success_defended", DEFENDED_COLOUR, "defended (Z*)", "s"),
    ):
        _rate_line(axes, table, prefix, colour=colour, label=label, marker=marker)
    _kappa_axes(axes, table, "Fig. 3: black-box C&W transfer success")
    axes.set_ylabel("transfer success rate")
    axes.legend(fontsize=8, loc="best", frameon=False)
    figure.tight_layout()
    return figure


def plot_multitask_cw_detection(sweep: pd.DataFrame) -> Figure:
    """Figures 4 and 5: detection precision and recall against κ, black-box (Fig. 4, left)
    and grey-box (Fig. 5, right) C&W examples, with 95% intervals as bands. Columns
    (`multitask_cw_sweep`): kappa, {blackbox,greybox}_{precision,recall} and their _low,
    _high; a κ without a cell of a setting leaves a gap in that panel."""
    plt = _pyplot()
    table = _sorted(sweep)
    figure, grid = plt.subplots(1, 2, figsize=(8.4, 3.4), sharey=True, squeeze=False)
    for axes, prefix, title in (
        (grid[0][0], "blackbox", "Fig. 4: black-box C&W detection"),
        (grid[0][1], "greybox", "Fig. 5: grey-box C&W detection"),
    ):
        _rate_line(
            axes,
            table,
            f"{prefix}_precision",
            colour=PRECISION_COLOUR,
            label="precision",
            marker="o",
        )
        _rate_line(
            axes, table, f"{prefix}_recall", colour=RECALL_COLOUR, label="recall", marker="s"
        )
        _kappa_axes(axes, table, title)
        axes.legend(fontsize=8, loc="best", frameon=False)
    grid[0][0].set_ylabel("rate")
    figure.tight_layout()
    return figure


# --- Figure 6 ----------------------------------------------------------------------------


def misclassification_map(counts: Sequence[Sequence[float]]) -> np.ndarray:
    """Fig. 6's map of a K×K count matrix (true class × predicted label): each row divided
    by its off-diagonal total (the share of class i's misclassified examples labelled j), the
    diagonal NaN (masked); a row without a misclassification is all zero off the diagonal."""
    matrix = np.asarray(counts, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"expected a square count matrix, got shape {matrix.shape}")
    off = matrix.copy()
    np.fill_diagonal(off, 0.0)
    totals = off.sum(axis=1, keepdims=True)
    shares = np.divide(off, totals, out=np.zeros_like(off), where=totals > 0)
    np.fill_diagonal(shares, np.nan)
    return shares


def _attack(metrics: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    identity = metrics.get("cell") or {}
    config = identity.get("attack_config") or {}
    name = (metrics.get("attack") or {}).get("name") or config.get("attack", "")
    return str(name), config


def _target_mode(metrics: Mapping[str, Any]) -> str:
    _, config = _attack(metrics)
    return str((metrics.get("attack") or {}).get("target_mode") or config.get("target") or "none")


def _epsilon(metrics: Mapping[str, Any]) -> float:
    _, config = _attack(metrics)
    value = (metrics.get("attack") or {}).get("epsilon", config.get("epsilon"))
    return math.nan if value is None else float(value)


def _kappa(metrics: Mapping[str, Any]) -> float:
    _, config = _attack(metrics)
    value = config.get("confidence")
    return 0.0 if value is None else float(value)  # the schema's default confidence


def _key(metrics: Mapping[str, Any]) -> str:
    return str((metrics.get("cell") or {}).get("attack", ""))


def classmap_cells(cells: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Fig. 6's cell per attack family, among the white-box cells on `undefended` with a
    `class_map`: FGSM (the ε closest to 0.1), IGS (igs, else bim), DeepFool (deepfool_linf,
    else deepfool),
    C&W (non-targeted cw2_combined with the largest κ, else non-targeted cw2 with the
    largest κ). Ties go to the lower config key; a family without a cell is left out."""
    pool = [
        metrics
        for metrics in cells
        if (metrics.get("cell") or {}).get("kind") == "whitebox"
        and (metrics.get("cell") or {}).get("defense") == "undefended"
        and (metrics.get("class_map") or {}).get("counts")
    ]

    def named(*attacks: str, untargeted: bool = False) -> list[Mapping[str, Any]]:
        return [
            metrics
            for metrics in pool
            if _attack(metrics)[0] in attacks
            and (not untargeted or _target_mode(metrics) == "none")
        ]

    chosen: dict[str, Mapping[str, Any]] = {}
    fgsm = named("fgsm", untargeted=True)
    if fgsm:
        chosen["FGSM"] = min(
            fgsm,
            key=lambda m: (
                abs(_epsilon(m) - FGSM_EPSILON) if math.isfinite(_epsilon(m)) else math.inf,
                _key(m),
            ),
        )
    for attack in ("igs", "bim"):  # the paper's IGS is BIM (Kurakin et al.)
        igs = named(attack, untargeted=True)
        if igs:
            chosen["IGS"] = min(igs, key=_key)
            break
    for attack in ("deepfool_linf", "deepfool"):
        deepfool = named(attack)
        if deepfool:
            chosen["DeepFool"] = min(deepfool, key=_key)
            break
    for attack in ("cw2_combined", "cw2"):
        cw = named(attack, untargeted=True)
        if cw:
            chosen["C&W"] = min(cw, key=lambda m: (-_kappa(m), _key(m)))
            break
    return chosen


def _panel_title(family: str, metrics: Mapping[str, Any]) -> str:
    identity = metrics.get("cell") or {}
    attack, _ = _attack(metrics)
    parameter = ""
    if attack in ("cw2", "cw2_combined"):
        parameter = rf", $\kappa$={_kappa(metrics):g}"
    elif math.isfinite(_epsilon(metrics)):
        parameter = rf", $\epsilon$={_epsilon(metrics):g}"
    return (
        f"{family} ({attack}{parameter})\n"
        f"{identity.get('setting', '')}/{identity.get('defense', '')}/{_key(metrics)}"
    )


def _pairs(defense_json: Mapping[str, Any], classes: int) -> list[int] | None:
    pairs = (defense_json.get("classmap") or {}).get("pairs")
    return list(pairs) if pairs and len(pairs) == classes else None


def plot_multitask_classmaps(
    cells: Sequence[Mapping[str, Any]], defense_json: Mapping[str, Any]
) -> Figure:
    """Figure 6: one heat map per attack family (`classmap_cells`: FGSM, IGS, DeepFool, C&W on
    the bare oracle, white-box) of the cell's `class_map.counts`, and one of the training
    Classmap's counts (the sidecar's `classmap`, the oracle on FGSM examples of the training
    split), each row-normalised over its misclassifications with the diagonal masked
    (`misclassification_map`), on one 0-1 colour scale. Squares mark the Classmap's pairs
    (pairs[i] for class i) on every panel, so the shared pattern shows; each title names the
    cell the map came from."""
    plt = _pyplot()
    panels: list[tuple[str, np.ndarray]] = [
        (_panel_title(family, metrics), np.asarray(metrics["class_map"]["counts"], dtype=float))
        for family, metrics in classmap_cells(cells).items()
    ]
    classmap = defense_json.get("classmap") or {}
    if classmap.get("counts"):
        epsilon = defense_json.get("classmap_epsilon")
        where = "" if epsilon is None else rf", $\epsilon$={float(epsilon):g}"
        panels.append(
            (
                f"training Classmap (FGSM{where})\nsidecar classmap, "
                f"pairing {classmap.get('pairing', '?')}",
                np.asarray(classmap["counts"], dtype=float),
            )
        )
    columns = max(1, len(panels))
    figure, grid = plt.subplots(
        1, columns, figsize=(3.0 * columns + 0.8, 3.4), squeeze=False, layout="constrained"
    )
    colour_map = plt.get_cmap("viridis").with_extremes(bad="0.85")
    picture = None
    for axes, (title, counts) in zip(grid[0], panels, strict=False):
        shares = misclassification_map(counts)
        picture = axes.imshow(
            np.ma.masked_invalid(shares), cmap=colour_map, vmin=0.0, vmax=1.0, aspect="equal"
        )
        classes = shares.shape[0]
        axes.set_xticks(range(classes))
        axes.set_yticks(range(classes))
        axes.tick_params(labelsize=6)
        axes.set_xlabel("predicted label", fontsize=7)
        axes.set_ylabel("true class", fontsize=7)
        axes.set_title(title, fontsize=7)
        pairs = _pairs(defense_json, classes)
        if pairs is not None:
            axes.scatter(
                pairs,
                range(classes),
                marker="s",
                s=30,
                facecolors="none",
                edgecolors="white",
                linewidths=0.9,
                label="Classmap pair",
            )
    if not panels:
        axes = grid[0][0]
        axes.text(0.5, 0.5, "no class map", ha="center", va="center", transform=axes.transAxes)
        axes.set_xticks([])
        axes.set_yticks([])
    if picture is not None:
        colourbar = figure.colorbar(picture, ax=list(grid[0]), fraction=0.025, pad=0.01)
        colourbar.set_label("share of the class's misclassified examples", fontsize=7)
        colourbar.ax.tick_params(labelsize=6)
    return figure


def plot_multitask_figures(
    *,
    sweep: str | Path,
    cells: Iterable[str | Path],
    defense: str | Path,
    outputs: Mapping[str, str | Path],
) -> None:
    """Figures 3-6 from their files: the `multitask_cw_sweep` CSV at `sweep`, the cell
    metrics JSONs `cells` and the defense sidecar `defense`; `outputs` maps
    "{figure}_png" / "{figure}_pdf" to a path, {figure} one of cw_transfer, cw_detection,
    classmaps."""
    table = pd.read_csv(sweep)
    loaded = [read_json(path) for path in cells]
    sidecar = read_json(defense)
    save_multitask_figure(
        plot_multitask_cw_transfer(table), outputs["cw_transfer_png"], outputs["cw_transfer_pdf"]
    )
    save_multitask_figure(
        plot_multitask_cw_detection(table), outputs["cw_detection_png"], outputs["cw_detection_pdf"]
    )
    save_multitask_figure(
        plot_multitask_classmaps(loaded, sidecar),
        outputs["classmaps_png"],
        outputs["classmaps_pdf"],
    )
