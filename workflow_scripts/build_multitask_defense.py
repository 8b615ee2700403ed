"""Snakemake entry: grow and train the multi-task defense around the victim, write its
Classmap table (decoybench.defenses.multitask_build)."""

from pathlib import Path

from decoybench.defenses.multitask_build import build_multitask_defense, write_classmap_table
from decoybench.workflow import job

with job(snakemake, artifacts=("defense", "classmap_csv", "classmap_md")) as run:
    measurements = build_multitask_defense(
        oracle_path=snakemake.input.victim,
        data_dir=Path(snakemake.input.manifest).parent,
        settings=dict(snakemake.params.settings),
        out=snakemake.output.defense,
        device=run.device,
        seed=run.seed,
        progress=run.log_stream,
    )
    write_classmap_table(
        measurements["classmap"], snakemake.output.classmap_csv, snakemake.output.classmap_md
    )
    run.log_metrics(
        {
            "table6": measurements["table6"],
            "classmap_fgsm_success": measurements["classmap_fgsm_success"],
            "seconds": measurements["seconds"],
        }
    )
