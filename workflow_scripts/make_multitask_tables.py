"""Snakemake entry: multi-task paper Tables III-VI, the Classmap, the data of Figures 3-5 and
the claim checks (decoybench.papers.multitask.tables.write)."""

from decoybench.papers.multitask.tables.write import headline_metrics, write_multitask_tables
from decoybench.workflow import job

outputs = snakemake.output
# A named input given one file may come back as a plain string, not a list of one.
cells = snakemake.input.cells
cells = [cells] if isinstance(cells, str) else list(cells)
with job(snakemake, artifacts=tuple(outputs.keys())) as run:
    frames = write_multitask_tables(
        cells=cells,
        defense=snakemake.params.defense,
        defense_json=snakemake.input.defense,
        # The defense's `paper_dataset`, else the data set itself (mnist5k -> MNIST).
        paper_dataset=snakemake.params.paper_dataset or snakemake.wildcards.dataset,
        outputs=dict(outputs.items()),
    )
    run.log_metrics(headline_metrics(frames))
