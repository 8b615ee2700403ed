"""Snakemake entry: attractors Fig. 5 and Fig. 7 measurements
(decoybench.papers.attractors.analysis)."""

from pathlib import Path

from decoybench.papers.attractors.analysis import measure_attractor_analysis
from decoybench.workflow import job

with job(snakemake, artifacts=("measurements",)) as run:
    analysis = snakemake.params.analysis
    n_samples = analysis.get("n_samples")  # null: every test image
    summary = measure_attractor_analysis(
        victim_path=snakemake.input.victim,
        defense_path=snakemake.input.defense,
        data_dir=Path(snakemake.input.manifest).parent,
        out=snakemake.output.measurements,
        device=run.device,
        n_samples=None if n_samples is None else int(n_samples),
        density_radius=float(analysis["density_radius"]),
        density_samples=int(analysis["density_samples"]),
        batch_size=int(analysis["batch_size"]),
        seed=run.seed,
        density=str(analysis.get("density", "soft")),
    )
    run.log_metrics(summary)
