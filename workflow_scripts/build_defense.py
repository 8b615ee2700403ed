"""Snakemake entry: build one defense around the victim with its registered type's builder
(decoybench.defense_registry)."""

from pathlib import Path

from decoybench.defense_registry import type_of
from decoybench.defenses.system import BuildJob
from decoybench.workflow import job

entry = type_of(snakemake.wildcards.defense)
with job(snakemake, artifacts=entry.artifacts) as run:
    measurements = entry.build_function()(
        BuildJob(
            defense=snakemake.wildcards.defense,
            victim_path=Path(snakemake.input.victim),
            data_dir=Path(snakemake.input.manifest).parent,
            settings=dict(snakemake.params.settings),
            outputs=dict(snakemake.output.items()),
            device=run.device,
            seed=run.seed,
            attacks=dict(snakemake.params.attacks),
            progress=run.log_stream,
        )
    )
    run.log_metrics(measurements)
