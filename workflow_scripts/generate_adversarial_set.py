"""Snakemake entry: craft one adversarial set (decoybench.attacks.generate)."""

from pathlib import Path

from decoybench.attacks.generate import generate_adversarial_set
from decoybench.workflow import job

with job(snakemake) as run:
    wildcards = snakemake.wildcards
    summary = generate_adversarial_set(
        model_path=snakemake.input.model,
        data_dir=Path(snakemake.input.manifest).parent,
        attack_config=snakemake.params.attack,
        out=snakemake.output.adversarial_set,
        seed=run.seed,
        seed_names=(wildcards.dataset, wildcards.setting, wildcards.defense, wildcards.attack),
        device=run.device,
        n_samples=snakemake.params.n_samples,
        batch_size=snakemake.params.batch_size,
        sanity_samples=snakemake.params.sanity_samples,
        progress=run.log_stream,
        defense=wildcards.defense,
        kind=snakemake.params.kind,
        defense_path=snakemake.input.get("defense"),
    )
    run.log_metrics(summary)
