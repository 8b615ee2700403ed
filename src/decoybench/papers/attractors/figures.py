"""Attractors paper (Zhang et al. 2020) Figures 5 and 7: KDEs of the Sec. VI-C measurements
(`decoybench.papers.attractors.analysis`), with the paper's symbols in the legends."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from decoybench.figures.save import save_figure

GRID_POINTS = 400
CONSTANT = 1e-6  # relative spread below which a sample counts as constant (rounding)
LOG_SPAN = 100.0  # positive values spanning more than 2 decades get a log-scaled x axis
SECONDARY_ALPHA = 0.55  # opacity of a diagnostic curve (the lattice-attractor cosines)
LATTICE = "_lattice"  # key suffix of the lattice-attractor cosines (analysis.LATTICE)


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


def _describe(label: str, values: np.ndarray, shown: np.ndarray) -> str:
    """Legend text with n, and the count of values not drawn (nan, or ≤ 0 on a log axis)."""
    hidden = np.asarray(values).size - shown.size
    return f"{label} (n={shown.size}" + (f", {hidden} not shown)" if hidden else ")")


def _line(
    axes: Any, value: float, colour: str, label: str, *, linestyle: str = "--", alpha: float = 1.0
) -> None:
    """A labelled vertical line (dashed by default): the density of a constant."""
    axes.axvline(value, linestyle=linestyle, color=colour, label=label, alpha=alpha)


def _kde(
    axes: Any,
    values: np.ndarray,
    label: str,
    colour: str,
    *,
    log: bool = False,
    limits: tuple[float, float] | None = None,
    secondary: bool = False,
) -> None:
    """Gaussian KDE of the finite values (of log10 values if `log`) on `axes`. A constant,
    single-valued or degenerate sample has no KDE: it is drawn as a labelled vertical line.
    `secondary`: a diagnostic, drawn lighter and unfilled (a dashed KDE, a dotted line)."""
    from scipy.stats import gaussian_kde

    shown = _finite(values)
    if log:
        shown = shown[shown > 0]
    text = _describe(label, values, shown)
    style = {"linestyle": ":", "alpha": SECONDARY_ALPHA} if secondary else {}
    if shown.size == 0:
        undefined = "nan or ≤ 0" if log else "nan"
        text = f"{label}: nothing to draw (all {undefined})"
        axes.plot([], [], color=colour, label=text, **style)
        return
    data = np.log10(shown) if log else shown
    if shown.size < 2 or np.ptp(data) <= CONSTANT * max(1.0, float(np.abs(data).max())):
        centre = float(np.median(shown))
        _line(axes, centre, colour, f"{text}, constant {centre:.3g}", **style)
        return
    low, high = limits if limits is not None else (data.min(), data.max())
    if limits is None:
        margin = 0.1 * (high - low)
        low, high = low - margin, high + margin
    grid = np.linspace(low, high, GRID_POINTS)
    try:
        density = gaussian_kde(data)(grid)
    except (np.linalg.LinAlgError, ValueError):  # e.g. all but rounding-identical values
        _line(axes, float(np.median(shown)), colour, text, **style)
        return
    positions = 10**grid if log else grid
    if secondary:
        axes.plot(positions, density, "--", color=colour, label=text, alpha=SECONDARY_ALPHA)
        return
    axes.plot(positions, density, color=colour, label=text)
    axes.fill_between(positions, density, color=colour, alpha=0.2)


def _wants_log(*arrays: np.ndarray) -> bool:
    """Log axis when the positive finite values span more than LOG_SPAN."""
    positive = np.concatenate([_finite(a) for a in arrays])
    positive = positive[positive > 0]
    return positive.size > 1 and positive.max() / positive.min() > LOG_SPAN


def _finish(axes: Any, title: str, xlabel: str, ylabel: str = "density") -> None:
    axes.set_title(title, fontsize=9)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)


def _save(figure: Any, png_path: str | Path, pdf_path: str | Path) -> None:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    save_figure(figure, png_path, pdf_path)
    plt.close(figure)


def _subplots() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, 2, figsize=(10.0, 3.8))


def plot_strength_comparison(
    measurements: Mapping[str, np.ndarray], png_path: str | Path, pdf_path: str | Path
) -> None:
    """Fig. 5: (a) KDE of ‖H1‖₁ = ‖W(x)‖₁ and ‖H2‖₁ = ‖softmax C(x)‖₁ (a constant 1: a line);
    (b) KDE of ‖T1‖₁ and ‖T2‖₁, the parts of ∇ₓ J(x, y_true) through W and through C."""
    figure, (outputs, gradients) = _subplots()
    _kde(outputs, measurements["decoder_output_l1"], r"$H_1 = \|W(x)\|_1$, attractor decoder", "C0")
    _kde(outputs, measurements["victim_output_l1"], r"$H_2 = \|C(x)\|_1$, victim softmax", "C1")
    _finish(outputs, "(a) output magnitude on clean inputs", "1-norm of the output")
    log = _wants_log(measurements["decoder_gradient_l1"], measurements["victim_gradient_l1"])
    _kde(
        gradients,
        measurements["decoder_gradient_l1"],
        r"$T_1$: $\nabla_x J$ through the decoder W",
        "C0",
        log=log,
    )
    _kde(
        gradients,
        measurements["victim_gradient_l1"],
        r"$T_2$: $\nabla_x J$ through the victim C",
        "C1",
        log=log,
    )
    if log:
        gradients.set_xscale("log")
    _finish(
        gradients,
        r"(b) gradient magnitude of $J = -\log M_{y}(x)$",
        "1-norm of the input gradient",
        "density of log10" if log else "density",
    )
    _save(figure, png_path, pdf_path)


def plot_attractor_cosines(
    measurements: Mapping[str, np.ndarray], png_path: str | Path, pdf_path: str | Path
) -> None:
    """Fig. 7: KDE of the cosine between x_w − x (x_w the nearest valid attractor, an image in
    [0, 1]) and (a) −∇ₓ J(x, y_t): Z1 on C, Z2 on M; (b) ∇ₓ H_δ(x, y_t) (local density): S1
    on C, S2 on M. Where the measurements hold the lattice diagnostic (Z1_lattice, ...: x_w
    the nearest lattice attractor, possibly outside [0, 1]), it is drawn dashed and lighter,
    labelled "lattice x_w (diagnostic)". Panel (b)'s title names the density variant
    (`density_kind`: "soft" or "hard") and δ when the measurements carry them."""
    figure, (soft_label, density) = _subplots()
    limits = (-1.0, 1.0)
    panels = ((soft_label, "Z1", "Z2"), (density, "S1", "S2"))
    for axes, on_victim, on_model in panels:
        for key, symbol, colour in ((on_victim, "C", "C1"), (on_model, "M", "C0")):
            name = f"${key[0]}_{key[1]}$"
            model = "victim C" if symbol == "C" else "attractor model M"
            _kde(axes, measurements[key], f"{name}: {model}, valid $x_w$", colour, limits=limits)
            if f"{key}{LATTICE}" in measurements:
                _kde(
                    axes,
                    measurements[f"{key}{LATTICE}"],
                    f"{name} on {symbol}, lattice $x_w$ (diagnostic)",
                    colour,
                    limits=limits,
                    secondary=True,
                )
        axes.set_xlim(*limits)
    _finish(
        soft_label,
        r"(a) soft-label: cos($x_w - x$, $-\nabla_x J(x, y_t)$)",
        "cosine similarity",
    )
    _finish(
        density,
        _density_title(measurements),
        "cosine similarity",
    )
    _save(figure, png_path, pdf_path)


def _density_title(measurements: Mapping[str, np.ndarray]) -> str:
    """Panel (b)'s title, e.g. "(b) soft local density, δ = 2: cos(...)": the variant from a
    scalar `density_kind` ("soft" or "hard") and δ from `density_radius`, where present."""
    kind = np.asarray(measurements.get("density_kind", ""))
    variant = f"{kind.item()} " if kind.size == 1 and str(kind.item()) else ""
    radius = np.asarray(measurements.get("density_radius", np.nan), dtype=np.float64)
    suffix = rf", $\delta$ = {float(radius):g}" if radius.size == 1 and np.isfinite(radius) else ""
    return rf"(b) {variant}local density{suffix}: cos($x_w - x$, $\nabla_x H_\delta(x, y_t)$)"
