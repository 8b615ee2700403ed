"""Snakemake entry: attractors Tables I, III-VI and claim checks (evaluation.attractor_tables)."""

from decoybench.papers.attractors.tables import write_attractor_tables
from decoybench.workflow import job

outputs = snakemake.output
# Output keys are <table>_csv and <table>_md (a Namedlist iterates over paths, not keys).
names = sorted({key.rsplit("_", 1)[0] for key in outputs.keys()})  # noqa: SIM118
with job(snakemake, artifacts=tuple(outputs.keys())) as run:
    rows = write_attractor_tables(
        snakemake.input.cells,
        snakemake.wildcards.dataset,
        {name: (outputs[f"{name}_csv"], outputs[f"{name}_md"]) for name in names},
        defense_json=snakemake.input.defense,
        analysis=snakemake.input.analysis,
    )
    run.log_metrics({f"rows.{name}": count for name, count in rows.items()})
