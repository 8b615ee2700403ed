"""Snakemake entry: score the white-box adversarial sets of the undefended victim with one
detection-only baseline (LID, Feature Squeezing, MagNet), one cell per set, in one job
(decoybench.evaluation.transfer)."""

from pathlib import Path

from decoybench.evaluation.transfer import evaluate_adversarial_set
from decoybench.workflow import job

with job(snakemake, artifacts=()) as run:
    inputs, params = snakemake.input, snakemake.params
    adversarial_sets = list(inputs.adversarial_sets)
    outputs = list(snakemake.output.metrics)
    for cell, adversarial_set, out in zip(params.cells, adversarial_sets, outputs, strict=True):
        metrics = evaluate_adversarial_set(
            adversarial_set=adversarial_set,
            target_model=inputs.victim,
            data_dir=Path(inputs.manifest).parent,
            cell={
                "dataset": snakemake.wildcards.dataset,
                "setting": cell["setting"],
                "kind": cell["kind"],
                "defense": params.defense,
                "attack": cell["attack"],
                "attack_config": cell["attack_config"],
                "adversarial_set": adversarial_set,
            },
            out=out,
            device=run.device,
            defense_path=inputs.defense,
        )
        for point in metrics["forensic"]["operating_points"]:
            run.log_metrics({f"{cell['attack']}.fpr_{point['fpr_target']:g}": point})
