"""Build and deploy the attractor defense for the workflow (decoybench.defense_registry)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from decoybench.defenses.system import BuildJob, DeployedSystem, DeployRequest, adaptive_system
from decoybench.io import read_json
from decoybench.papers.attractors.build import build_attractor_defense
from decoybench.papers.attractors.defense import AttractorDefense


def load_attractor_defense(
    victim: nn.Module, defense_path: str | Path, device: torch.device | str
) -> AttractorDefense:
    """Rebuild the calibrated attractor defense written by the `build_attractor_defense`
    rule."""
    document = read_json(defense_path)
    if "defense" not in document:
        raise ValueError(f"{defense_path}: not a defense file (no 'defense' key); rebuild it")
    defense = AttractorDefense.from_json(json.dumps(document["defense"]), victim)
    defense.decoder.to(device)
    return defense


def build(job: BuildJob) -> dict[str, Any]:
    """W around the victim, its detector calibrated on the validation split."""
    return build_attractor_defense(
        victim_path=job.victim_path,
        data_dir=job.data_dir,
        settings=job.settings,
        out=job.outputs["defense"],
        device=job.device,
    )


def deploy(request: DeployRequest) -> DeployedSystem:
    """M_(ψ,φ) with the detector hidden (forensic, transfer) or M_(d,r) (integrated)."""
    attractor = load_attractor_defense(request.victim, request.defense_path, request.device)
    kind = request.kind
    if kind == "adaptive":
        # M_(ψ,φ) with F_d at every operating point, known to the attacker (Sec. VII).
        return adaptive_system(
            attractor.model_seen_by_attacker().to(request.device).eval(),
            {**request.victim_sidecar, "name": f"{request.name}[{kind}]"},
            [attractor.detector_at(point.fpr_target) for point in attractor.operating_points],
            recover=attractor.recover,
        )
    deployed = (
        attractor.integrated() if kind == "integrated" else attractor.model_seen_by_attacker()
    )
    return DeployedSystem(
        model=deployed.to(request.device).eval(),
        sidecar={**request.victim_sidecar, "name": f"{request.name}[{kind}]"},
        detectors={
            point.fpr_target: attractor.detector_at(point.fpr_target)
            for point in attractor.operating_points
        },
        recover=attractor.recover,
    )
