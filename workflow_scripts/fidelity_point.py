"""Snakemake entry: one fidelity sweep point, a nested run of the workflow (decoybench.fidelity)."""

from pathlib import Path

from decoybench.fidelity.points import SweepPoint
from decoybench.fidelity.run import run_point
from decoybench.tracking import resolve_tracking_uri
from decoybench.workflow import job

params, out = snakemake.params, Path(snakemake.output.point)
with job(snakemake) as run:
    record = run_point(
        point=SweepPoint(**params.point),
        dataset=snakemake.wildcards.dataset,
        base_config=snakemake.input.base,
        tables=list(params.tables),
        workdir=params.workdir,
        out_dir=out.parent,
        cores=snakemake.threads,
        repo_root=Path(snakemake.scriptdir).parent,
        tracking_uri=resolve_tracking_uri((run.config.get("mlflow") or {}).get("tracking_uri")),
        log=run.log_stream,
    )
    run.log_metrics({"point.index": float(record["index"])})
