"""Classifier architectures of the three papers, their registry, and safetensors checkpoints."""

from decoybench.models.architectures import (
    ARCHITECTURES,
    Classifier,
    DeepsecMnistCnn,
    DeepsecResNet20,
    LuringCifar10Cnn,
    LuringMnistCnn,
    LuringSvhnCnn,
    MultitaskOracle,
    MultitaskSubstituteCifar10,
    MultitaskSubstituteMnist,
    build_model,
)
from decoybench.models.checkpoint import (
    REQUIRED_METADATA,
    CheckpointError,
    load_checkpoint,
    read_sidecar,
    save_checkpoint,
    sidecar_path,
    weights_path,
)

__all__ = [
    "ARCHITECTURES",
    "REQUIRED_METADATA",
    "CheckpointError",
    "Classifier",
    "DeepsecMnistCnn",
    "DeepsecResNet20",
    "LuringCifar10Cnn",
    "LuringMnistCnn",
    "LuringSvhnCnn",
    "MultitaskOracle",
    "MultitaskSubstituteCifar10",
    "MultitaskSubstituteMnist",
    "build_model",
    "load_checkpoint",
    "read_sidecar",
    "save_checkpoint",
    "sidecar_path",
    "weights_path",
]
