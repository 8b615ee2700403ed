"""Snakemake entry: luring Figure 2 (DR, IAR against ε) and Figure 3 (l0 distortion,
saliency maps) (decoybench.papers.luring.figures)."""

from decoybench.papers.luring.figures import LURING_FIGURE_OUTPUTS, plot_luring_figures
from decoybench.workflow import job

with job(snakemake, artifacts=LURING_FIGURE_OUTPUTS) as run:
    plot_luring_figures(
        characterization=snakemake.input.characterization,
        distortion=snakemake.input.distortion,
        measurements=snakemake.input.measurements,
        outputs=dict(snakemake.output.items()),
    )
