"""Snakemake entry: build one dataset's canonical store (decoybench.data.prepare_dataset)."""

from pathlib import Path

from decoybench.data import prepare_dataset
from decoybench.workflow import job

with job(snakemake, artifacts=("manifest",)) as run:
    manifest = prepare_dataset(
        snakemake.wildcards.dataset,
        snakemake.params.settings,
        seed=run.seed,
        out_dir=Path(snakemake.output.manifest).parent,
        raw_root=snakemake.params.raw_root,
    )
    run.set_tags({"data_sha256": manifest["fingerprint"]})
    run.log_metrics({f"{split}_size": entry["size"] for split, entry in manifest["splits"].items()})
