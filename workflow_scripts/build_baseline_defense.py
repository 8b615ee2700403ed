"""Snakemake entry: build one baseline detector around the victim and calibrate it
(decoybench.defenses.baseline_build)."""

from pathlib import Path

from decoybench.defenses.baseline_build import build_baseline_defense
from decoybench.workflow import job

with job(snakemake, artifacts=("defense",)) as run:
    measurements = build_baseline_defense(
        baseline=snakemake.params.baseline,
        victim_path=snakemake.input.victim,
        data_dir=Path(snakemake.input.manifest).parent,
        settings=dict(snakemake.params.settings),
        out=snakemake.output.defense,
        device=run.device,
        seed=run.seed,
        attacks=dict(snakemake.params.attacks),
        progress=run.log_stream,
    )
    run.log_metrics(measurements)
