"""Snakemake entry: train one model (decoybench.models.training.train_and_save)."""

from pathlib import Path

from decoybench.models.training import train_and_save
from decoybench.workflow import job

with job(snakemake, artifacts=("sidecar",)) as run:
    sidecar = train_and_save(
        model_name=snakemake.wildcards.model,
        model_config=snakemake.params.model,
        dataset=snakemake.wildcards.dataset,
        data_dir=Path(snakemake.input.manifest).parent,
        out=snakemake.output.weights,
        seed=run.seed,
        device=run.device,
        progress=run.log_stream,
    )
    run.log_metrics({key: sidecar[key] for key in ("test_accuracy", "val_accuracy", "parameters")})
    for epoch in sidecar["history"]:
        run.log_metrics({f"epoch_{epoch['epoch']}": epoch})
