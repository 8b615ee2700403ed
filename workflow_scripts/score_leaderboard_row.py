"""Snakemake entry: one defense's leaderboard row (decoybench.leaderboard.row)."""

from pathlib import Path

from decoybench.leaderboard.row import score_defense_row
from decoybench.workflow import job

inputs, params = snakemake.input, snakemake.params
# A named input given one file may come back as a plain string, not a list of one.
paths = [inputs.sets] if isinstance(inputs.sets, str) else list(inputs.sets)
with job(snakemake, artifacts=("row",)) as run:
    row = score_defense_row(
        defense=snakemake.wildcards.defense,
        victim=inputs.victim,
        defense_path=inputs.get("defense"),
        data_dir=Path(inputs.manifest).parent,
        sets=[{**entry, "path": path} for entry, path in zip(params.sets, paths, strict=True)],
        n_samples=params.n_samples,
        threat_models=params.threat_models,
        out=snakemake.output.row,
        device=run.device,
        batch_size=params.batch_size,
    )
    run.log_metrics({"worst_case": row["worst_case"], "gradient": row["gradient"]})
