"""Snakemake entry: the leaderboard tables (decoybench.leaderboard.tables)."""

from decoybench.leaderboard.tables import write_leaderboard_tables
from decoybench.workflow import job

# A named input given one file may come back as a plain string, not a list of one.
rows = snakemake.input.rows
rows = [rows] if isinstance(rows, str) else list(rows)
with job(snakemake, artifacts=("leaderboard_csv", "leaderboard_md")) as run:
    frames = write_leaderboard_tables(
        rows=rows, fprs=snakemake.params.fprs, outputs=dict(snakemake.output.items())
    )
    run.log_metrics({"defenses": len(frames["leaderboard"])})
