"""Multi-task paper Figures 3-6 (decoybench.papers.multitask.figures) from hand-built inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from decoybench.papers.multitask.figures import (
    classmap_cells,
    misclassification_map,
    plot_multitask_classmaps,
    plot_multitask_cw_detection,
    plot_multitask_cw_transfer,
    save_multitask_figure,
)

PREFIXES = (
    "blackbox_transfer_success_original",
    "blackbox_transfer_success_defended",
    "blackbox_precision",
    "blackbox_recall",
    "greybox_precision",
    "greybox_recall",
)


def sweep(kappas=(40.0, 0.0, 20.0)) -> pd.DataFrame:
    rows = []
    for kappa in kappas:
        row: dict[str, Any] = {"kappa": kappa}
        for rank, prefix in enumerate(PREFIXES):
            value = 0.9 - 0.1 * rank - kappa / 100
            row.update(
                {prefix: value, f"{prefix}_low": value - 0.05, f"{prefix}_high": value + 0.05}
            )
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.loc[frame["kappa"] == 20.0, ["greybox_precision", "greybox_recall"]] = np.nan
    return frame


def whitebox(key: str, attack: str, counts, *, defense="undefended", **config) -> dict:
    return {
        "cell": {
            "setting": "whitebox",
            "kind": "whitebox",
            "defense": defense,
            "attack": key,
            "attack_config": {"attack": attack, **config},
        },
        "attack": {
            "name": attack,
            "epsilon": config.get("epsilon"),
            "target_mode": config.get("target", "none"),
        },
        "class_map": {"counts": counts, "confidence": None},
    }


COUNTS = [[5, 3, 1], [2, 6, 0], [0, 0, 9]]
SIDECAR = {
    "classmap": {"pairs": [1, 0, 0], "pairing": "most_likely", "counts": COUNTS},
    "classmap_epsilon": 0.1,
}


def cells() -> list[dict]:
    return [
        whitebox("fgsm_0.3", "fgsm", COUNTS, epsilon=0.3),
        whitebox("fgsm_0.1", "fgsm", COUNTS, epsilon=0.1),
        whitebox("igs", "igs", COUNTS, epsilon=0.1),
        whitebox("deepfool", "deepfool", COUNTS),
        whitebox("deepfool_linf", "deepfool_linf", COUNTS),
        whitebox("cw2_k40", "cw2", COUNTS, confidence=40),
        whitebox("cw2c_k20", "cw2_combined", COUNTS, confidence=20),
        whitebox("cw2ct_k40", "cw2_combined", COUNTS, confidence=40, target="random"),
        whitebox("fgsm_0.1", "fgsm", COUNTS, defense="multitask", epsilon=0.1),
    ]


def _check_saved(figure, tmp_path, name: str) -> None:
    assert isinstance(figure, Figure)
    png, pdf = tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"
    save_multitask_figure(figure, png, pdf)
    assert png.stat().st_size > 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.stat().st_size > 0 and pdf.read_bytes()[:5] == b"%PDF-"
    assert not list(tmp_path.glob(".tmp-*"))


def test_cw_transfer_figure_sorted_by_kappa_with_bands(tmp_path) -> None:
    figure = plot_multitask_cw_transfer(sweep())
    (axes,) = figure.axes
    lines = axes.get_lines()
    assert [line.get_label() for line in lines] == ["original oracle", "defended (Z*)"]
    assert list(lines[0].get_xdata()) == [0.0, 20.0, 40.0]
    assert len(axes.collections) == 2  # one 95% band per line
    assert "Fig. 3" in axes.get_title()
    _check_saved(figure, tmp_path, "cw_transfer")


def test_cw_detection_figure_has_blackbox_and_greybox_panels(tmp_path) -> None:
    figure = plot_multitask_cw_detection(sweep())
    left, right = figure.axes
    assert "Fig. 4" in left.get_title() and "Fig. 5" in right.get_title()
    for axes in (left, right):
        assert [line.get_label() for line in axes.get_lines()] == ["precision", "recall"]
    grey = right.get_lines()[0].get_ydata()
    assert np.isnan(grey[1]) and np.isfinite(grey[0])  # κ = 20 has no grey-box cell
    _check_saved(figure, tmp_path, "cw_detection")


def test_cw_figures_tolerate_an_empty_sweep(tmp_path) -> None:
    empty = pd.DataFrame(columns=["kappa", *PREFIXES])
    _check_saved(plot_multitask_cw_transfer(empty), tmp_path, "empty_transfer")
    _check_saved(plot_multitask_cw_detection(empty), tmp_path, "empty_detection")


def test_misclassification_map_masks_the_diagonal() -> None:
    shares = misclassification_map(COUNTS)
    assert np.isnan(np.diag(shares)).all()
    assert shares[0, 1] == pytest.approx(0.75) and shares[0, 2] == pytest.approx(0.25)
    assert shares[1, 0] == 1.0 and shares[2, 0] == 0.0 and shares[2, 1] == 0.0
    with pytest.raises(ValueError, match="square"):
        misclassification_map([[1, 2, 3]])


def test_classmap_cells_pick_one_cell_per_family() -> None:
    chosen = classmap_cells(cells())
    assert list(chosen) == ["FGSM", "IGS", "DeepFool", "C&W"]
    picked = {family: metrics["cell"]["attack"] for family, metrics in chosen.items()}
    assert picked == {
        "FGSM": "fgsm_0.1",  # ε closest to 0.1, on undefended only
        "IGS": "igs",
        "DeepFool": "deepfool_linf",
        "C&W": "cw2c_k20",  # non-targeted cw2_combined beats cw2 of a larger κ
    }
    without_combined = [c for c in cells() if c["attack"]["name"] != "cw2_combined"]
    assert classmap_cells(without_combined)["C&W"]["cell"]["attack"] == "cw2_k40"


def test_classmaps_figure_panels_and_missing_families(tmp_path) -> None:
    figure = plot_multitask_classmaps(cells(), SIDECAR)
    titles = [axes.get_title() for axes in figure.axes if axes.get_title()]
    assert len(titles) == 5  # four families and the training Classmap
    assert titles[0].startswith("FGSM (fgsm") and "whitebox/undefended/fgsm_0.1" in titles[0]
    assert titles[-1].startswith("training Classmap")
    _check_saved(figure, tmp_path, "classmaps")
    only_fgsm = [c for c in cells() if c["attack"]["name"] == "fgsm"]
    partial = plot_multitask_classmaps(only_fgsm, {})
    assert [axes.get_title().split(" ")[0] for axes in partial.axes if axes.get_title()] == ["FGSM"]
    _check_saved(partial, tmp_path, "classmaps_partial")
    _check_saved(plot_multitask_classmaps([], {}), tmp_path, "classmaps_empty")
