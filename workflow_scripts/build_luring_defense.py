"""Snakemake entry: train one luring component P in front of the victim
(decoybench.defenses.luring_build)."""

from pathlib import Path

from decoybench.defenses.luring_build import build_luring_defense
from decoybench.workflow import job

with job(snakemake, artifacts=("defense",)) as run:
    settings = dict(snakemake.params.settings)
    approach = settings.pop("approach")
    measurements = build_luring_defense(
        target_path=snakemake.input.victim,
        data_dir=Path(snakemake.input.manifest).parent,
        approach=approach,
        settings=settings,
        out=snakemake.output.defense,
        device=run.device,
        seed=run.seed,
        progress=run.log_stream,
    )
    run.log_metrics({key: measurements[key] for key in measurements if key != "history"})
