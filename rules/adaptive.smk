"""Adaptive attacks and the leaderboard (decoybench.attacks.adaptive, decoybench.leaderboard).

`adaptive_cell` crafts an adaptive cell's set on the deployed classifier carrying its
detector (any defense, detection-only ones included: an attacker who knows the detector
crafts against it), then scores it. `score_leaderboard_row` scores every set of one
defense's cells, oblivious and adaptive, against that one deployment; the tables and the
figure rank the defenses. `snakemake --cores all adaptive` runs just this part.
"""

from decoybench.leaderboard import workflow as leaderboard


rule adaptive_cell:
    """Craft `attack` knowing the defense, its weights and thresholds; score the set."""
    wildcard_constraints:
        setting=_alternatives(leaderboard.adaptive_settings(config)),
        defense=_alternatives(leaderboard.ranked_defenses(config)),
    input:
        unpack(dataset_files),
        unpack(target_inputs),
    output:
        adversarial_set="results/{dataset}/adv/{setting}/{defense}/{attack}.npz",
        metrics="results/{dataset}/eval/{setting}/{defense}/{attack}.json",
    log:
        "logs/adaptive_cell/{dataset}/{setting}/{defense}/{attack}.log",
    benchmark:
        "benchmarks/adaptive_cell/{dataset}/{setting}/{defense}/{attack}.tsv"
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


rule score_leaderboard_row:
    """One defense's sets scored against its adaptive deployment; worst case per threat."""
    wildcard_constraints:
        defense=_alternatives(leaderboard.ranked_defenses(config)),
    input:
        unpack(dataset_files),
        unpack(leaderboard_row_inputs),
    output:
        row="results/{dataset}/leaderboard/{defense}.json",
    log:
        "logs/score_leaderboard_row/{dataset}/{defense}.log",
    benchmark:
        "benchmarks/score_leaderboard_row/{dataset}/{defense}.tsv"
    params:
        sets=lambda wildcards: leaderboard.row_sets(config, wildcards.dataset, wildcards.defense),
        n_samples=leaderboard.leaderboard_samples(config),
        threat_models=leaderboard.threat_models(config),
        batch_size=config["evaluation"].get("batch_size", 250),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/score_leaderboard_row.py"


rule sweep_epsilon:
    """Adaptive attack success against ε on one defense: it must reach 100% at large ε."""
    wildcard_constraints:
        defense=_alternatives(leaderboard.ranked_defenses(config)),
    input:
        unpack(dataset_files),
        unpack(sweep_inputs),
    output:
        sweep="results/{dataset}/leaderboard/sweep/{defense}.json",
    log:
        "logs/sweep_epsilon/{dataset}/{defense}.log",
    benchmark:
        "benchmarks/sweep_epsilon/{dataset}/{defense}.tsv"
    params:
        sweep=lambda wildcards: leaderboard.epsilon_sweep(config),
        batch_size=config["evaluation"].get("batch_size", 250),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/sweep_epsilon.py"


rule make_leaderboard_tables:
    """The leaderboard and every scored attack, from the defenses' rows."""
    input:
        rows=lambda wildcards: [
            leaderboard.row_file(wildcards.dataset, defense)
            for defense in leaderboard.ranked_defenses(config)
        ],
        sweeps=lambda wildcards: [
            leaderboard.sweep_file(wildcards.dataset, defense)
            for defense in leaderboard.ranked_defenses(config)
        ],
    output:
        leaderboard_csv=report(
            "results/{dataset}/tables/leaderboard.csv",
            category="Leaderboard",
            caption="../report/leaderboard_table.rst",
        ),
        leaderboard_md="results/{dataset}/tables/leaderboard.md",
        worst_cases_csv=report(
            "results/{dataset}/tables/worst_cases.csv",
            category="Leaderboard",
            caption="../report/worst_cases_table.rst",
        ),
        worst_cases_md="results/{dataset}/tables/worst_cases.md",
        adaptive_attacks_csv=report(
            "results/{dataset}/tables/adaptive_attacks.csv",
            category="Leaderboard",
            caption="../report/adaptive_attacks_table.rst",
        ),
        adaptive_attacks_md="results/{dataset}/tables/adaptive_attacks.md",
        epsilon_sweep_csv=report(
            "results/{dataset}/tables/epsilon_sweep.csv",
            category="Leaderboard",
            caption="../report/epsilon_sweep_table.rst",
        ),
        epsilon_sweep_md="results/{dataset}/tables/epsilon_sweep.md",
    log:
        "logs/make_leaderboard_tables/{dataset}.log",
    benchmark:
        "benchmarks/make_leaderboard_tables/{dataset}.tsv"
    params:
        fprs=leaderboard.fprs(config),
        threat_models=list(leaderboard.threat_models(config)),
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/make_leaderboard_tables.py"


rule plot_leaderboard:
    """Oblivious against adaptive worst case per defense and threat model, at the first
    FPR; the ε sweep's curve per defense."""
    input:
        table="results/{dataset}/tables/leaderboard.csv",
        sweep="results/{dataset}/tables/epsilon_sweep.csv",
    output:
        png=report(
            "results/{dataset}/figures/leaderboard.png",
            category="Leaderboard",
            caption="../report/leaderboard_figure.rst",
        ),
        pdf="results/{dataset}/figures/leaderboard.pdf",
        sweep_png=report(
            "results/{dataset}/figures/epsilon_sweep.png",
            category="Leaderboard",
            caption="../report/epsilon_sweep_figure.rst",
        ),
        sweep_pdf="results/{dataset}/figures/epsilon_sweep.pdf",
    log:
        "logs/plot_leaderboard/{dataset}.log",
    benchmark:
        "benchmarks/plot_leaderboard/{dataset}.tsv"
    params:
        fpr=leaderboard.fprs(config)[0],
        threat_models=list(leaderboard.threat_models(config)),
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/plot_leaderboard.py"
