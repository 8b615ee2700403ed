"""Build and deploy a luring defense for the workflow (decoybench.defense_registry)."""

from __future__ import annotations

from typing import Any

from decoybench.defenses.system import BuildJob, DeployedSystem, DeployRequest, adaptive_system
from decoybench.papers.luring.build import build_luring_defense
from decoybench.papers.luring.checkpoint import load_augmented


def build(job: BuildJob) -> dict[str, Any]:
    """P trained in front of the frozen victim; Table 8's measurements (without the
    per-epoch history)."""
    settings = dict(job.settings)
    approach = settings.pop("approach")
    measurements = build_luring_defense(
        target_path=job.victim_path,
        data_dir=job.data_dir,
        approach=approach,
        settings=settings,
        out=job.outputs["defense"],
        device=job.device,
        seed=job.seed,
        progress=job.progress,
    )
    return {key: measurements[key] for key in measurements if key != "history"}


def deploy(request: DeployRequest) -> DeployedSystem:
    """M deployed and hidden; T = M∘P published for transfer attackers."""
    public, public_sidecar = load_augmented(
        request.defense_path,
        request.model_path,
        device=request.device,
        expected={"data_sha256": request.data_sha256},
    )
    if request.kind == "adaptive":
        # Outside the paper's threat model: the attacker is given M and the check M ≠ T.
        from decoybench.papers.luring.adaptive import DisagreementDetector

        hidden = request.victim.eval()
        return adaptive_system(
            hidden,
            {**request.victim_sidecar, "name": f"{request.name}[{request.kind}]"},
            [DisagreementDetector(hidden, public)],
        )
    return DeployedSystem(
        model=request.victim.eval(),
        sidecar=request.victim_sidecar,
        public=public,
        public_sidecar={
            **public_sidecar,
            "name": f"{request.name}[{public_sidecar['approach']}]",
        },
    )
