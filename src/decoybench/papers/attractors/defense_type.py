"""The attractor defense type (decoybench.defense_registry)."""

from decoybench.defense_registry import DefenseType, Detector

DEFENSE_TYPES = (
    DefenseType(
        name="attractor",
        title="Attractor",
        summary="QIM decoder W summed with the victim; forensic detector F_d, recovery F_r",
        kinds=("forensic", "integrated", "transfer", "adaptive"),
        schema="attractor.schema.yaml",
        builder="decoybench.papers.attractors.system:build",
        deploy="decoybench.papers.attractors.system:deploy",
        detector=Detector("standardized C1-C3 statistics of W's output (Sec. III-A)"),
        compared=True,
        variants=False,
        gpu=False,
        gradients=("exact", "bpda"),
        deployments=("default", "integrated"),
    ),
)
