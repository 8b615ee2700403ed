"""Defenses built around the victim (one rule per `build_rule` of the defense registry), and\nthe attractor's clean-data tables and analyses."""


for _rule_name, _names in build_rules().items():
    _entry = defense_registry.type_of(_names[0])

    rule:
        """Build each configured defense of this rule's types around the victim with its
        type's builder (decoybench.defense_registry); detectors are calibrated on the
        clean validation split."""
        name:
            _rule_name
        wildcard_constraints:
            defense=_alternatives(_names),
        input:
            unpack(dataset_files),
            victim=lambda wildcards: model_files(wildcards.dataset, config["victim"])["weights"],
            sidecar=lambda wildcards: model_files(wildcards.dataset, config["victim"])["sidecar"],
        output:
            **{
                key: f"results/{{dataset}}/defenses/{{defense}}/{file}"
                for key, file in _entry.build_outputs.items()
            },
        log:
            f"logs/{_rule_name}/{{dataset}}/{{defense}}.log",
        benchmark:
            f"benchmarks/{_rule_name}/{{dataset}}/{{defense}}.tsv"
        params:
            settings=lambda wildcards: config["defenses"][wildcards.defense],
            attacks=named_attacks,
        threads: 1
        resources:
            gpu=int(_entry.gpu),
        conda:
            "../envs/decoybench.yaml"
        script:
            "../workflow_scripts/build_defense.py"


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


rule analyze_luring:
    """Luring Appendix D.3 and Fig. 3 (right): Ω_c of Eq. 5 between M and each M∘P on test
    images every model classifies right, and saliency maps of M and of each P."""
    input:
        unpack(dataset_files),
        victim=lambda wildcards: model_files(wildcards.dataset, config["victim"])["weights"],
        sidecar=lambda wildcards: model_files(wildcards.dataset, config["victim"])["sidecar"],
        defenses=luring_defense_files,
        components=lambda wildcards: [
            path.replace(".json", ".safetensors") for path in luring_defense_files(wildcards)
        ],
    output:
        measurements="results/{dataset}/analysis/luring.npz",
    log:
        "logs/analyze_luring/{dataset}.log",
    benchmark:
        "benchmarks/analyze_luring/{dataset}.tsv"
    params:
        defenses=luring_defenses(),
        analysis=config["evaluation"].get("luring_analysis", {}),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/analyze_luring.py"
