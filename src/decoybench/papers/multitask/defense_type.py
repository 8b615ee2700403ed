"""The multi-task defense type (decoybench.defense_registry)."""

from decoybench.defense_registry import DefenseType, Detector

DEFENSE_TYPES = (
    DefenseType(
        name="multitask",
        title="Multi-task",
        summary="auxiliary head Z′ and gradient lock; Classmap pair check",
        kinds=("transfer", "greybox", "near_whitebox", "adaptive"),
        schema="multitask.schema.yaml",
        builder="decoybench.papers.multitask.system:build",
        build_outputs={
            "defense": "defense.json",
            "weights": "defense.safetensors",
            "classmap_csv": "classmap.csv",
            "classmap_md": "classmap.md",
        },
        artifacts=("defense", "classmap_csv", "classmap_md"),
        deploy="decoybench.papers.multitask.system:deploy",
        detector=Detector(
            "(argmax Z*, argmax Z′) not a Classmap pair (Sec. III-D)", gradient="label_check"
        ),
        gradients=("exact", "bpda"),
    ),
)
