"""Snakemake entry: score the white-box adversarial sets of the undefended victim with one
detection-only baseline (LID, Feature Squeezing, MagNet), one cell per set, in one job
(decoybench.cells.job.score_detection_only_cells: the system loaded once per setting kind,
so the detector scores the clean test split once for all cells)."""

from pathlib import Path

from decoybench.cells.job import score_detection_only_cells
from decoybench.workflow import job

with job(snakemake, artifacts=()) as run:
    inputs, params = snakemake.input, snakemake.params
    score_detection_only_cells(
        dataset=snakemake.wildcards.dataset,
        defense=params.defense,
        cells=params.cells,
        adversarial_sets=inputs.adversarial_sets,
        outs=snakemake.output.metrics,
        victim=inputs.victim,
        defense_path=inputs.defense,
        data_dir=Path(inputs.manifest).parent,
        device=run.device,
        log_metrics=run.log_metrics,
    )
