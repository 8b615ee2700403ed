"""Pickle-free checkpoints of a defended multi-task model (Wang et al., 2019).

`X.safetensors` holds the whole `MultitaskModel` state (oracle trunk and head Z under
`base.`, Z′ under `auxiliary.`, the gradient lock under `lock.`, the Classmap buffer). The
`X.json` sidecar records how to rebuild it (the oracle's architecture and shape, the lock
width, the Classmap), the oracle checkpoint it was grown from (name and weights_sha256), the
recipe, the seed, the data hash and the SHA-256 of the weights file, which `load_multitask`
verifies before trusting the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from decoybench.models.architectures import build_model
from decoybench.models.checkpoint import (
    CheckpointError,
    cpu_state,
    load_checkpoint,
    read_state,
    verified_sidecar,
    weights_path,
    write_weights_and_sidecar,
)
from decoybench.papers.multitask.defense.classmap import Classmap
from decoybench.papers.multitask.defense.model import MultitaskModel

__all__ = ["FORMAT", "REQUIRED_METADATA", "load_multitask", "save_multitask"]

FORMAT = "safetensors-multitask"
REQUIRED_METADATA: tuple[str, ...] = (
    "oracle_weights_sha256",
    "oracle_name",
    "recipe",
    "seed",
    "data_sha256",
)
_SIDECAR_KEYS: tuple[str, ...] = (
    *REQUIRED_METADATA,
    "architecture",
    "in_channels",
    "image_size",
    "num_classes",
    "lock_hidden",
    "classmap",
    "weights_sha256",
    "format",
)


def save_multitask(
    path: str | Path, model: MultitaskModel, classmap: Classmap, metadata: dict[str, Any]
) -> dict[str, Any]:
    """Write the model's weights and sidecar atomically; return the sidecar dict.

    `metadata` must hold oracle_weights_sha256, oracle_name, recipe, seed and data_sha256
    (ValueError otherwise). If the sidecar cannot be written, the new weights file is removed.
    """
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ValueError(f"multitask metadata is missing required key(s): {', '.join(missing)}")
    if tuple(model.classmap.tolist()) != classmap.pairs:
        raise ValueError("the model's classmap buffer differs from the classmap given")
    base = model.base
    described = {
        "architecture": base.name,
        "in_channels": base.in_channels,
        "image_size": base.image_size,
        "num_classes": base.num_classes,
        "lock_hidden": None if model.lock is None else model.lock.layers[0].out_features,
        "classmap": classmap.to_dict(),
    }
    return write_weights_and_sidecar(path, cpu_state(model), {**metadata, **described}, FORMAT)


def load_multitask(
    path: str | Path,
    oracle_path: str | Path | None = None,
    *,
    device: str | torch.device = "cpu",
    expected: dict[str, Any] | None = None,
) -> tuple[MultitaskModel, dict[str, Any]]:
    """Verify and load the defended model (eval mode, on `device`) and its sidecar.

    With `oracle_path`, that checkpoint must be the oracle the model was grown from (same
    weights_sha256). Raises CheckpointError when a file is missing, a hash or an `expected`
    value differs, or the weights do not fit exactly.
    """
    weights = weights_path(path)
    sidecar = verified_sidecar(
        path, _SIDECAR_KEYS, expected, missing_hint="build the defense first"
    )
    if oracle_path is not None:
        _, oracle_sidecar = load_checkpoint(oracle_path, device="cpu")
        if oracle_sidecar["weights_sha256"] != sidecar["oracle_weights_sha256"]:
            raise CheckpointError(
                f"{weights} was grown from the oracle with weights_sha256 "
                f"{sidecar['oracle_weights_sha256']} ({sidecar['oracle_name']!r}), but "
                f"{weights_path(oracle_path)} has {oracle_sidecar['weights_sha256']}: pass the "
                "oracle it was built from, or rebuild the defense"
            )
    try:
        base = build_model(
            sidecar["architecture"],
            in_channels=sidecar["in_channels"],
            image_size=sidecar["image_size"],
            num_classes=sidecar["num_classes"],
        )
        classmap = Classmap.from_dict(sidecar["classmap"])
        model = MultitaskModel(base, classmap, sidecar["lock_hidden"])
    except ValueError as error:
        raise CheckpointError(f"{weights}: cannot rebuild the model ({error})") from error
    state = read_state(weights)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{weights}: weights do not fit the model ({error})") from error
    if tuple(model.classmap.tolist()) != classmap.pairs:
        raise CheckpointError(f"{weights}: the stored classmap differs from the sidecar's")
    return model.to(device).eval(), sidecar
