"""Snakemake entry: trapdoor counter-example Fig. 6
(decoybench.papers.attractors.counterexample_figure)."""

from decoybench.io import read_npz
from decoybench.papers.attractors.counterexample_figure import plot_trapdoor_strength
from decoybench.workflow import job

with job(snakemake, artifacts=("png", "pdf")) as run:
    measurements = read_npz(snakemake.input.measurements)
    plot_trapdoor_strength(measurements, snakemake.output.png, snakemake.output.pdf)
