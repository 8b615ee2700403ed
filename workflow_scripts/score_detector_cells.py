"""Snakemake entry: score the white-box adversarial sets of the undefended victim with one
detection-only baseline (LID, Feature Squeezing, MagNet), one cell per set, in one job
(decoybench.cells.score). The deployed system is loaded once per setting kind, so
the detector scores the clean test split once for all cells."""

from pathlib import Path

from decoybench.cells.deployment import load_system
from decoybench.cells.score import evaluate_adversarial_set
from decoybench.data import read_manifest
from decoybench.workflow import job

with job(snakemake, artifacts=()) as run:
    inputs, params = snakemake.input, snakemake.params
    data_dir = Path(inputs.manifest).parent
    data_sha256 = read_manifest(data_dir)["fingerprint"]
    systems = {
        kind: load_system(
            model_path=inputs.victim,
            defense=params.defense,
            kind=kind,
            device=run.device,
            data_sha256=data_sha256,
            defense_path=inputs.defense,
        )
        for kind in sorted({cell["kind"] for cell in params.cells})
    }
    cells = zip(params.cells, inputs.adversarial_sets, snakemake.output.metrics, strict=True)
    for cell, adversarial_set, out in cells:
        metrics = evaluate_adversarial_set(
            adversarial_set=adversarial_set,
            target_model=inputs.victim,
            data_dir=data_dir,
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
            system=systems[cell["kind"]],
        )
        for point in metrics["forensic"]["operating_points"]:
            run.log_metrics({f"{cell['attack']}.fpr_{point['fpr_target']:g}": point})
