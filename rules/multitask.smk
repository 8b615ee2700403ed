"""The multi-task paper (Wang et al. 2019): its tables and figures (decoybench.papers.multitask)."""

from decoybench.papers.multitask import workflow as multitask


rule make_multitask_tables:
    """Multitask paper Tables III (black-box accuracy), IV (grey-box detection), V
    (near-white-box generation rate), VI (benign accuracy, mis-detection), the Classmap, the
    data of Figures 3-5 (C&W over κ) and the claim checks, each beside the paper's numbers."""
    input:
        cells=lambda wildcards: multitask.cell_metrics(config, wildcards.dataset),
        defense=lambda wildcards: defense_file(wildcards.dataset, multitask.defense(config)),
    output:
        **{
            f"{name}_{extension}": (
                report(
                    f"results/{{dataset}}/tables/{name}.csv",
                    category="Multitask",
                    caption=f"../report/{name}.rst",
                )
                if extension == "csv"
                else f"results/{{dataset}}/tables/{name}.md"
            )
            for name in multitask.TABLES
            for extension in ("csv", "md")
        },
    log:
        "logs/make_multitask_tables/{dataset}.log",
    benchmark:
        "benchmarks/make_multitask_tables/{dataset}.tsv"
    params:
        defense=multitask.defense(config),
        paper_dataset=multitask.paper_dataset(config),
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/make_multitask_tables.py"


rule plot_multitask_figures:
    """Multitask paper Figure 3 (transferred C&W success over κ), Figures 4 and 5 (detection
    precision and recall over κ, black-box and grey-box) and Figure 6 (Classmap heat maps)."""
    input:
        sweep="results/{dataset}/tables/multitask_cw_sweep.csv",
        cells=lambda wildcards: multitask.cell_metrics(config, wildcards.dataset),
        defense=lambda wildcards: defense_file(wildcards.dataset, multitask.defense(config)),
    output:
        **{
            f"{key}_{extension}": (
                report(
                    f"results/{{dataset}}/figures/{name}.png",
                    category="Multitask",
                    caption=f"../report/{name}.rst",
                )
                if extension == "png"
                else f"results/{{dataset}}/figures/{name}.pdf"
            )
            for key, name in (
                ("cw_transfer", "multitask_cw_transfer"),
                ("cw_detection", "multitask_cw_detection"),
                ("classmaps", "multitask_classmaps"),
            )
            for extension in ("png", "pdf")
        },
    log:
        "logs/plot_multitask_figures/{dataset}.log",
    benchmark:
        "benchmarks/plot_multitask_figures/{dataset}.tsv"
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/plot_multitask_figures.py"
