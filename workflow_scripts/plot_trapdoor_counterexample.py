"""Snakemake entry: trapdoor counter-example Fig. 6
(decoybench.figures.trapdoor_counterexample)."""

from decoybench.figures.trapdoor_counterexample import plot_trapdoor_strength
from decoybench.io import read_npz
from decoybench.workflow import job

with job(snakemake, artifacts=("png", "pdf")) as run:
    measurements = read_npz(snakemake.input.measurements)
    plot_trapdoor_strength(measurements, snakemake.output.png, snakemake.output.pdf)
