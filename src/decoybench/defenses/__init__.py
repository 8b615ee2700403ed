"""Deception-based defenses: each builds from a victim and a config and exposes the model the
attacker sees, a detector (`score`, `is_adversarial` at a calibrated threshold) and recovery
where its paper has one."""

from decoybench.defenses.attractor import (
    AttractorConfig,
    AttractorDefense,
    AttractorModel,
    DetectorThresholds,
    ForensicDetector,
    IntegratedAttractorModel,
    QIMDecoder,
    Standardization,
    nearest_attractor,
    qim_distance,
    recover,
)

__all__ = [
    "AttractorConfig",
    "AttractorDefense",
    "AttractorModel",
    "DetectorThresholds",
    "ForensicDetector",
    "IntegratedAttractorModel",
    "QIMDecoder",
    "Standardization",
    "nearest_attractor",
    "qim_distance",
    "recover",
]
