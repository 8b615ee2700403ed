"""The luring defense type (decoybench.defense_registry)."""

from decoybench.defense_registry import DefenseType, Detector

DEFENSE_TYPES = (
    DefenseType(
        name="luring",
        title="Luring",
        summary="component P before the hidden target M; T = M∘P is public",
        kinds=("transfer", "decision", "adaptive"),
        schema="luring.schema.yaml",
        builder="decoybench.papers.luring.system:build",
        build_outputs={"defense": "defense.json", "component": "defense.safetensors"},
        deploy="decoybench.papers.luring.system:deploy",
        detector=Detector("M(x) ≠ M∘P(x) (Sec. 4.1)", gradient="label_check"),
        publishes_model=True,
    ),
)
