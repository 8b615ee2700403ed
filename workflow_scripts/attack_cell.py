"""Snakemake entry: craft one cell's adversarial set, score it on its target (cells.job)."""

from pathlib import Path

from decoybench.cells.job import run_attack_cell
from decoybench.workflow import job

with job(snakemake, artifacts=("metrics",)) as run:
    run_attack_cell(
        dataset=snakemake.wildcards.dataset,
        setting=snakemake.wildcards.setting,
        kind=snakemake.params.kind,
        defense=snakemake.wildcards.defense,
        attack=snakemake.wildcards.attack,
        attack_config=snakemake.params.attack,
        model=snakemake.input.model,
        data_dir=Path(snakemake.input.manifest).parent,
        adversarial_set=snakemake.output.adversarial_set,
        out=snakemake.output.metrics,
        seed=run.seed, device=run.device,
        log_metrics=run.log_metrics, log_series=run.log_series,
        source_model=snakemake.input.get("source_model"),
        defense_path=snakemake.input.get("defense"),
        n_samples=snakemake.params.n_samples, batch_size=snakemake.params.batch_size,
        sanity_samples=snakemake.params.sanity_samples,
        progress=run.log_stream,
        setting_config=snakemake.params.setting,
    )
