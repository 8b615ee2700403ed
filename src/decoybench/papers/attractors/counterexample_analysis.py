"""Trapdoor counter-example of Zhang, Chang & Lee (arXiv:2003.02732), Sec. VI-C1: Figure 6.

On clean inputs, the 1-norms of the two terms of Eq. 1, N1 = D·W and N2 = (1 − D)·C
(signals (2) and (1) of the paper's Fig. 3), and of the two parts of the attacker's input
gradient ∇ₓ J, J = −log M_y(x), that flow through them: M1 = ∇ₓ J((ω, κ), x, y) (through
N1) and M2 = ∇ₓ J((π, κ), x, y) (through N2). The paper's point: M2 dominates, so a gradient
attack on M behaves as on the victim and ignores the trapdoors. Also measured: the training
goals of Sec. IV-C (M as accurate as C on clean inputs; x + Δ_t classified as t).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from decoybench.data import load_split, read_manifest
from decoybench.io import write_npz
from decoybench.models.checkpoint import load_checkpoint
from decoybench.papers.attractors.counterexample import TrapdoorConfig, WeightedSumTrapdoorModel
from decoybench.papers.attractors.gradient_split import l1_per_sample, split_gradient
from decoybench.runtime import to_float

__all__ = [
    "MAGNITUDES",
    "MODEL_SETTINGS",
    "gradient_parts",
    "measure_trapdoor_counterexample",
    "trapdoor_magnitudes",
]

MAGNITUDES = ("N1_l1", "N2_l1", "M1_l1", "M2_l1")
_FIXED = ("num_classes", "input_shape", "seed")  # from the victim, the data and the job seed
MODEL_SETTINGS = tuple(f.name for f in fields(TrapdoorConfig) if f.name not in _FIXED)


def _summed(first: Tensor, second: Tensor) -> Tensor:
    return first + second


def gradient_parts(model: WeightedSumTrapdoorModel, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Chain-rule split of ∇ₓ J, J = −log M_y(x) (Eq. 1), shaped like x: (through N1 = M1,
    through N2 = M2).

    The part through N1 differentiates J with N2(x) held constant, the part through N2 with
    N1(x) held constant; M = N1 + N2, so the parts sum to the full gradient
    (`split_gradient`). D enters both parts (N1 = D·W, N2 = (1 − D)·C), as the parameters
    (ω, κ) and (π, κ) of the paper's two networks.
    """
    _, _, first, second = split_gradient(model.components, _summed, x, y)
    return first, second


def trapdoor_magnitudes(
    model: WeightedSumTrapdoorModel, x: Tensor, y: Tensor
) -> dict[str, np.ndarray]:
    """Fig. 6 per input: ‖N1‖₁ (= D, as ‖W‖₁ = 1), ‖N2‖₁ (= 1 − D), ‖M1‖₁ and ‖M2‖₁."""
    trapdoor, victim, first, second = split_gradient(model.components, _summed, x, y)
    return {
        "N1_l1": l1_per_sample(trapdoor),
        "N2_l1": l1_per_sample(victim),
        "M1_l1": l1_per_sample(first),
        "M2_l1": l1_per_sample(second),
    }


def _numpy(tensor: Tensor) -> np.ndarray:
    return tensor.detach().cpu().to(torch.float64).numpy()


