"""Snakemake entry: one paper's reproduction report (decoybench.fidelity.report)."""

from pathlib import Path

import pandas as pd

from decoybench.fidelity.report import load_point, reproduction_report
from decoybench.verdicts import verdict_metrics
from decoybench.workflow import job

settings, inputs = snakemake.params.settings, snakemake.input
with job(snakemake, artifacts=("report",)) as run:
    points = [load_point(Path(path).parent, settings["tables"]) for path in inputs.points]
    frame = reproduction_report(
        paper=snakemake.wildcards.paper,
        title=settings["title"],
        default_claims=pd.concat([pd.read_csv(path) for path in inputs.default]),
        points=points,
        figure_dir=snakemake.params.figure_dir,
        out=snakemake.output.report,
        sweeps=settings["sweeps"],
    )
    counts = frame["diagnosis"].value_counts()
    run.log_metrics({f"diagnosis.{name}": float(count) for name, count in counts.items()})
    run.log_metrics(verdict_metrics(frame["key"], frame["verdict"]))
