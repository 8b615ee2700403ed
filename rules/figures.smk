"""Figures built from the tables."""


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
