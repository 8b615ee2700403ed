"""Snakemake entry: pin a finished run's data and checkpoints in DVC (decoybench.pinning)."""

from pathlib import Path

from decoybench.pinning import pin_instructions, pin_run
from decoybench.workflow import job

with job(snakemake) as run:
    pin = pin_run(
        Path.cwd(),
        snakemake.params.datasets,
        snakemake.params.remote,
        adversarial_sets=snakemake.params.adversarial_sets,
    )
    pinned, message = pin_instructions(pin, Path.cwd())
    run.log_metrics({"pinned_folders": len(pinned), "pinned_files": pin.files})
    run.set_tags({"pins": " ".join(pinned)})
    print(message, file=run.log_stream)
