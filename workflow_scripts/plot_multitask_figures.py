"""Snakemake entry: multi-task paper Figure 3 (transferred C&W success over κ), Figures 4
and 5 (detection precision and recall over κ) and Figure 6 (Classmap heat maps)
(decoybench.papers.multitask.figures)."""

from decoybench.papers.multitask.figures import plot_multitask_figures
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
    # A named input given one file may come back as a plain string, not a list of one.
    cells = snakemake.input.cells
    plot_multitask_figures(
        sweep=snakemake.input.sweep,
        cells=[cells] if isinstance(cells, str) else list(cells),
        defense=snakemake.input.defense,
        outputs=dict(snakemake.output.items()),
    )
