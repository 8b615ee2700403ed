"""Tables built from the cells' metrics (rules/attacks.smk crafts and scores each cell)."""


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


rule make_attractor_tables:
    """Attractors paper Tables I, III (attractor columns), IV, V and VI from the cells, each
    beside the paper's numbers for the target's data set (mnist5k: MNIST; Table VI: CIFAR-10,
    the only one the paper gives)."""
    input:
        cells=cell_metrics,
        defense="results/{dataset}/defenses/attractor/defense.json",
    output:
        **{
            f"{name}_{extension}": (
                report(
                    f"results/{{dataset}}/tables/{name}.csv",
                    category="Attractors",
                    caption=f"../report/{name}.rst",
                )
                if extension == "csv"
                else f"results/{{dataset}}/tables/{name}.md"
            )
            for name in ATTRACTOR_TABLES
            if name != "attractor_clean_accuracy"
            for extension in ("csv", "md")
        },
    log:
        "logs/make_attractor_tables/{dataset}.log",
    benchmark:
        "benchmarks/make_attractor_tables/{dataset}.tsv"
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/make_attractor_tables.py"


rule make_luring_tables:
    """Luring paper Tables 8, 1/14 (AC_MoP, AC_M, DAC; MIM-W the worst case), 9 and 10, the
    data of Figure 2 (DR, IAR over the examples that fool all four M∘P) and the claim
    checks, each beside the paper's numbers."""
    input:
        cells=cell_metrics,
        defenses=luring_defense_files,
        analysis="results/{dataset}/analysis/luring.npz",
    output:
        **{
            f"{name}_{extension}": (
                report(
                    f"results/{{dataset}}/tables/{name}.csv",
                    category="Luring",
                    caption=f"../report/{name}.rst",
                )
                if extension == "csv"
                else f"results/{{dataset}}/tables/{name}.md"
            )
            for name in LURING_TABLES
            for extension in ("csv", "md")
        },
    log:
        "logs/make_luring_tables/{dataset}.log",
    benchmark:
        "benchmarks/make_luring_tables/{dataset}.tsv"
    params:
        defenses=luring_defenses(),
        paper_dataset=luring_paper_dataset() if luring_defenses() else None,
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/make_luring_tables.py"


rule make_multitask_tables:
    """Multitask paper Tables III (black-box accuracy), IV (grey-box detection), V
    (near-white-box generation rate), VI (benign accuracy, mis-detection), the Classmap, the
    data of Figures 3-5 (C&W over κ) and the claim checks, each beside the paper's numbers."""
    input:
        cells=multitask_cell_metrics,
        defense=lambda wildcards: defense_file(wildcards.dataset, multitask_defense()),
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
            for name in MULTITASK_TABLES
            for extension in ("csv", "md")
        },
    log:
        "logs/make_multitask_tables/{dataset}.log",
    benchmark:
        "benchmarks/make_multitask_tables/{dataset}.tsv"
    params:
        defense=multitask_defense(),
        paper_dataset=multitask_paper_dataset(),
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/make_multitask_tables.py"
