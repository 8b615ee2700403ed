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


rule plot_multitask_figures:
    """Multitask paper Figure 3 (transferred C&W success over κ), Figures 4 and 5 (detection
    precision and recall over κ, black-box and grey-box) and Figure 6 (Classmap heat maps)."""
    input:
        sweep="results/{dataset}/tables/multitask_cw_sweep.csv",
        cells=multitask_cell_metrics,
        defense=lambda wildcards: defense_file(wildcards.dataset, multitask_defense()),
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
