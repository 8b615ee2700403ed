"""Adversarial-set generation."""


rule generate_adversarial_set:
    """Craft one adversarial set: `attack` against `defense` in `setting`."""
    input:
        unpack(dataset_files),
        unpack(crafting_inputs),
    output:
        adversarial_set="results/{dataset}/adv/{setting}/{defense}/{attack}.npz",
    log:
        "logs/generate_adversarial_set/{dataset}/{setting}/{defense}/{attack}.log",
    benchmark:
        "benchmarks/generate_adversarial_set/{dataset}/{setting}/{defense}/{attack}.tsv"
    params:
        attack=lambda wildcards: config["attacks"][wildcards.attack],
        setting=lambda wildcards: config["settings"][wildcards.setting],
        kind=setting_kind,
        n_samples=cell_samples,
        batch_size=config["evaluation"].get("batch_size", 250),
        sanity_samples=config["evaluation"].get("sanity_samples", 64),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/generate_adversarial_set.py"
