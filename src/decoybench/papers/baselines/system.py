"""Build and deploy a baseline detector for the workflow (decoybench.defense_registry)."""

from __future__ import annotations

from typing import Any

from decoybench.config import defense_type
from decoybench.defenses.system import BuildJob, DeployedSystem, DeployRequest, adaptive_system
from decoybench.papers.baselines.build import build_baseline_defense
from decoybench.papers.baselines.checkpoint import load_baseline


def build(job: BuildJob) -> dict[str, Any]:
    """Fitted on the training split, calibrated on the validation split."""
    return build_baseline_defense(
        baseline=defense_type(job.defense),
        victim_path=job.victim_path,
        data_dir=job.data_dir,
        settings=dict(job.settings),
        out=job.outputs["defense"],
        device=job.device,
        seed=job.seed,
        attacks=dict(job.attacks),
        progress=job.progress,
    )


def deploy(request: DeployRequest) -> DeployedSystem:
    """The classifier the attacker sees with the detector at each FPR; in a transfer
    setting (trapdoor) the trapdoored model is public and the victim stays hidden."""
    baseline = load_baseline(
        request.defense_path,
        request.model_path,
        device=request.device,
        expected={"data_sha256": request.data_sha256},
    )
    if request.kind == "adaptive":
        # MagNet's whole pipeline: reformer → classifier, its detectors in the loss (Carlini
        # & Wagner 2017, "MagNet and 'efficient defenses' are not robust").
        classifier = getattr(baseline.detector, "classifier", None)
        return adaptive_system(
            (classifier() if callable(classifier) else baseline.model).eval(),
            {**request.victim_sidecar, "name": f"{request.name}[{request.kind}]"},
            list(baseline.detectors().values()),
            reform_predict=getattr(baseline.detector, "predict", None),
        )
    if request.kind == "transfer":
        return DeployedSystem(
            model=request.victim.eval(),
            sidecar=request.victim_sidecar,
            public=baseline.model,
            public_sidecar={
                **baseline.sidecar,
                "name": request.name,
                "approach": baseline.baseline,
            },
        )
    return DeployedSystem(
        model=baseline.model.eval(),
        sidecar={**request.victim_sidecar, "name": f"{request.name}[{request.kind}]"},
        detectors=baseline.detectors(),
        reform_predict=getattr(baseline.detector, "predict", None),
    )
