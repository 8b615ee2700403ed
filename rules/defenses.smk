"""Defenses built around the victim: one rule per `build_rule` of the defense registry
(decoybench.defense_registry), each type's builder called by one generic script."""


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


