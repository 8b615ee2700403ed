"""Attack cells: craft one adversarial set and evaluate it on its target, in one job.

One job per cell, not two: each job pays ~5 s of Python start-up (torch, mlflow) against
about a second of evaluation, so crafting and scoring share the process. Both artifacts
stay separate files (adv/ and eval/), each written atomically.
"""


rule attack_cell:
    """Craft `attack` on the setting's crafting system, then score the set on the target."""
    wildcard_constraints:
        # Detection-only baselines score the victim's white-box sets (rules/baselines.smk).
        defense=_alternatives(crafting_defenses()),
        # Adaptive settings' cells are rules/adaptive.smk's `adaptive_cell`.
        setting=_alternatives(non_adaptive_settings()),
    input:
        unpack(dataset_files),
        unpack(cell_inputs),
    output:
        adversarial_set="results/{dataset}/adv/{setting}/{defense}/{attack}.npz",
        metrics="results/{dataset}/eval/{setting}/{defense}/{attack}.json",
    log:
        "logs/attack_cell/{dataset}/{setting}/{defense}/{attack}.log",
    benchmark:
        "benchmarks/attack_cell/{dataset}/{setting}/{defense}/{attack}.tsv"
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
        "../workflow_scripts/attack_cell.py"
