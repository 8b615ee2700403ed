"""Evaluation of adversarial sets on their targets, and the tables built from the cells."""


rule evaluate_attack:
    """Metrics of one cell: the adversarial set evaluated on the defended model."""
    input:
        unpack(dataset_files),
        unpack(target_inputs),
        adversarial_set="results/{dataset}/adv/{setting}/{defense}/{attack}.npz",
    output:
        metrics="results/{dataset}/eval/{setting}/{defense}/{attack}.json",
    log:
        "logs/evaluate_attack/{dataset}/{setting}/{defense}/{attack}.log",
    benchmark:
        "benchmarks/evaluate_attack/{dataset}/{setting}/{defense}/{attack}.tsv"
    params:
        attack=lambda wildcards: config["attacks"][wildcards.attack],
        setting=lambda wildcards: config["settings"][wildcards.setting],
    threads: 1
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/evaluate_attack.py"


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
    beside the paper's MNIST numbers (Table VI: CIFAR-10, the only one the paper gives)."""
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
