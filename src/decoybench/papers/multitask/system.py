"""Build and deploy a multi-task defense for the workflow (decoybench.defense_registry)."""

from __future__ import annotations

from typing import Any

from decoybench.defenses.system import BuildJob, DeployedSystem, DeployRequest, adaptive_system
from decoybench.papers.multitask.build import build_multitask_defense, write_classmap_table
from decoybench.papers.multitask.checkpoint import load_multitask
from decoybench.papers.multitask.defense.model import MultitaskModel


def build(job: BuildJob) -> dict[str, Any]:
    """The Classmap from FGSM examples on the victim, then the defended model; its Classmap
    table; Table VI's measurements."""
    measurements = build_multitask_defense(
        oracle_path=job.victim_path,
        data_dir=job.data_dir,
        settings=dict(job.settings),
        out=job.outputs["defense"],
        device=job.device,
        seed=job.seed,
        progress=job.progress,
    )
    write_classmap_table(
        measurements["classmap"], job.outputs["classmap_csv"], job.outputs["classmap_md"]
    )
    return {
        "table6": measurements["table6"],
        "classmap_fgsm_success": measurements["classmap_fgsm_success"],
        "seconds": measurements["seconds"],
    }


def deploy(request: DeployRequest) -> DeployedSystem:
    """The defended model Z*; the bare oracle as `original`; in a grey-box setting the
    attacker differentiates the network without Z′."""
    defended, defended_sidecar = load_multitask(
        request.defense_path,
        request.model_path,
        device=request.device,
        expected={"data_sha256": request.data_sha256},
    )
    sidecar = {**defended_sidecar, "name": f"{request.name}[{request.kind}]"}
    if request.kind == "adaptive":
        return adaptive_deployment(defended, sidecar, request.gradient)
    return DeployedSystem(
        model=defended,
        sidecar=sidecar,
        multitask=defended,
        original=request.victim.eval(),
        attacked=defended.base if request.kind == "greybox" else None,
    )


def adaptive_deployment(
    defended: MultitaskModel, sidecar: dict[str, Any], gradient: str = "exact"
) -> DeployedSystem:
    """The white-box attacker of the paper's threat list (Sec. III): Z* and the Classmap
    check, both known. With `gradient: bpda` the gradient lock is passed straight through:
    Z*'s values, Z's gradient (g(Z′) held constant; Athalye et al. 2018)."""
    from decoybench.attacks.bpda import straight_through
    from decoybench.papers.multitask.adaptive import ClassmapDetector

    surrogate = None
    if gradient == "bpda":
        surrogate = straight_through(defended, defended.base)
        name = str(sidecar.get("name", "multitask[adaptive]"))
        sidecar = {**sidecar, "name": f"{name.removesuffix(']')},bpda]"}
    return adaptive_system(
        defended, sidecar, [ClassmapDetector(defended)], gradient_model=surrogate
    )
