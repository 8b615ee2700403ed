"""Snakemake entry: evaluate one adversarial set on its target (decoybench.evaluation.transfer)."""

from pathlib import Path

from decoybench.evaluation.transfer import evaluate_adversarial_set
from decoybench.workflow import job

with job(snakemake, artifacts=("metrics",)) as run:
    wildcards = snakemake.wildcards
    metrics = evaluate_adversarial_set(
        adversarial_set=snakemake.input.adversarial_set,
        target_model=snakemake.input.model,
        data_dir=Path(snakemake.input.manifest).parent,
        cell={
            "dataset": wildcards.dataset,
            "setting": wildcards.setting,
            "kind": snakemake.params.setting["kind"],
            "defense": wildcards.defense,
            "attack": wildcards.attack,
            "attack_config": snakemake.params.attack,
        },
        out=snakemake.output.metrics,
        device=run.device,
        defense_path=snakemake.input.get("defense"),
    )
    run.log_metrics({"rates": metrics["rates"], "distortion": metrics["distortion"]})
    for point in metrics.get("forensic", {}).get("operating_points", []):
        run.log_metrics({f"forensic.fpr_{point['fpr_target']:g}": point})
