"""Snakemake entry: trapdoor counter-example Fig. 6 measurements and Sec. IV-C training goals
(decoybench.papers.attractors.counterexample_analysis)."""

from pathlib import Path

from decoybench.papers.attractors.counterexample_analysis import measure_trapdoor_counterexample
from decoybench.workflow import job

with job(snakemake, artifacts=("measurements",)) as run:
    settings = dict(snakemake.params.settings)
    n_samples = settings.pop("n_samples", None)  # null: every test image
    batch_size = int(settings.pop("batch_size"))
    summary = measure_trapdoor_counterexample(
        victim_path=snakemake.input.victim,
        data_dir=Path(snakemake.input.manifest).parent,
        out=snakemake.output.measurements,
        device=run.device,
        n_samples=None if n_samples is None else int(n_samples),
        batch_size=batch_size,
        seed=run.seed,
        settings=settings,  # model constants; absent ones keep the TrapdoorConfig defaults
    )
    run.log_metrics(summary)
