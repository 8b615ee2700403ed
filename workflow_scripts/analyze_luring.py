"""Snakemake entry: luring Appendix D.3 (Eq. 5) and Fig. 3 (right) measurements
(decoybench.papers.luring.analysis)."""

from pathlib import Path

from decoybench.papers.luring.analysis import analyze_luring
from decoybench.workflow import job

with job(snakemake) as run:
    summary = analyze_luring(
        victim_path=snakemake.input.victim,
        defense_paths=dict(zip(snakemake.params.defenses, snakemake.input.defenses, strict=True)),
        data_dir=Path(snakemake.input.manifest).parent,
        out=snakemake.output.measurements,
        device=run.device,
        **snakemake.params.analysis,
    )
    run.log_metrics(summary)
