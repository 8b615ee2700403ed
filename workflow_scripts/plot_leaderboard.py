"""Snakemake entry: the leaderboard's figures (decoybench.leaderboard.figure)."""

from decoybench.leaderboard.figure import plot_epsilon_sweep, plot_leaderboard
from decoybench.workflow import job

inputs, outputs, params = snakemake.input, snakemake.output, snakemake.params
with job(snakemake, artifacts=("png", "sweep_png")):
    plot_leaderboard(inputs.table, params.fpr, params.threat_models, outputs.png, outputs.pdf)
    plot_epsilon_sweep(inputs.sweep, params.fpr, outputs.sweep_png, outputs.sweep_pdf)
