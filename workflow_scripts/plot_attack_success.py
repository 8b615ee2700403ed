"""Snakemake entry: the attack-success figure (decoybench.figures.attack_success)."""

import pandas as pd

from decoybench.figures.attack_success import plot_attack_success
from decoybench.workflow import job

with job(snakemake, artifacts=("png", "pdf")) as run:
    plot_attack_success(
        pd.read_csv(snakemake.input.table), snakemake.output.png, snakemake.output.pdf
    )
