"""Baseline detectors (LID, Feature Squeezing, MagNet, Trapdoor) around the victim, and their
comparison with the deception defenses (the attractors paper's Table III, the luring paper's
Table 20, the heat map).

system crafts exactly the white-box sets of the undefended victim: their cells score those
sets (`score_<defense>`, one job per defense for all its cells) instead of crafting again, and
every detector is measured on the very same adversarial examples. Trapdoor retrains the
victim, so its cells are crafted on the trapdoored model by `attack_cell`. The baselines are
built by `build_baseline_defense` (rules/defenses.smk).
"""

from decoybench.papers.baselines import workflow as baselines
from decoybench.papers.luring import workflow as luring


for _defense in detection_only_defenses():
    _cells = detection_cells(_defense)
    if not _cells:
        continue
    _rule_name = re.sub(r"\W", "_", f"score_{_defense}")

    rule:
        name:
            _rule_name
        input:
            unpack(dataset_files),
            victim=lambda wildcards: model_files(wildcards.dataset, config["victim"])["weights"],
            sidecar=lambda wildcards: model_files(wildcards.dataset, config["victim"])["sidecar"],
            # What the type's build writes (`defense`, the sidecar, and any other file).
            **dag.build_files("{dataset}", _defense),
            adversarial_sets=lambda wildcards, cells=_cells: [
                whitebox_set(wildcards.dataset, attack) for _, attack in cells
            ],
        output:
            metrics=[f"results/{{dataset}}/eval/{setting}/{_defense}/{attack}.json" for setting, attack in _cells],
        log:
            f"logs/{_rule_name}/{{dataset}}.log",
        benchmark:
            f"benchmarks/{_rule_name}/{{dataset}}.tsv"
        params:
            defense=_defense,
            cells=[
                {
                    "setting": setting,
                    "kind": config["settings"][setting]["kind"],
                    "attack": attack,
                    "attack_config": config["attacks"][attack],
                }
                for setting, attack in _cells
            ],
        threads: 1
        resources:
            gpu=1,
        conda:
            "../envs/decoybench.yaml"
        script:
            "../workflow_scripts/score_detector_cells.py"


rule make_baseline_tables:
    """The attractors paper's Table III (TPR, FPR, AUC and overall attack success rate of the
    attractor, LID, FS, MagNet and Trapdoor per attack) and the luring paper's Table 20
    (Trapdoor vs Luring: AC_MoP, AC_M, DAC), measured here, beside the papers' numbers."""
    input:
        cells=lambda wildcards: baselines.cell_metrics(config, wildcards.dataset),
    output:
        comparison_csv=report(
            "results/{dataset}/tables/baseline_comparison.csv",
            category="Baselines",
            caption="../report/baseline_comparison.rst",
        ),
        comparison_md="results/{dataset}/tables/baseline_comparison.md",
        luring_csv=report(
            "results/{dataset}/tables/baseline_luring.csv",
            category="Baselines",
            caption="../report/baseline_luring.rst",
        ),
        luring_md="results/{dataset}/tables/baseline_luring.md",
    log:
        "logs/make_baseline_tables/{dataset}.log",
    benchmark:
        "benchmarks/make_baseline_tables/{dataset}.tsv"
    params:
        paper_dataset=lambda wildcards: wildcards.dataset,  # mapped to the paper's data set
        defenses=baselines.comparison_defenses(config),
        luring_defense=luring.table20_defense(config),
        trapdoor_defense=baselines.comparison_defenses(config).get("trapdoor"),
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/make_baseline_tables.py"


rule plot_baseline_figures:
    """Overall attack success rate per attack and detector as a heat map, with the counts."""
    input:
        cells=lambda wildcards: baselines.cell_metrics(config, wildcards.dataset),
    output:
        png=report(
            "results/{dataset}/figures/baseline_asr.png",
            category="Baselines",
            caption="../report/baseline_asr.rst",
        ),
        pdf="results/{dataset}/figures/baseline_asr.pdf",
    log:
        "logs/plot_baseline_figures/{dataset}.log",
    benchmark:
        "benchmarks/plot_baseline_figures/{dataset}.tsv"
    params:
        paper_dataset=lambda wildcards: wildcards.dataset,  # mapped to the paper's data set
        defenses=baselines.comparison_defenses(config),
    conda:
        "../envs/decoybench.yaml"
    script:
        "../workflow_scripts/plot_baseline_figures.py"
