"""Snakemake entry: the leaderboard tables (decoybench.leaderboard.tables)."""

from decoybench.leaderboard.tables import write_leaderboard_tables
from decoybench.workflow import job

# A named input given one file may come back as a plain string, not a list of one.
rows, sweeps = (
    [files] if isinstance(files, str) else list(files)
    for files in (snakemake.input.rows, snakemake.input.sweeps)
)
with job(snakemake, artifacts=("leaderboard_csv", "leaderboard_md")) as run:
    frames = write_leaderboard_tables(
        rows=rows,
        sweeps=sweeps,
        fprs=snakemake.params.fprs,
        outputs=dict(snakemake.output.items()),
    )
    board = frames["leaderboard"].set_index("defense")
    rates = [column for column in board if f"{column}_total" in board]
    run.log_metrics({"defenses": len(board), "leaderboard": board[rates].to_dict("index")})
