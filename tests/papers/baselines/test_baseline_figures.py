"""Baseline heat map (decoybench.papers.baselines.figures) from hand-built forensic cells."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from decoybench.metrics import Rate
from decoybench.papers.baselines.comparison import comparison_table
from decoybench.papers.baselines.figures import baseline_comparison_figure, plot_baseline_comparison

DEFENSES = {"attractor": "attractor", "lid": "lid", "magnet": "magnet"}


def forensic_cell(
    defense: str, label: str, attack: str, overall: tuple[int, int], target_mode: str = "none"
) -> dict:
    def point(fpr_target: float, extra: int) -> dict[str, Any]:
        return {
            "fpr_target": fpr_target,
            "tpr": Rate(10, 12).as_dict(),
            "fpr": Rate(5, 100).as_dict(),
            "auc": 0.9,
            "overall_asr": Rate(overall[0] + extra, overall[1]).as_dict(),
        }

    return {
        "attack": {"name": attack, "epsilon": 0.3, "target_mode": target_mode},
        "cell": {"attack": label, "defense": defense, "kind": "forensic", "setting": "forensic"},
        "forensic": {"operating_points": [point(0.05, 0), point(0.005, 1)]},
        "rates": {"target_asr": Rate(20, 129).as_dict()},
    }


def cells() -> list[dict[str, Any]]:
    """Attractor and MagNet on FGSM and CW2, LID on FGSM only (its CW2 cell is missing)."""
    return [
        forensic_cell("attractor", "fgsm_0.3", "fgsm", (4, 129)),
        forensic_cell("attractor", "cw2", "cw2", (0, 129), "random"),
        forensic_cell("lid", "fgsm_0.3", "fgsm", (100, 129)),
        forensic_cell("magnet", "fgsm_0.3", "fgsm", (60, 129)),
        forensic_cell("magnet", "cw2", "cw2", (128, 129), "random"),
    ]


def texts(axes) -> dict[tuple[float, float], str]:
    return {tuple(text.get_position()): text.get_text() for text in axes.texts}


def test_heat_map_panels_annotations_and_missing_cells(tmp_path: Path) -> None:
    table = comparison_table(cells(), "mnist", DEFENSES)
    figure = baseline_comparison_figure(table)
    panels = [axes for axes in figure.axes if axes.images]
    assert [axes.get_title() for axes in panels] == [
        "detector threshold at 5% FPR",
        "detector threshold at 0.5% FPR",
    ]
    first = panels[0]
    assert [t.get_text() for t in first.get_xticklabels()] == ["Attractor", "LID", "MagNet"]
    assert [t.get_text() for t in first.get_yticklabels()] == ["fgsm_0.3 (FGSM)", "cw2 (CW2)"]
    shown = texts(first)  # (column, row) -> annotation
    assert shown[(0, 0)] == "3.1%\n4/129"
    assert shown[(1, 0)] == "77.5%\n100/129"
    assert shown[(1, 1)] == "—"  # LID has no CW2 cell
    assert shown[(2, 1)] == "99.2%\n128/129"
    assert texts(panels[1])[(0, 0)] == "3.9%\n5/129"
    values = first.images[0].get_array()
    assert bool(values.mask[1, 1]) and not values.mask[0, 1]  # greyed, not coloured
    assert values[0, 0] == 4 / 129
    assert first.images[0].get_clim() == (0.0, 1.0)
    colourbar = [axes for axes in figure.axes if not axes.images]
    assert any("overall attack success rate" in axes.get_ylabel() for axes in colourbar)
    plt.close(figure)


def test_plot_writes_png_and_pdf_from_cells_or_table(tmp_path: Path) -> None:
    paths = []
    for index, cell in enumerate(cells()):
        path = tmp_path / f"cell_{index}.json"
        path.write_text(json.dumps(cell))
        paths.append(path)
    png, pdf = tmp_path / "asr.png", tmp_path / "asr.pdf"
    plot_baseline_comparison(paths, png, pdf, paper_dataset="mnist", defenses=DEFENSES)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert png.stat().st_size > 1000 and pdf.stat().st_size > 1000
    assert not list(tmp_path.glob(".tmp-*"))
    table = comparison_table(paths, None, DEFENSES)
    plot_baseline_comparison(table, tmp_path / "t.png", tmp_path / "t.pdf", title="mnist5k")
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_empty_table_still_draws(tmp_path: Path) -> None:
    empty = comparison_table([], None, DEFENSES)
    assert isinstance(empty, pd.DataFrame) and empty.empty
    figure = baseline_comparison_figure(empty)
    assert "no forensic cell" in [text.get_text() for text in figure.axes[0].texts]
    plt.close(figure)
    plot_baseline_comparison(empty, tmp_path / "e.png", tmp_path / "e.pdf")
    assert (tmp_path / "e.pdf").stat().st_size > 0
