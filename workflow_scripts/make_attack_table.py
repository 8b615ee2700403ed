"""Snakemake entry: the attack-success table (decoybench.tables.summary)."""

from decoybench.tables.summary import write_attack_table
from decoybench.workflow import job

with job(snakemake, artifacts=("csv", "markdown")) as run:
    table = write_attack_table(
        snakemake.input.cells, snakemake.output.csv, snakemake.output.markdown
    )
    run.log_metrics({"cells": len(table)})
