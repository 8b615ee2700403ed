"""The cross-paper summary: attack success on every crafting cell, as a table and a figure
(decoybench.tables.summary, decoybench.figures.attack_success)."""


rule make_attack_table:
    """Attack success per setting x defense x attack, with intervals and distortions."""
    input:
        cells=cell_metrics,
    output:
        csv=report(
            "results/{dataset}/tables/attack_success.csv",
            category="Tables",
            caption="../report/attack_success_table.rst",
        ),
        markdown="results/{dataset}/tables/attack_success.md",
    log:
        "logs/make_attack_table/{dataset}.log",
    benchmark:
        "benchmarks/make_attack_table/{dataset}.tsv"
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/make_attack_table.py"


rule plot_attack_success:
    """Target ASR per attack and setting, with the crafting model's ASR for reference."""
    input:
        table="results/{dataset}/tables/attack_success.csv",
    output:
        png=report(
            "results/{dataset}/figures/attack_success.png",
            category="Figures",
            caption="../report/attack_success_figure.rst",
        ),
        pdf="results/{dataset}/figures/attack_success.pdf",
    log:
        "logs/plot_attack_success/{dataset}.log",
    benchmark:
        "benchmarks/plot_attack_success/{dataset}.tsv"
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/plot_attack_success.py"
