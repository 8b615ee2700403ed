"""The system a cell attacks or evaluates: a checkpoint, wrapped by its defense for the setting.

A cell is (setting, defense, attack). Its setting's *kind* (DESIGN.md) decides what the attacker
differentiates and what the evaluation scores:

| defense      | kind        | model attacked / evaluated           | forensic tools       |
|--------------|-------------|--------------------------------------|----------------------|
| undefended   | whitebox    | the victim C                         | none                 |
| undefended   | transfer    | C (the set was crafted on a source)  | none                 |
| attractor    | forensic    | M_(ψ,φ), detector hidden (Sec. III-A)| F_d at each FPR, F_r |
| attractor    | integrated  | M_(d,r) at the first FPR (Sec. III-B)| F_d at each FPR, F_r |
| attractor    | transfer    | M_(ψ,φ) (Sec. VII-B)                 | F_d at each FPR, F_r |
| luring*      | transfer    | M; T = M∘P is the public model       | M(x) ≠ M∘P(x)        |
| multitask*   | transfer    | the defended model, Z* (set crafted  | Classmap pair check  |
|              |             | on a substitute)                     |                      |
| multitask*   | greybox     | crafted on the defended network      | Classmap pair check  |
|              |             | without Z′ (Z); scored on Z*         |                      |
| multitask*   | near_whitebox | crafted and scored on the whole    | Classmap pair check  |
|              |             | defended model (heads exposed)       |                      |
| lid*, fs*,   | forensic    | the victim C (the detector is        | the baseline's       |
| magnet*      |             | separate and hidden; cells score the | detector at each FPR |
|              |             | victim's white-box sets)             |                      |
| trapdoor*    | forensic    | the trapdoored model, detector hidden| signature detector   |
| trapdoor*    | transfer    | C; the trapdoored model is public    | M(x) ≠ public(x)     |
(fs* = feature_squeezing*)

Luring (Bernhard et al., 2021, Sec. 4.1) publishes T = M∘P and keeps M hidden: a transfer
setting without a `source` model crafts on T (`DeployedSystem.public`) and scores on M, with
the detection scheme comparing the two outputs.

Multi-task (Wang et al., 2019) deploys the defended oracle; the bare oracle (the victim
checkpoint) stays available as `original`, so every cell also scores the paper's "Original"
rows on the same adversarial set. In a grey-box setting the attacker differentiates the
defended network without its Z′ branch (`attacked`: its trunk and head Z, Sec. IV-D2).

Baselines (decoybench.defenses.baselines) are detectors with thresholds calibrated on the
clean validation split; LID, Feature Squeezing and MagNet sit beside an unchanged victim.
Trapdoor deploys its retrained model; in a transfer setting that model plays luring's public
model (the luring paper's Table 20), and the cell reports luring's rates.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from decoybench.config import DEFENSE_KINDS, ConfigError, defense_type
from decoybench.defenses.attractor import AttractorDefense, ForensicDetector
from decoybench.defenses.baseline_checkpoint import (
    BASELINE_TYPES,
    CalibratedDetector,
    load_baseline,
)
from decoybench.defenses.luring_checkpoint import load_augmented
from decoybench.defenses.multitask import MultitaskModel
from decoybench.defenses.multitask_checkpoint import load_multitask
from decoybench.io import read_json
from decoybench.models.checkpoint import load_checkpoint

__all__ = ["DEFENSE_KINDS", "DeployedSystem", "load_attractor_defense", "load_system"]


@dataclass
class DeployedSystem:
    """What a cell needs: the model (logits convention), its checkpoint's sidecar, and, for a
    defense with a forensic analyzer, its detectors by target FPR and its recovery; for a
    defense that publishes a model of its own (luring's T = M∘P), that model and its sidecar;
    for the multi-task defense, the defended model (`multitask`, also `model`), the bare
    oracle (`original`) and, where the attacker sees less than `model`, what it attacks."""

    model: nn.Module
    sidecar: dict[str, Any]
    detectors: dict[float, ForensicDetector | CalibratedDetector] = field(default_factory=dict)
    recover: Callable[[Tensor], Tensor] | None = None
    public: nn.Module | None = None
    public_sidecar: dict[str, Any] = field(default_factory=dict)
    multitask: MultitaskModel | None = None
    original: nn.Module | None = None
    attacked: nn.Module | None = None
    # The first detector's scores on the clean test split, once a cell computed them.
    clean_scores: Any = None
    # Labels after the defense's input transformation (MagNet's reformer), if it has one.
    reform_predict: Callable[[Tensor], Tensor] | None = None

    @property
    def crafting_model(self) -> nn.Module:
        """The model a white-box attacker in this setting differentiates."""
        return self.model if self.attacked is None else self.attacked


def load_attractor_defense(
    victim: nn.Module, defense_path: str | Path, device: torch.device | str
) -> AttractorDefense:
    """Rebuild the calibrated attractor defense written by the `build_defense` rule."""
    document = read_json(defense_path)
    if "defense" not in document:
        raise ValueError(f"{defense_path}: not a defense file (no 'defense' key); rebuild it")
    defense = AttractorDefense.from_json(json.dumps(document["defense"]), victim)
    defense.decoder.to(device)
    return defense


def load_system(
    *,
    model_path: str | Path,
    defense: str,
    kind: str,
    device: torch.device | str,
    data_sha256: str,
    defense_path: str | Path | None = None,
) -> DeployedSystem:
    """Load the checkpoint at `model_path` (verified against the dataset's fingerprint) and
    wrap it as `defense` deploys it in a setting of `kind` (module table)."""
    try:
        kind_of_defense = defense_type(defense)
    except ConfigError as error:
        raise ValueError(str(error)) from error
    allowed = DEFENSE_KINDS[kind_of_defense]
    if kind not in allowed:
        raise ValueError(
            f"defense {defense!r} cannot be evaluated in a {kind!r} setting; "
            f"allowed kinds: {', '.join(allowed)}"
        )
    model, sidecar = load_checkpoint(
        model_path, device=str(device), expected={"data_sha256": data_sha256}
    )
    if defense == "undefended":
        return DeployedSystem(model=model, sidecar=sidecar)
    if defense_path is None:
        raise ValueError(f"defense {defense!r} needs its defense file (defense_path)")
    if kind_of_defense == "luring":
        public, public_sidecar = load_augmented(
            defense_path, model_path, device=device, expected={"data_sha256": data_sha256}
        )
        return DeployedSystem(
            model=model.eval(),
            sidecar=sidecar,
            public=public,
            public_sidecar={
                **public_sidecar,
                "name": f"{sidecar.get('name', 'victim')}+{defense}[{public_sidecar['approach']}]",
            },
        )
    if kind_of_defense == "multitask":
        defended, defended_sidecar = load_multitask(
            defense_path, model_path, device=device, expected={"data_sha256": data_sha256}
        )
        return DeployedSystem(
            model=defended,
            sidecar={
                **defended_sidecar,
                "name": f"{sidecar.get('name', 'victim')}+{defense}[{kind}]",
            },
            multitask=defended,
            original=model.eval(),
            attacked=defended.base if kind == "greybox" else None,
        )
    if kind_of_defense in BASELINE_TYPES:
        return _baseline_system(
            model, sidecar, defense, kind, defense_path, model_path, device, data_sha256
        )
    attractor = load_attractor_defense(model, defense_path, device)
    deployed = (
        attractor.integrated() if kind == "integrated" else attractor.model_seen_by_attacker()
    )
    return DeployedSystem(
        model=deployed.to(device).eval(),
        sidecar={**sidecar, "name": f"{sidecar.get('name', 'victim')}+attractor[{kind}]"},
        detectors={
            point.fpr_target: attractor.detector_at(point.fpr_target)
            for point in attractor.operating_points
        },
        recover=attractor.recover,
    )


def _baseline_system(
    victim: nn.Module,
    victim_sidecar: dict[str, Any],
    defense: str,
    kind: str,
    defense_path: str | Path,
    model_path: str | Path,
    device: torch.device | str,
    data_sha256: str,
) -> DeployedSystem:
    """A baseline as the module table deploys it."""
    baseline = load_baseline(
        defense_path, model_path, device=device, expected={"data_sha256": data_sha256}
    )
    name = f"{victim_sidecar.get('name', 'victim')}+{defense}"
    if kind == "transfer":  # trapdoor: the trapdoored model is public, M stays hidden
        return DeployedSystem(
            model=victim.eval(),
            sidecar=victim_sidecar,
            public=baseline.model,
            public_sidecar={**baseline.sidecar, "name": name, "approach": baseline.baseline},
        )
    return DeployedSystem(
        model=baseline.model.eval(),
        sidecar={**victim_sidecar, "name": f"{name}[{kind}]"},
        detectors=baseline.detectors(),
        reform_predict=getattr(baseline.detector, "predict", None),
    )
