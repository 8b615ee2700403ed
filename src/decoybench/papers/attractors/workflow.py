"""What the attractors paper's rules (rules/attractors.smk) ask of the config."""

from __future__ import annotations

from decoybench.dag import Config, target_outputs

TABLES = (
    "attractor_clean_accuracy",
    "attractor_forensic",
    "attractor_detection",
    "attractor_low_fpr",
    "attractor_integrated",
    "attractor_distortion",
    "attractor_claims",
)
FIGURES = ("attractor_strength", "attractor_cosines", "attractor_trapdoor")


def outputs(config: Config) -> list[str]:
    """Everything of the attractors paper per target: Tables I-VI, the claim checks and
    Figures 5-7 (none without an attractor defense)."""
    if "attractor" not in (config.get("defenses") or {}):
        return []
    return target_outputs(config, TABLES, FIGURES)
