"""Snakemake entry: heat map of the overall attack success rate per attack and detector
(attractor, LID, FS, MagNet, Trapdoor), one panel per FPR target (figures.baselines).

input:  cells          the forensic cells of the attractor and the baseline detectors and the
                       whitebox/undefended cells (other cells are ignored)
output: png, pdf       the figure
params: paper_dataset  paper data set ("mnist", "cifar10") or None
        defenses       {column group: defense name}, groups among attractor, lid,
                       feature_squeezing, magnet, trapdoor
"""

from decoybench.papers.baselines.figures import plot_baseline_comparison
from decoybench.workflow import job

cells = snakemake.input.cells
# A named input given one file may come back as a plain string, not a list of one.
cells = [cells] if isinstance(cells, str) else list(cells)
defenses = snakemake.params.defenses
dataset = snakemake.wildcards.get("dataset")
with job(snakemake, artifacts=("png", "pdf")):
    plot_baseline_comparison(
        cells,
        snakemake.output.png,
        snakemake.output.pdf,
        paper_dataset=snakemake.params.paper_dataset,
        defenses=None if defenses is None else dict(defenses),
        title=f"{dataset}: overall attack success rate against each detector (lower is better)"
        if dataset
        else None,
    )
