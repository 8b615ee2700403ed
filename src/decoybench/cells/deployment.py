"""The system a cell attacks or evaluates: a checkpoint, wrapped by its defense for the setting.

A cell is (setting, defense, attack). Its setting's *kind* (docs/design.md) decides what the
attacker differentiates and what the evaluation scores (each type's `deploy` in
decoybench.papers, dispatched by decoybench.defense_registry):

| defense      | kind        | model attacked / evaluated           | forensic tools       |
|--------------|-------------|--------------------------------------|----------------------|
| undefended   | whitebox    | the victim C                         | none                 |
| undefended   | transfer    | C (the set was crafted on a source)  | none                 |
| attractor    | forensic    | M_(ψ,φ), detector hidden (Sec. III-A)| F_d at each FPR, F_r |
| attractor    | integrated  | M_(d,r) at the first FPR (Sec. III-B)| F_d at each FPR, F_r |
| attractor    | transfer    | M_(ψ,φ) (Sec. VII-B)                 | F_d at each FPR, F_r |
| luring*      | transfer    | M; T = M∘P is the public model       | M(x) ≠ M∘P(x)        |
| luring*      | decision    | M, its labels only (outside Sec. 4.1)| M(x) ≠ M∘P(x)        |
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

Baselines (decoybench.papers.baselines) are detectors with thresholds calibrated on the
clean validation split; LID, Feature Squeezing and MagNet sit beside an unchanged victim.
Trapdoor deploys its retrained model; in a transfer setting that model plays luring's public
model (the luring paper's Table 20), and the cell reports luring's rates.
"""

from __future__ import annotations

from pathlib import Path

import torch

from decoybench import defense_registry
from decoybench.defenses.system import DeployedSystem, DeployRequest
from decoybench.models.checkpoint import load_checkpoint

__all__ = ["DeployedSystem", "load_system"]


def load_system(
    *,
    model_path: str | Path,
    defense: str,
    kind: str,
    device: torch.device | str,
    data_sha256: str,
    defense_path: str | Path | None = None,
    gradient: str = "exact",
    deployed: str = "default",
) -> DeployedSystem:
    """Load the checkpoint at `model_path` (verified against the dataset's fingerprint) and
    wrap it as `defense` deploys it in a setting of `kind` (module table): the registered
    type's `deploy` (decoybench.defense_registry). `gradient` and `deployed`: an adaptive
    setting's options (`DeployRequest`), which the type must support."""
    entry = defense_registry.type_of(defense)
    if entry is None:
        raise ValueError(
            f"unknown defense {defense!r}; allowed: {defense_registry.allowed_names()}"
        )
    if kind not in entry.kinds:
        raise ValueError(
            f"defense {defense!r} cannot be evaluated in a {kind!r} setting; "
            f"allowed kinds: {', '.join(entry.kinds)}"
        )
    check_deploy_options(defense, kind, gradient=gradient, deployed=deployed)
    model, sidecar = load_checkpoint(
        model_path, device=str(device), expected={"data_sha256": data_sha256}
    )
    if entry.deploy is None:
        return DeployedSystem(model=model, sidecar=sidecar)
    if defense_path is None:
        raise ValueError(f"defense {defense!r} needs its defense file (defense_path)")
    request = DeployRequest(
        victim=model,
        victim_sidecar=sidecar,
        defense=defense,
        kind=kind,
        defense_path=Path(defense_path),
        model_path=Path(model_path),
        device=device,
        data_sha256=data_sha256,
        gradient=gradient,
        deployed=deployed,
    )
    return entry.deploy_function()(request)


def check_deploy_options(defense: str, kind: str, *, gradient: str, deployed: str) -> None:
    """Refuse a `gradient` / `deployed` option the defense's type has no deployment for
    (an exact-gradient attack silently standing in for BPDA would misreport the cell)."""
    entry = defense_registry.type_of(defense)
    if entry is None:
        raise ValueError(f"unknown defense {defense!r}")
    options = (
        ("gradient", gradient, "exact", entry.gradients),
        ("deployed", deployed, "default", entry.deployments),
    )
    for key, value, default, allowed in options:
        if value == default:
            continue
        if kind != "adaptive":
            raise ValueError(f"`{key}: {value}` is an option of adaptive settings, not {kind!r}")
        if value not in allowed:
            raise ValueError(
                f"defense {defense!r} (type {entry.name!r}) has no `{key}: {value}` "
                f"deployment (no surrogate for it); its {key} values: {', '.join(allowed)}"
            )
