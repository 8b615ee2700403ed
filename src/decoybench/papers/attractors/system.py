"""Build and deploy the attractor defense for the workflow (decoybench.defense_registry)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from decoybench.attacks.bpda import straight_through
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
    """M_(ψ,φ) with the detector hidden (forensic, transfer) or M_(d,r) (integrated); in an
    adaptive setting `adaptive_deployment`'s."""
    attractor = load_attractor_defense(request.victim, request.defense_path, request.device)
    kind = request.kind
    if kind == "adaptive":
        return adaptive_deployment(attractor, request)
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


def adaptive_deployment(attractor: AttractorDefense, request: DeployRequest) -> DeployedSystem:
    """What an attacker who knows W, F_d and its thresholds faces (Sec. VII).

    - `deployed: default`: M_(ψ,φ), rejecting what F_d flags at each operating point. With
      `gradient: bpda` the attacker differentiates C alone (log softmax C: the paper's own
      admission that C is M minus W's known term) while every forward value is M's, and
      evades F_d through its continuous margin.
    - `deployed: integrated`: M_(d,r) at the first operating point, which answers F_r's label
      where F_d fires instead of rejecting, so no input is rejected. With `gradient: bpda`
      it is attacked through `StraightThroughIntegratedModel` (straight-through F_d switch
      and softmin F_r); exact, through M alone (F_d and F_r carry no gradient).
    """
    name = f"{request.name}[{request.kind}"
    if request.deployed == "integrated":
        integrated = attractor.integrated().to(request.device).eval()
        surrogate = integrated.straight_through() if request.gradient == "bpda" else None
        return adaptive_system(
            integrated,
            {**request.victim_sidecar, "name": f"{name},integrated]"},
            [],
            gradient_model=surrogate,
            recover=attractor.recover,
        )
    model = attractor.model_seen_by_attacker().to(request.device).eval()
    surrogate = None
    if request.gradient == "bpda":
        surrogate = straight_through(model, nn.Sequential(request.victim, nn.LogSoftmax(dim=1)))
    suffix = ",bpda]" if surrogate is not None else "]"
    return adaptive_system(
        model,
        {**request.victim_sidecar, "name": name + suffix},
        [attractor.detector_at(point.fpr_target) for point in attractor.operating_points],
        gradient_model=surrogate,
        recover=attractor.recover,
    )
