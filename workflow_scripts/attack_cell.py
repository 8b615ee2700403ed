"""Snakemake entry: craft one cell's adversarial set, score it on its target (cells.job)."""

from pathlib import Path

from decoybench.cells.job import run_attack_cell
from decoybench.workflow import job

with job(snakemake, artifacts=("metrics",)) as run:
    wildcards, inputs, params = snakemake.wildcards, snakemake.input, snakemake.params
    run_attack_cell(
        dataset=wildcards.dataset,
        setting=wildcards.setting,
        kind=params.kind,
        defense=wildcards.defense,
        attack=wildcards.attack,
        attack_config=params.attack,
        model=inputs.model,
        data_dir=Path(inputs.manifest).parent,
        adversarial_set=snakemake.output.adversarial_set,
        out=snakemake.output.metrics,
        seed=run.seed,
        device=run.device,
        log_metrics=run.log_metrics,
        log_series=run.log_series,
        source_model=inputs.get("source_model"),
        defense_path=inputs.get("defense"),
        n_samples=params.n_samples,
        batch_size=params.batch_size,
        sanity_samples=params.sanity_samples,
        progress=run.log_stream,
    )
