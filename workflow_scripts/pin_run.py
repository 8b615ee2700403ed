"""Snakemake entry: pin a finished run's data and checkpoints in DVC (decoybench.pinning)."""

from pathlib import Path

from decoybench.pinning import pin_run
from decoybench.workflow import job

with job(snakemake) as run:
    manifest, pins = pin_run(Path.cwd(), snakemake.params.datasets, snakemake.params.remote)
    pinned = [path.relative_to(Path.cwd()).as_posix() for path in pins]
    run.log_metrics({"pinned_folders": len(pinned)})
    run.set_tags({"pins": " ".join(pinned)})
    print(
        "pinned; commit and tag the pin:\n"
        f"  git add {manifest.name} {' '.join(pinned)}\n"
        "  git commit -m 'Pin <run>' && git tag <tag>\n"
        "and reproduce it anywhere with:\n"
        "  git checkout <tag> && dvc pull && snakemake --cores all",
        file=run.log_stream,
    )
