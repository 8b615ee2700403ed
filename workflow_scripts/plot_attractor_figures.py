"""Snakemake entry: attractors Fig. 5 and Fig. 7 (decoybench.papers.attractors.figures)."""

from decoybench.io import read_npz
from decoybench.papers.attractors.figures import plot_attractor_cosines, plot_strength_comparison
from decoybench.workflow import job

FIGURES = ("figure5_png", "figure5_pdf", "figure7_png", "figure7_pdf")

with job(snakemake, artifacts=FIGURES) as run:
    measurements = read_npz(snakemake.input.measurements)
    output = snakemake.output
    plot_strength_comparison(measurements, output.figure5_png, output.figure5_pdf)
    plot_attractor_cosines(measurements, output.figure7_png, output.figure7_pdf)
