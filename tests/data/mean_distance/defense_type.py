"""The mean-distance detector type: its one registry entry."""

from decoybench.defense_registry import DefenseType, Detector

DEFENSE_TYPES = (
    DefenseType(
        name="mean_distance",
        title="MeanDist",
        summary="L2 distance to the mean training image (a test fixture)",
        kinds=("forensic",),
        schema="mean_distance.schema.yaml",
        builder="decoybench.papers.mean_distance.system:build",
        deploy="decoybench.papers.mean_distance.system:deploy",
        detector=Detector("L2 distance to the mean training image"),
        detection_only=True,
        compared=True,
    ),
)
