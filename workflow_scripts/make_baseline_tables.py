"""Snakemake entry: the baseline detectors beside the decoy defenses, the attractors paper's
Table III and the luring paper's Table 20 (evaluation.baseline_tables).

input:  cells             every forensic cell of the attractor and the baseline detectors,
                          the whitebox/undefended cells, and the transfer cells of the
                          luring and the trapdoor defense (other cells are ignored)
output: comparison_csv, comparison_md   Table III
        luring_csv, luring_md           Table 20
params: paper_dataset     paper data set whose numbers are printed ("mnist", "cifar10") or None
        defenses          {column group: defense name}, groups among attractor, lid,
                          feature_squeezing, magnet, trapdoor (unconfigured ones left out)
        luring_defense    the luring defense of Table 20, or None
        trapdoor_defense  the trapdoor defense of Table 20, or None
"""

from decoybench.papers.baselines.tables import write_baseline_tables
from decoybench.workflow import job

tables = {key: path for key, path in snakemake.output.items() if key.endswith(("_csv", "_md"))}
params = snakemake.params
with job(snakemake, artifacts=tuple(tables)) as run:
    metrics = write_baseline_tables(
        snakemake.input.cells,  # one path alone or several (write_baseline_tables reads either)
        tables,
        paper_dataset=params.paper_dataset,
        defenses=params.defenses,
        luring_defense=params.luring_defense,
        trapdoor_defense=params.trapdoor_defense,
    )
    run.log_metrics(metrics)
