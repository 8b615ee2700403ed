"""Snakemake entry: one defense's ε sweep (decoybench.leaderboard.sweep)."""

from pathlib import Path

from decoybench.leaderboard.sweep import saturation, sweep_defense
from decoybench.workflow import job

inputs, sweep = snakemake.input, snakemake.params.sweep
with job(snakemake, artifacts=("sweep",)) as run:
    result = sweep_defense(
        defense=snakemake.wildcards.defense,
        victim=inputs.victim,
        defense_path=inputs.get("defense"),
        data_dir=Path(inputs.manifest).parent,
        attack_config=sweep["attack_config"],
        epsilons=sweep["epsilons"],
        n_samples=sweep["n_samples"],
        seed=run.seed,
        out=snakemake.output.sweep,
        device=run.device,
        batch_size=snakemake.params.batch_size,
    )
    run.log_metrics({"saturation": saturation(result)})
