"""Pickle-free checkpoints of a trained luring component P (Bernhard et al., 2021).

`X.safetensors` holds P's state dict (its own keys, e.g. `net.0.weight`); for the Stack
approach, whose copy of M is trained with P (Sec. 3.1), also the copy's weights under a
`target.` prefix. The `X.json` sidecar records how to rebuild P (component, in_channels,
image_size, dropout), the approach, the target checkpoint M it was trained in front of
(its name and weights_sha256), the recipe, the seed, the data hash and the SHA-256 of the
weights file. `load_augmented` refuses a file whose hash differs, or a target M other than
the recorded one, and returns the augmented model T = M∘P (Sec. 2.3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from decoybench.models.checkpoint import (
    CheckpointError,
    cpu_state,
    load_checkpoint,
    read_state,
    verified_sidecar,
    weights_path,
    write_weights_and_sidecar,
)
from decoybench.papers.luring.defense.augmented import AugmentedModel
from decoybench.papers.luring.defense.components import (
    LURING_COMPONENTS,
    LuringComponent,
    build_component,
)
from decoybench.papers.luring.defense.schedules import APPROACHES

__all__ = ["FORMAT", "REQUIRED_METADATA", "TARGET_PREFIX", "load_augmented", "save_augmented"]

FORMAT = "safetensors-luring-component"
TARGET_PREFIX = "target."
REQUIRED_METADATA: tuple[str, ...] = (
    "approach",
    "target_weights_sha256",
    "target_name",
    "recipe",
    "seed",
    "data_sha256",
)
_SIDECAR_KEYS: tuple[str, ...] = (
    *REQUIRED_METADATA,
    "component",
    "in_channels",
    "image_size",
    "dropout",
    "weights_sha256",
    "format",
)


def _component_name(component: LuringComponent) -> str:
    for name, cls in LURING_COMPONENTS.items():
        if type(component) is cls:
            return name
    raise ValueError(f"{type(component).__name__} is not one of the luring components")


def save_augmented(
    path: str | Path, augmented: AugmentedModel, metadata: dict[str, Any]
) -> dict[str, Any]:
    """Write P's weights (and, for "stack", the trained copy of M) and the sidecar atomically.

    `metadata` must hold approach, target_weights_sha256, target_name, recipe, seed and
    data_sha256 (ValueError otherwise); component, in_channels, image_size and dropout are
    taken from P, weights_sha256 and format are added. Returns the sidecar dict. If the
    sidecar cannot be written, the new weights file is removed again.
    """
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ValueError(f"luring metadata is missing required key(s): {', '.join(missing)}")
    approach = metadata["approach"]
    if approach not in APPROACHES:
        raise ValueError(f"approach {approach!r} is not one of {', '.join(APPROACHES)}")
    component = augmented.component
    if not isinstance(component, LuringComponent):
        raise ValueError("augmented.component is not a luring component P")
    if approach != "stack" and not augmented.freeze_target:
        raise ValueError(f"{approach!r} keeps M frozen, but this model's target is trainable")
    described = {
        "component": _component_name(component),
        "in_channels": component.in_channels,
        "image_size": component.image_size,
        "dropout": component.dropout,
    }
    for key, value in described.items():
        if key in metadata and metadata[key] != value:
            raise ValueError(f"metadata {key}={metadata[key]!r} but the component has {value!r}")

    tensors = cpu_state(component)
    if approach == "stack":
        for name, tensor in cpu_state(augmented.target).items():
            tensors[TARGET_PREFIX + name] = tensor
    return write_weights_and_sidecar(path, tensors, {**metadata, **described}, FORMAT)


def load_augmented(
    path: str | Path,
    target_path: str | Path,
    *,
    device: str | torch.device = "cpu",
    expected: dict[str, Any] | None = None,
) -> tuple[AugmentedModel, dict[str, Any]]:
    """Verify and load P; return (T = M∘P in eval mode on `device`, M frozen; P's sidecar).

    M is the checkpoint at `target_path` (itself verified by `load_checkpoint`), which must be
    the one P was trained for (same weights_sha256); for "stack", M's architecture comes from
    it and its weights are the stored trained copy. Raises CheckpointError when a file is
    missing, a hash or an `expected` value differs, or the weights do not fit exactly.
    """
    weights = weights_path(path)
    sidecar = verified_sidecar(
        path, _SIDECAR_KEYS, expected, missing_hint="build the defense first"
    )
    target, target_sidecar = load_checkpoint(target_path, device=device)
    if target_sidecar["weights_sha256"] != sidecar["target_weights_sha256"]:
        raise CheckpointError(
            f"{weights} was trained in front of the target with weights_sha256 "
            f"{sidecar['target_weights_sha256']} ({sidecar['target_name']!r}), but "
            f"{weights_path(target_path)} has {target_sidecar['weights_sha256']} "
            f"({target_sidecar.get('name')!r}): pass the target it was built for, or rebuild it"
        )
    for key in ("in_channels", "image_size"):
        if target_sidecar[key] != sidecar[key]:
            raise CheckpointError(
                f"{weights}: {key} {sidecar[key]!r} differs from the target's "
                f"{target_sidecar[key]!r} ({weights_path(target_path)})"
            )
    try:
        component = build_component(
            sidecar["component"],
            sidecar["in_channels"],
            sidecar["image_size"],
            dropout=sidecar["dropout"],
        )
    except ValueError as error:
        raise CheckpointError(f"{weights}: cannot rebuild the component ({error})") from error
    state = read_state(weights)
    own = {key: value for key, value in state.items() if not key.startswith(TARGET_PREFIX)}
    copy = {
        key[len(TARGET_PREFIX) :]: value
        for key, value in state.items()
        if key.startswith(TARGET_PREFIX)
    }
    stack = sidecar["approach"] == "stack"
    if stack != bool(copy):
        raise CheckpointError(
            f"{weights}: approach {sidecar['approach']!r} but the file "
            f"{'lacks' if stack else 'holds'} {TARGET_PREFIX}* weights; delete it and re-run"
        )
    try:
        component.load_state_dict(own, strict=True)
        if stack:
            target.load_state_dict(copy, strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"{weights}: weights do not fit component {sidecar['component']!r} "
            f"(target {weights_path(target_path)}): {error}"
        ) from error
    model = AugmentedModel(component.to(device), target.to(device), freeze_target=True)
    return model.eval(), sidecar
