"""Snakemake entry: craft one cell's adversarial set and evaluate it on the cell's target
(decoybench.cells.craft, decoybench.cells.score)."""

from pathlib import Path

from decoybench.cells.craft import generate_adversarial_set
from decoybench.cells.score import evaluate_adversarial_set
from decoybench.workflow import job

with job(snakemake, artifacts=("metrics",)) as run:
    wildcards, inputs = snakemake.wildcards, snakemake.input
    data_dir = Path(inputs.manifest).parent
    crafted_on_source = inputs.get("source_model") is not None
    summary = generate_adversarial_set(
        model_path=inputs.source_model if crafted_on_source else inputs.model,
        data_dir=data_dir,
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
        defense_path=None if crafted_on_source else inputs.get("defense"),
    )
    run.log_metrics({"crafting": summary})
    metrics = evaluate_adversarial_set(
        adversarial_set=snakemake.output.adversarial_set,
        target_model=inputs.model,
        data_dir=data_dir,
        cell={
            "dataset": wildcards.dataset,
            "setting": wildcards.setting,
            "kind": snakemake.params.kind,
            "defense": wildcards.defense,
            "attack": wildcards.attack,
            "attack_config": snakemake.params.attack,
        },
        out=snakemake.output.metrics,
        device=run.device,
        defense_path=inputs.get("defense"),
    )
    run.log_metrics({"rates": metrics["rates"], "distortion": metrics["distortion"]})
    for point in metrics.get("forensic", {}).get("operating_points", []):
        run.log_metrics({f"forensic.fpr_{point['fpr_target']:g}": point})
    if "luring" in metrics:
        run.log_metrics({"luring": metrics["luring"]["rates"]})
    if "multitask" in metrics:
        run.log_metrics({"multitask": metrics["multitask"]["rates"]})
