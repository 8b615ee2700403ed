"""Snakemake entry: pin a finished run's data and checkpoints in DVC (decoybench.pinning)."""

from pathlib import Path

from decoybench.pinning import pin_run
from decoybench.workflow import job

with job(snakemake) as run:
    pin = pin_run(
        Path.cwd(),
        snakemake.params.datasets,
        snakemake.params.remote,
        adversarial_sets=snakemake.params.adversarial_sets,
    )
    pinned, unpinned = (
        [path.relative_to(Path.cwd()).as_posix() for path in paths]
        for paths in (pin.dvc_files, pin.unpinned)
    )
    run.log_metrics({"pinned_folders": len(pinned), "pinned_files": pin.files})
    run.set_tags({"pins": " ".join(pinned)})
    commands = [f"git add {pin.manifest.name} {' '.join(pinned)}"]
    if unpinned:
        commands.append(f"git rm -q --cached --ignore-unmatch {' '.join(unpinned)}")
    commands.append("git commit -m 'Pin <run>' && git tag <tag>")
    print(
        "pinned; commit and tag the pin:\n"
        + "".join(f"  {command}\n" for command in commands)
        + "and reproduce it anywhere with:\n"
        "  git checkout <tag> && dvc pull && snakemake --cores all",
        file=run.log_stream,
    )
