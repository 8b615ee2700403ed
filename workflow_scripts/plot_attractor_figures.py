"""Snakemake entry: attractors Fig. 5 and Fig. 7 (decoybench.figures.attractor_analysis)."""

from decoybench.figures.attractor_analysis import plot_attractor_cosines, plot_strength_comparison
from decoybench.io import read_npz
from decoybench.workflow import job

FIGURES = ("figure5_png", "figure5_pdf", "figure7_png", "figure7_pdf")

with job(snakemake, artifacts=FIGURES) as run:
    measurements = read_npz(snakemake.input.measurements)
    output = snakemake.output
    plot_strength_comparison(measurements, output.figure5_png, output.figure5_pdf)
    plot_attractor_cosines(measurements, output.figure7_png, output.figure7_pdf)
