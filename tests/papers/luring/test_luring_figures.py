"""Luring paper Figures 2 and 3 (decoybench.papers.luring.figures) from hand-built tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from decoybench.papers.luring.figures import (
    plot_luring_distortion,
    plot_luring_rates,
    plot_luring_saliency,
    save_luring_figure,
)

APPROACHES = {"luring": "luring", "luring_stack": "stack", "luring_auto": "auto"}


def _characterization(epsilons: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for attack, values in epsilons.items():
        for epsilon in values:
            for rank, (defense, approach) in enumerate(APPROACHES.items()):
                dr, iar = 0.9 - 0.2 * rank - epsilon, 0.6 - 0.2 * rank - epsilon
                rows.append(
                    {
                        "attack": attack,
                        "epsilon": epsilon,
                        "defense": defense,
                        "approach": approach,
                        "dr": dr,
                        "dr_low": dr - 0.05,
                        "dr_high": dr + 0.05,
                        "iar": iar,
                        "iar_low": iar - 0.05,
                        "iar_high": iar + 0.05,
                        "n_common": 40,
                    }
                )
    return pd.DataFrame(rows)


def _check_saved(figure, tmp_path, name: str) -> None:
    png, pdf = tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"
    save_luring_figure(figure, png, pdf)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert not list(tmp_path.glob(".tmp-*"))


def test_rates_figure_has_one_panel_per_attack_and_visible_markers(tmp_path) -> None:
    table = _characterization({"fgsm": [0.2, 0.3, 0.4], "mim_l2": [0.3], "linf_pgd": [0.3]})
    figure = plot_luring_rates(table)
    panels = figure.axes
    assert [axes.get_title() for axes in panels] == ["FGSM", "PGD", "MIML2"]
    single = panels[2]  # one ε only: its points must still show
    bars = [c for c in single.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2 * len(APPROACHES) and all(c.has_yerr for c in bars)  # DR and IAR
    lines = [bar.lines[0] for bar in bars]  # the data line of each error bar plot
    assert all(len(line.get_xdata()) == 1 for line in lines)
    assert all(line.get_marker() not in (None, "", "None", " ") for line in lines)
    assert all(line.get_markersize() > 0 for line in lines)
    assert {line.get_linestyle() for line in lines} == {"-", "--"}
    assert "n=40" in [text.get_text() for text in single.texts]
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["Luring", "Stack", "Auto", "DR", "IAR"]
    _check_saved(figure, tmp_path, "rates")


def test_rates_figure_tolerates_missing_rates(tmp_path) -> None:
    table = _characterization({"mim": [0.2, 0.3]})
    table.loc[table["defense"] == "luring_auto", ["dr", "dr_low", "dr_high"]] = np.nan
    _check_saved(plot_luring_rates(table), tmp_path, "rates")


def test_distortion_figure_skips_rows_without_successes(tmp_path) -> None:
    rows = []
    for attack, label in (("fgsm", "FGSM"), ("mim", "MIM")):
        for model, approach in (("target", np.nan), *APPROACHES.items()):
            rows.append(
                {
                    "model": model,
                    "approach": approach,
                    "attack": attack,
                    "attack_label": label,
                    "epsilon": 0.3,
                    "mean_l0": 100.0 + 10 * len(rows),
                    "mean_l2": 3.0,
                    "mean_linf": 0.3,
                    "n": 20,
                }
            )
    table = pd.DataFrame(rows)
    table.loc[(table["model"] == "luring_auto") & (table["attack"] == "mim"), "mean_l0"] = np.nan
    figure = plot_luring_distortion(table)
    (axes,) = figure.axes
    heights = [patch.get_height() for patch in axes.patches]
    assert len(heights) == 8 and np.isnan(heights).sum() == 1
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["M (target)", "Luring", "Stack", "Auto"]
    assert [tick.get_text() for tick in axes.get_xticklabels()] == [
        "FGSM\n$\\epsilon$=0.3",
        "MIM\n$\\epsilon$=0.3",
    ]
    _check_saved(figure, tmp_path, "distortion")


@pytest.mark.parametrize("channels", [1, 3])
def test_saliency_figure_has_a_symmetric_scale_per_map(tmp_path, channels: int) -> None:
    generator = np.random.default_rng(0)
    shape = (2, channels, 8, 8)
    measurements = {
        "defenses": np.asarray(["luring", "luring_auto"]),
        "approaches": np.asarray(["luring", "auto"]),
        "saliency_images": generator.uniform(size=shape).astype(np.float32),
        "saliency_target": generator.normal(size=shape).astype(np.float32),
        "saliency_index": np.asarray([3, 7]),
        "saliency__luring": 10 * generator.normal(size=shape).astype(np.float32),
        "saliency__luring_auto": np.zeros(shape, dtype=np.float32),
    }
    figure = plot_luring_saliency(measurements)
    grid = figure.axes[:8]  # the 2 × 4 panels come first, then the colour bars
    titles = [axes.get_title() for axes in grid[:4]]
    assert titles[0] == "clean image" and titles[2].endswith("Luring")
    assert titles[3].endswith("Auto")
    for axes in grid[1:4] + grid[5:8]:
        (image,) = axes.get_images()
        low, high = image.get_clim()
        assert low == -high and high > 0
    _check_saved(figure, tmp_path, f"saliency_{channels}")
