"""The attractors paper (Zhang, Chang & Lee 2020): its tables, analyses and figures
(decoybench.papers.attractors)."""

from decoybench.papers.attractors import workflow as attractors


rule make_clean_accuracy_table:
    """Attractors paper Table II: clean accuracy of C and M, beside the paper's numbers."""
    input:
        defense="results/{dataset}/defenses/attractor/defense.json",
    output:
        csv=report(
            "results/{dataset}/tables/attractor_clean_accuracy.csv",
            category="Tables",
            caption="../report/attractor_clean_accuracy.rst",
        ),
        markdown="results/{dataset}/tables/attractor_clean_accuracy.md",
    log:
        "logs/make_clean_accuracy_table/{dataset}.log",
    benchmark:
        "benchmarks/make_clean_accuracy_table/{dataset}.tsv"
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/make_clean_accuracy_table.py"


rule analyze_attractors:
    """Attractors paper Sec. VI-C: output and gradient magnitudes of C and W (Fig. 5) and the
    cosine between the way to the nearest attractor and the attack gradient (Fig. 7)."""
    input:
        unpack(dataset_files),
        victim=lambda wildcards: model_files(wildcards.dataset, config["victim"])["weights"],
        sidecar=lambda wildcards: model_files(wildcards.dataset, config["victim"])["sidecar"],
        defense="results/{dataset}/defenses/attractor/defense.json",
    output:
        measurements="results/{dataset}/analysis/attractor.npz",
    log:
        "logs/analyze_attractors/{dataset}.log",
    benchmark:
        "benchmarks/analyze_attractors/{dataset}.tsv"
    params:
        analysis=config["evaluation"].get("attractor_analysis", {}),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/analyze_attractors.py"


rule analyze_trapdoor_counterexample:
    """Attractors paper Sec. IV-C and Fig. 6: the weighted-sum trapdoor model of Eq. 1 meets
    its training goals, yet its trapdoor branch carries almost none of the input gradient."""
    input:
        unpack(dataset_files),
        victim=lambda wildcards: model_files(wildcards.dataset, config["victim"])["weights"],
        sidecar=lambda wildcards: model_files(wildcards.dataset, config["victim"])["sidecar"],
    output:
        measurements="results/{dataset}/analysis/attractor_trapdoor_counterexample.npz",
    log:
        "logs/analyze_trapdoor_counterexample/{dataset}.log",
    benchmark:
        "benchmarks/analyze_trapdoor_counterexample/{dataset}.tsv"
    params:
        settings=config["evaluation"].get("trapdoor_counterexample", {"batch_size": 250}),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/analyze_trapdoor_counterexample.py"


rule make_attractor_tables:
    """Attractors paper Tables I, III (attractor columns), IV, V and VI from the cells, each
    beside the paper's numbers for the target's data set (mnist5k: MNIST; Table VI: CIFAR-10,
    the only one the paper gives)."""
    input:
        cells=cell_metrics,
        defense="results/{dataset}/defenses/attractor/defense.json",
        analysis="results/{dataset}/analysis/attractor.npz",
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
            for name in attractors.TABLES
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


rule plot_attractor_figures:
    """Attractors paper Figures 5 (strength of C vs W) and 7 (cosines to the nearest attractor)."""
    input:
        measurements="results/{dataset}/analysis/attractor.npz",
    output:
        figure5_png=report(
            "results/{dataset}/figures/attractor_strength.png",
            category="Attractors",
            caption="../report/attractor_strength.rst",
        ),
        figure5_pdf="results/{dataset}/figures/attractor_strength.pdf",
        figure7_png=report(
            "results/{dataset}/figures/attractor_cosines.png",
            category="Attractors",
            caption="../report/attractor_cosines.rst",
        ),
        figure7_pdf="results/{dataset}/figures/attractor_cosines.pdf",
    log:
        "logs/plot_attractor_figures/{dataset}.log",
    benchmark:
        "benchmarks/plot_attractor_figures/{dataset}.tsv"
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/plot_attractor_figures.py"


rule plot_trapdoor_counterexample:
    """Attractors paper Figure 6: output and gradient magnitudes of the trapdoor model's two
    branches on clean inputs."""
    input:
        measurements="results/{dataset}/analysis/attractor_trapdoor_counterexample.npz",
    output:
        png=report(
            "results/{dataset}/figures/attractor_trapdoor.png",
            category="Attractors",
            caption="../report/attractor_trapdoor.rst",
        ),
        pdf="results/{dataset}/figures/attractor_trapdoor.pdf",
    log:
        "logs/plot_trapdoor_counterexample/{dataset}.log",
    benchmark:
        "benchmarks/plot_trapdoor_counterexample/{dataset}.tsv"
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/plot_trapdoor_counterexample.py"