def _model_constants(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The TrapdoorConfig constants named in settings (others keep their defaults)."""
    unknown = sorted(set(settings) - set(MODEL_SETTINGS))
    if unknown:
        allowed = ", ".join(MODEL_SETTINGS)
        raise ValueError(f"unknown trapdoor setting(s) {', '.join(unknown)}; allowed: {allowed}")
    return {
        key: str(value) if key == "reference" else float(value) for key, value in settings.items()
    }


@torch.no_grad()
def _training_goals(model: WeightedSumTrapdoorModel, x: Tensor, y: Tensor) -> dict[str, np.ndarray]:
    """Per input: argmax C and argmax M on x, D(x), and for every class t ≠ y, argmax M and D
    on x + Δ_t (columns t; −1 and nan at t = y)."""
    classes = model.config.num_classes
    prediction = torch.full((len(x), classes), -1, dtype=torch.int64, device=x.device)
    detected = torch.full((len(x), classes), math.nan, dtype=torch.float64, device=x.device)
    for target in range(classes):
        embedded = model.embed_trapdoor(x, target)
        other = y != target
        prediction[other, target] = model.probabilities(embedded).argmax(dim=1)[other]
        detected[other, target] = model.detect(embedded).to(torch.float64)[other]
    return {
        "victim_prediction": model.victim(x).argmax(dim=1).cpu().numpy(),
        "model_prediction": model.probabilities(x).argmax(dim=1).cpu().numpy(),
        "detector_clean": _numpy(model.detect(x)),
        "embedded_prediction": prediction.cpu().numpy(),
        "embedded_detector": detected.cpu().numpy(),
    }


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else math.nan


def _summary(arrays: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Training goals (Sec. IV-C) and the medians of the Fig. 6 magnitudes."""
    label = arrays["label"]
    wanted = np.arange(arrays["embedded_prediction"].shape[1])[None, :]
    embedded = arrays["embedded_prediction"] >= 0  # t ≠ y
    hits = (arrays["embedded_prediction"] == wanted) & embedded
    detector = arrays["embedded_detector"][embedded]
    ratio = arrays["M1_l1"] / np.where(arrays["M2_l1"] > 0, arrays["M2_l1"], np.nan)
    return {
        "n_samples": float(len(label)),
        "clean_accuracy_victim": float(np.mean(arrays["victim_prediction"] == label)),
        "clean_accuracy_model": float(np.mean(arrays["model_prediction"] == label)),
        "clean_agreement": float(
            np.mean(arrays["model_prediction"] == arrays["victim_prediction"])
        ),
        "trapdoor_success_rate": float(hits.sum() / embedded.sum()),
        "mean_detector_clean": float(np.mean(arrays["detector_clean"])),
        "max_detector_clean": float(np.max(arrays["detector_clean"])),
        "mean_detector_embedded": float(np.mean(detector)),
        "min_detector_embedded": float(np.min(detector)),
        **{f"median_{key}": _median(arrays[key]) for key in MAGNITUDES},
        "median_M1_over_M2": _median(ratio),
    }


def measure_trapdoor_counterexample(
    *,
    victim_path: str | Path,
    data_dir: str | Path,
    out: str | Path,
    device: Any,
    n_samples: int | None,
    batch_size: int,
    seed: int,
    settings: Mapping[str, Any],
) -> dict[str, float]:
    """Fig. 6 and the Sec. IV-C training goals on the first `n_samples` test images (None:
    all), batch by batch, for the Eq. 1 model around the victim checkpoint (checked against
    the dataset); trapdoor patterns seeded with `seed`.

    `settings`: TrapdoorConfig constants (MODEL_SETTINGS; absent ones keep their defaults).
    Writes `out` (.npz, atomically): per input label, victim_prediction, model_prediction,
    detector_clean, the four MAGNITUDES (on clean inputs), embedded_prediction and
    embedded_detector ((N, n): argmax M and D on x + Δ_t, −1 / nan at t = y); the scalars
    amplitude, mask_fraction, temperature, threshold, sharpness, reference and seed. Returns
    the summary: clean accuracies of C and M, their agreement, the share of (x, t ≠ y)
    with M(x + Δ_t) = t, mean / extreme D on clean and embedded inputs, the medians of the
    magnitudes and of M1/M2.
    """
    if (n_samples is not None and n_samples < 1) or batch_size < 1:
        raise ValueError("n_samples and batch_size must be at least 1")
    constants = _model_constants(settings)
    fingerprint = read_manifest(data_dir)["fingerprint"]
    victim, sidecar = load_checkpoint(
        victim_path, device=str(device), expected={"data_sha256": fingerprint}
    )
    test = load_split(data_dir, "test")
    config = TrapdoorConfig(
        num_classes=int(sidecar["num_classes"]),
        input_shape=tuple(int(size) for size in test.images.shape[1:]),
        seed=int(seed),
        **constants,
    )
    model = WeightedSumTrapdoorModel(victim, config).to(device).eval()
    count = len(test.labels) if n_samples is None else min(n_samples, len(test.labels))
    images, labels = test.images[:count], torch.as_tensor(test.labels[:count])
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, count, batch_size):
        x = to_float(images[start : start + batch_size], device)
        y = labels[start : start + batch_size].to(x.device)
        batch = {"label": y.cpu().numpy(), **trapdoor_magnitudes(model, x, y)}
        batch.update(_training_goals(model, x, y))
        for key, values in batch.items():
            parts.setdefault(key, []).append(values)
    arrays = {key: np.concatenate(values) for key, values in parts.items()}
    for key in MODEL_SETTINGS:
        value = getattr(config, key)
        arrays[key] = np.asarray(value if key == "reference" else float(value))
    arrays["seed"] = np.asarray(int(seed))
    write_npz(out, arrays)
    return _summary(arrays)
