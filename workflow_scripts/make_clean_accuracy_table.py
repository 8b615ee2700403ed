"""Snakemake entry: attractors Table II (decoybench.tables.summary)."""

from decoybench.tables.summary import write_clean_accuracy_table
from decoybench.workflow import job

with job(snakemake, artifacts=("csv", "markdown")) as run:
    write_clean_accuracy_table(
        snakemake.input.defense,
        snakemake.wildcards.dataset,
        snakemake.output.csv,
        snakemake.output.markdown,
    )
