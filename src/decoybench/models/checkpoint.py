"""Pickle-free model checkpoints: `X.safetensors` weights plus a `X.json` sidecar.

The sidecar records how to rebuild the model (architecture and shape), provenance (dataset,
seed, config hash, data hash, accuracy) and the SHA-256 of the weights file, which
`load_checkpoint` verifies before trusting the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from decoybench.io import atomic_path, read_json, sha256_file, write_json
from decoybench.models.architectures import build_model

__all__ = [
    "REQUIRED_METADATA",
    "CheckpointError",
    "cpu_state",
    "load_checkpoint",
    "read_sidecar",
    "read_state",
    "save_checkpoint",
    "sidecar_path",
    "verified_sidecar",
    "weights_path",
    "write_weights_and_sidecar",
]

REQUIRED_METADATA: tuple[str, ...] = ("architecture", "in_channels", "image_size", "num_classes")


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupted, or does not match what the caller expected."""


def _stem_path(path: str | Path) -> Path:
    """The checkpoint path without a `.safetensors`/`.json` suffix (other dots are kept)."""
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".safetensors", ".json") else path


def weights_path(path: str | Path) -> Path:
    """The `.safetensors` file of a checkpoint given either of its two paths (or the stem)."""
    stem = _stem_path(path)
    return stem.with_name(stem.name + ".safetensors")


def sidecar_path(path: str | Path) -> Path:
    """The `.json` sidecar of a checkpoint given either of its two paths (or the stem)."""
    stem = _stem_path(path)
    return stem.with_name(stem.name + ".json")


def save_checkpoint(path: str | Path, model: nn.Module, metadata: dict[str, Any]) -> dict[str, Any]:
    """Write the model's weights and sidecar atomically; return the sidecar dict.

    `metadata` must hold at least architecture, in_channels, image_size and num_classes
    (ValueError otherwise); `weights_sha256` and `format` are added.
    """
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ValueError(f"checkpoint metadata is missing required key(s): {', '.join(missing)}")
    return write_weights_and_sidecar(path, cpu_state(model), metadata, "safetensors")


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict as contiguous CPU tensors, ready for safetensors."""
    state = model.state_dict()
    return {name: tensor.detach().to("cpu").contiguous() for name, tensor in state.items()}


def write_weights_and_sidecar(
    path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any], file_format: str
) -> dict[str, Any]:
    """Write `tensors` as safetensors, then the sidecar (`metadata`, the weights' SHA-256 and
    `format`), each atomically; if the sidecar cannot be written, the new weights file is
    removed again, so no checkpoint is left half-written. Returns the sidecar dict."""
    weights = weights_path(path)
    with atomic_path(weights) as temporary:
        save_file(tensors, str(temporary))
    sidecar = {**metadata, "weights_sha256": sha256_file(weights), "format": file_format}
    try:
        write_json(sidecar_path(weights), sidecar)
    except BaseException:
        weights.unlink(missing_ok=True)
        raise
    return sidecar


def read_state(weights: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file on the CPU; CheckpointError if it is unreadable."""
    try:
        return load_file(str(weights), device="cpu")
    except Exception as error:  # safetensors raises its own error types on bad headers
        raise CheckpointError(f"{weights}: unreadable safetensors file ({error})") from error


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint's JSON sidecar (`path` may be the .safetensors or the .json)."""
    sidecar = sidecar_path(path)
    if not sidecar.exists():
        raise CheckpointError(
            f"{sidecar}: checkpoint sidecar does not exist; train the model first"
        )
    try:
        value = read_json(sidecar)
    except ValueError as error:
        raise CheckpointError(str(error)) from error
    if not isinstance(value, dict):
        raise CheckpointError(f"{sidecar}: sidecar is not a JSON object; delete it and re-run")
    return value


def verified_sidecar(
    path: str | Path,
    required: tuple[str, ...],
    expected: dict[str, Any] | None = None,
    *,
    missing_hint: str = "train the model first",
) -> dict[str, Any]:
    """The sidecar of the checkpoint at `path`, once its weights exist, it holds `required`
    and `weights_sha256`, the weights' SHA-256 matches, and each `expected` key equals the
    sidecar's value; CheckpointError naming the file otherwise."""
    weights = weights_path(path)
    sidecar = read_sidecar(path)
    if not weights.exists():
        raise CheckpointError(f"{weights}: checkpoint weights do not exist; {missing_hint}")
    missing = [key for key in (*required, "weights_sha256") if key not in sidecar]
    if missing:
        raise CheckpointError(
            f"{sidecar_path(path)}: sidecar lacks key(s) {', '.join(missing)}; delete the "
            "checkpoint and re-run"
        )
    found = sha256_file(weights)
    if found != sidecar["weights_sha256"]:
        raise CheckpointError(
            f"{weights}: SHA-256 mismatch (expected {sidecar['weights_sha256']}, found {found}): "
            "the file is corrupted or was replaced; delete it and re-run"
        )
    for key, value in (expected or {}).items():
        if key not in sidecar:
            raise CheckpointError(
                f"{weights}: sidecar has no {key!r}, expected {value!r}; delete it and re-run"
            )
        if sidecar[key] != value:
            raise CheckpointError(
                f"{weights}: {key} mismatch (expected {value!r}, checkpoint has "
                f"{sidecar[key]!r}): it was trained for something else; delete it and re-run"
            )
    return sidecar


def load_checkpoint(
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    expected: dict[str, Any] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Verify and load a checkpoint; return (model in eval mode on `device`, sidecar).

    Raises CheckpointError when a file is missing, the weights' SHA-256 differs from the
    sidecar's, a key of `expected` differs from the sidecar's value, or the weights do not
    match the architecture exactly.
    """
    weights = weights_path(path)
    sidecar = verified_sidecar(path, REQUIRED_METADATA, expected)

    try:
        model = build_model(
            sidecar["architecture"],
            in_channels=sidecar["in_channels"],
            image_size=sidecar["image_size"],
            num_classes=sidecar["num_classes"],
        )
    except ValueError as error:
        raise CheckpointError(f"{weights}: cannot rebuild the model ({error})") from error
    state = read_state(weights)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"{weights}: weights do not fit architecture {sidecar['architecture']!r} ({error})"
        ) from error
    return model.to(device).eval(), sidecar
