"""What the workflow hands a defense type's builder, and what its deployment returns.

`DeployedSystem` is the attacker's and the evaluator's interface of a defended system
(decoybench.defense_registry): the classifier (logits), what a white-box attacker
differentiates, the model the defense publishes, its detectors by calibrated FPR and its
recovery.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn


class ThresholdDetector(Protocol):
    """A detector at one operating point: a continuous score (higher = more likely
    adversarial) and the flags at the threshold calibrated on clean validation data."""

    fpr_target: float

    def score(self, x: Tensor) -> Tensor: ...

    def is_adversarial(self, x: Tensor) -> Tensor: ...


class AttackableDetector(ThresholdDetector, Protocol):
    """A detector an adaptive attacker can differentiate (Kerckhoffs: it knows the weights
    and the calibrated threshold). `margin(x)`: shape (N,), on x's device, differentiable in
    x (autograd graph kept, no numpy, no no_grad), > 0 exactly where `is_adversarial(x)`
    (ties at 0 aside); where the score is piecewise constant its forward value is exact and
    its backward pass a named surrogate (BPDA, decoybench.attacks.bpda)."""

    def margin(self, x: Tensor) -> Tensor: ...


@dataclass
class DeployedSystem:
    """What a cell needs: the model (logits convention), its checkpoint's sidecar, and, for a
    defense with a forensic analyzer, its detectors by target FPR and its recovery; for a
    defense that publishes a model of its own (luring's T = M∘P), that model and its sidecar;
    for the multi-task defense, the defended model (`multitask`, also `model`), the bare
    oracle (`original`) and, where the attacker sees less than `model`, what it attacks."""

    model: nn.Module
    sidecar: dict[str, Any]
    detectors: dict[float, ThresholdDetector] = field(default_factory=dict)
    recover: Callable[[Tensor], Tensor] | None = None
    public: nn.Module | None = None
    public_sidecar: dict[str, Any] = field(default_factory=dict)
    # decoybench.papers.multitask.defense.model.MultitaskModel (defenses knows no paper).
    multitask: nn.Module | None = None
    original: nn.Module | None = None
    attacked: nn.Module | None = None
    # The first detector's scores on the clean test split, once a cell computed them.
    clean_scores: Any = None
    # Labels after the defense's input transformation (MagNet's reformer), if it has one.
    reform_predict: Callable[[Tensor], Tensor] | None = None
    # An `adaptive` setting (`adaptive_system`): each operating point's attackable detector.
    operating_points: dict[str, AttackableDetector] = field(default_factory=dict)

    @property
    def crafting_model(self) -> nn.Module:
        """The model a white-box attacker in this setting differentiates."""
        return self.model if self.attacked is None else self.attacked


@dataclass(frozen=True)
class DeployRequest:
    """A defense type's `deploy` input: the victim checkpoint loaded and verified, the
    config name of the defense, the setting kind and the defense's sidecar file; for an
    `adaptive` setting, its `gradient` (exact, or bpda: attack the type's BPDA surrogate,
    Athalye et al. 2018) and `deployed` (default, or a type's alternative deployment:
    attractor's `integrated` M_(d,r)), checked by `load_system` against the type."""

    victim: nn.Module
    victim_sidecar: dict[str, Any]
    defense: str
    kind: str
    defense_path: Path
    model_path: Path
    device: torch.device | str
    data_sha256: str
    gradient: str = "exact"
    deployed: str = "default"

    @property
    def name(self) -> str:
        """The deployed system's display name: victim+defense."""
        return f"{self.victim_sidecar.get('name', 'victim')}+{self.defense}"


@dataclass(frozen=True)
class BuildJob:
    """A defense type's `builder` input: one config `defenses` entry to build around the
    victim. `outputs`: output key -> path (the type's `build_outputs`); `attacks`: the
    configs of the attacks its settings name (`attack_settings`)."""

    defense: str
    victim_path: Path
    data_dir: Path
    settings: Mapping[str, Any]
    outputs: Mapping[str, str]
    device: torch.device | str
    seed: int
    attacks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    progress: TextIO | None = None


# The keys of an adaptive setting that reach `DeployRequest` (config/schema.yaml).
DEPLOY_OPTIONS = ("gradient", "deployed")


def deploy_options(setting: Mapping[str, Any] | None) -> dict[str, str]:
    """The `DeployRequest` options a setting's config entry gives (`DEPLOY_OPTIONS`)."""
    return {key: str(setting[key]) for key in DEPLOY_OPTIONS if key in (setting or {})}


def operating_point_name(fpr: float) -> str:
    """`fpr_<f>` for a detector calibrated at FPR f, `label_check` for one without a
    threshold (its fpr_target is nan)."""
    return "label_check" if math.isnan(fpr) else f"fpr_{fpr:g}"


def adaptive_system(
    model: nn.Module,
    sidecar: dict[str, Any],
    detectors: Sequence[AttackableDetector],
    *,
    gradient_model: nn.Module | None = None,
    **fields: Any,
) -> DeployedSystem:
    """The system an `adaptive` attacker faces (Kerckhoffs: it knows the detector, its
    weights and thresholds): `model` the deployed classifier, each detector an operating
    point, and `attacked` the classifier carrying the detector of the largest calibrated
    FPR (the lowest threshold: an example it lets through passes every other point too).
    `gradient_model`: what the attacker differentiates in place of `model` (a `gradient:
    bpda` setting: `model`'s values with a surrogate's gradient, decoybench.attacks.bpda);
    without detectors it is `attacked` itself."""
    from decoybench.attacks.adaptive import DetectorAwareClassifier

    classifier = model if gradient_model is None else gradient_model
    points = {operating_point_name(detector.fpr_target): detector for detector in detectors}
    attacked = None if gradient_model is None else gradient_model.eval()
    if detectors:
        strictest = max(
            detectors,
            key=lambda detector: -1.0 if math.isnan(detector.fpr_target) else detector.fpr_target,
        )
        attacked = DetectorAwareClassifier(classifier, strictest.margin).eval()
    return DeployedSystem(
        model=model, sidecar=sidecar, attacked=attacked, operating_points=points, **fields
    )
