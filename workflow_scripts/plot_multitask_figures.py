"""Snakemake entry: multi-task paper Figure 3 (transferred C&W success over κ), Figures 4
and 5 (detection precision and recall over κ) and Figure 6 (Classmap heat maps)
(decoybench.papers.multitask.figures)."""

import pandas as pd

from decoybench.io import read_json
from decoybench.papers.multitask.figures import (
    plot_multitask_classmaps,
    plot_multitask_cw_detection,
    plot_multitask_cw_transfer,
    save_multitask_figure,
)
from decoybench.workflow import job

FIGURES = (
    "cw_transfer_png",
    "cw_transfer_pdf",
    "cw_detection_png",
    "cw_detection_pdf",
    "classmaps_png",
    "classmaps_pdf",
)

with job(snakemake, artifacts=FIGURES) as run:
    output = snakemake.output
    sweep = pd.read_csv(snakemake.input.sweep)
    cell_files = snakemake.input.cells
    cell_files = [cell_files] if isinstance(cell_files, str) else list(cell_files)
    cells = [read_json(path) for path in cell_files]
    defense = read_json(snakemake.input.defense)
    save_multitask_figure(
        plot_multitask_cw_transfer(sweep), output.cw_transfer_png, output.cw_transfer_pdf
    )
    save_multitask_figure(
        plot_multitask_cw_detection(sweep), output.cw_detection_png, output.cw_detection_pdf
    )
    save_multitask_figure(
        plot_multitask_classmaps(cells, defense), output.classmaps_png, output.classmaps_pdf
    )
