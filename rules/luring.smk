"""The luring paper (Bernhard, Moellic & Dutertre 2021): its analysis, tables and figures
(decoybench.papers.luring)."""

from decoybench.papers.luring import workflow as luring


rule analyze_luring:
    """Luring Appendix D.3 and Fig. 3 (right): Ω_c of Eq. 5 between M and each M∘P on test
    images every model classifies right, and saliency maps of M and of each P."""
    input:
        unpack(dataset_files),
        victim=lambda wildcards: model_files(wildcards.dataset, config["victim"])["weights"],
        sidecar=lambda wildcards: model_files(wildcards.dataset, config["victim"])["sidecar"],
        defenses=lambda wildcards: luring.defense_files(config, wildcards.dataset),
        components=lambda wildcards: [
            path.replace(".json", ".safetensors") for path in luring.defense_files(config, wildcards.dataset)
        ],
    output:
        measurements="results/{dataset}/analysis/luring.npz",
    log:
        "logs/analyze_luring/{dataset}.log",
    benchmark:
        "benchmarks/analyze_luring/{dataset}.tsv"
    params:
        defenses=luring.defenses(config),
        analysis=config["evaluation"].get("luring_analysis", {}),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/analyze_luring.py"


rule make_luring_tables:
    """Luring paper Tables 8, 1/14 (AC_MoP, AC_M, DAC; MIM-W the worst case), 9 and 10, the
    data of Figure 2 (DR, IAR over the examples that fool all four M∘P) and the claim
    checks, each beside the paper's numbers."""
    input:
        cells=cell_metrics,
        defenses=lambda wildcards: luring.defense_files(config, wildcards.dataset),
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
            for name in luring.TABLES
            for extension in ("csv", "md")
        },
    log:
        "logs/make_luring_tables/{dataset}.log",
    benchmark:
        "benchmarks/make_luring_tables/{dataset}.tsv"
    params:
        defenses=luring.defenses(config),
        paper_dataset=luring.paper_dataset(config),
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/make_luring_tables.py"


rule plot_luring_figures:
    """Luring paper Figure 2 (DR and IAR against ε) and Figure 3 (L0 distortion of the
    attacks on each M∘P; saliency maps of M and of each P)."""
    input:
        characterization="results/{dataset}/tables/luring_characterization.csv",
        distortion="results/{dataset}/tables/luring_distortion.csv",
        measurements="results/{dataset}/analysis/luring.npz",
    output:
        **{
            f"{key}_{extension}": (
                report(
                    f"results/{{dataset}}/figures/{name}.png",
                    category="Luring",
                    caption=f"../report/{caption}.rst",
                )
                if extension == "png"
                else f"results/{{dataset}}/figures/{name}.pdf"
            )
            for key, name, caption in (
                ("rates", "luring_rates", "luring_rates"),
                ("distortion", "luring_distortion", "luring_distortion_figure"),
                ("saliency", "luring_saliency", "luring_saliency"),
            )
            for extension in ("png", "pdf")
        },
    log:
        "logs/plot_luring_figures/{dataset}.log",
    benchmark:
        "benchmarks/plot_luring_figures/{dataset}.tsv"
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/plot_luring_figures.py"
