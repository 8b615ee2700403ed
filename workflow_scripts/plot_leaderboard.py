"""Snakemake entry: the leaderboard figure (decoybench.leaderboard.figure)."""

from decoybench.leaderboard.figure import plot_leaderboard
from decoybench.workflow import job

with job(snakemake, artifacts=("png",)):
    plot_leaderboard(
        snakemake.input.table, snakemake.params.fpr, snakemake.output.png, snakemake.output.pdf
    )
