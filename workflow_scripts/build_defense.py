"""Snakemake entry: build one defense around the victim (decoybench.defenses.build)."""

from pathlib import Path

from decoybench.defenses.build import build_attractor_defense
from decoybench.workflow import job

BUILDERS = {"attractor": build_attractor_defense}

with job(snakemake, artifacts=("defense",)) as run:
    measurements = BUILDERS[snakemake.wildcards.defense](
        victim_path=snakemake.input.victim,
        data_dir=Path(snakemake.input.manifest).parent,
        settings=snakemake.params.settings,
        out=snakemake.output.defense,
        device=run.device,
    )
    run.log_metrics(measurements)
