"""Attractors paper (Zhang et al. 2020) Figure 6: KDEs of the trapdoor counter-example's
Sec. VI-C1 measurements (`decoybench.papers.attractors.counterexample_analysis`), drawn like
Fig. 5 (`decoybench.papers.attractors.figures`), with the paper's symbols in the legends."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from decoybench.papers.attractors.figures import _finish, _kde, _save, _subplots, _wants_log

__all__ = ["plot_trapdoor_strength"]


def plot_trapdoor_strength(
    measurements: Mapping[str, np.ndarray], png_path: str | Path, pdf_path: str | Path
) -> None:
    """Fig. 6: (a) KDE of ‖N1‖₁ = ‖D(x)·W(x)‖₁ and ‖N2‖₁ = ‖(1 − D(x))·C(x)‖₁; (b) KDE of
    ‖M1‖₁ and ‖M2‖₁, the parts of ∇ₓ J(x, y_true) through N1 and through N2. Each panel has
    a log-scaled x axis when its values span more than two decades."""
    figure, (outputs, gradients) = _subplots()
    panels = (
        (
            outputs,
            ("N1_l1", r"$\|N_1\|_1$, $N_1 = D_\kappa(x) W_\omega(x)$, trapdoor branch", "C0"),
            ("N2_l1", r"$\|N_2\|_1$, $N_2 = (1 - D_\kappa(x)) C_\pi(x)$, victim branch", "C1"),
            "(a) output magnitude on clean inputs",
            "1-norm of the output",
        ),
        (
            gradients,
            ("M1_l1", r"$M_1$: $\nabla_x J$ through $N_1$ $(\omega, \kappa)$", "C0"),
            ("M2_l1", r"$M_2$: $\nabla_x J$ through $N_2$ $(\pi, \kappa)$", "C1"),
            r"(b) gradient magnitude of $J = -\log M_{y}(x)$",
            "1-norm of the input gradient",
        ),
    )
    for axes, first, second, title, xlabel in panels:
        log = _wants_log(measurements[first[0]], measurements[second[0]])
        for key, label, colour in (first, second):
            _kde(axes, measurements[key], label, colour, log=log)
        if log:
            axes.set_xscale("log")
        _finish(axes, title, xlabel, "density of log10" if log else "density")
    _save(figure, png_path, pdf_path)
