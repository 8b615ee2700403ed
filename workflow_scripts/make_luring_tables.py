"""Snakemake entry: luring paper Tables 8, 1/14, 9, 10, Figure 2's data and the claim checks
(evaluation.luring_tables)."""

from decoybench.papers.luring.tables.write import headline_metrics, write_luring_tables
from decoybench.workflow import job

outputs = snakemake.output
# A named input given one file may come back as a plain string, not a list of one.
defense_files = snakemake.input.defenses
defense_files = [defense_files] if isinstance(defense_files, str) else list(defense_files)
with job(snakemake, artifacts=tuple(outputs.keys())) as run:
    frames = write_luring_tables(
        cells=snakemake.input.cells,
        defenses=dict(zip(snakemake.params.defenses, defense_files, strict=True)),
        analysis=snakemake.input.get("analysis"),
        paper_dataset=snakemake.params.paper_dataset,
        outputs=dict(outputs.items()),
    )
    run.log_metrics(headline_metrics(frames))
