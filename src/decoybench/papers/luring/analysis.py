"""Luring paper (Bernhard, Moellic & Dutertre 2021): the per-image measurements behind
Appendix D.3 (Eq. 5, Table 10) and Figure 3 (right, saliency maps).

* Ω_c (Eq. 5) between the target M and each augmented model T = M∘P, per example and class,
  on the first test images that M and every T classify right (Appendix D.3: "1000 test set
  examples correctly classified by all the models"). The Table 10 proportions are computed
  from these counts by `decoybench.papers.luring.logits_analysis.luring_dominance_rates`.
* Fig. 3 (right): for the first few of those images, the gradient of M's cross-entropy loss
  with respect to the input ("(top) clean image and gradient of the cross-entropy loss") and,
  for each augmented model, the "mapping gradient ∇x P(x)" (bottom row).

The paper does not say how it reduces the Jacobian ∇x P(x) (shape d × d) to one image. We
take ∇x Σ_d P(x)_d, the vector-Jacobian product with a vector of ones: each input value's
summed effect on every output value of P.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from decoybench.data import load_split, read_manifest
from decoybench.io import write_npz
from decoybench.models.checkpoint import load_checkpoint
from decoybench.models.training import predict
from decoybench.papers.luring.checkpoint import load_augmented
from decoybench.papers.luring.defense.augmented import AugmentedModel
from decoybench.papers.luring.logits_analysis import logit_gradients, opposite_effect_counts
from decoybench.runtime import to_float

__all__ = [
    "analyze_luring",
    "cross_entropy_saliency",
    "mapping_saliency",
    "select_correct",
]

logger = logging.getLogger(__name__)


def cross_entropy_saliency(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Fig. 3 (right, top): ∇x CE(model(x), y) per input, shaped like x.

    The loss is summed over the batch, so each row is that input's own gradient (the model
    runs in eval mode). Parameter .grad fields are left untouched.
    """
    was_training = model.training
    model.eval()
    try:
        inputs = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            loss = F.cross_entropy(model(inputs), y.to(inputs.device), reduction="sum")
            (gradient,) = torch.autograd.grad(loss, inputs)
    finally:
        model.train(was_training)
    return gradient


def mapping_saliency(component: nn.Module, x: Tensor) -> Tensor:
    """Fig. 3 (right, bottom): the "mapping gradient ∇x P(x)", taken as ∇x Σ_d P(x)_d.

    The paper does not say how it reduces the Jacobian of P to one map; this is the
    vector-Jacobian product with ones (each input value's summed effect on P's output).
    Per input (P in eval mode: no batch statistics, no dropout), shaped like x.
    """
    was_training = component.training
    component.eval()
    try:
        inputs = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            (gradient,) = torch.autograd.grad(component(inputs).sum(), inputs)
    finally:
        component.train(was_training)
    return gradient


def select_correct(
    models: Mapping[str, nn.Module],
    images: np.ndarray,
    labels: np.ndarray,
    device: Any,
    *,
    n_samples: int | None,
    batch_size: int,
) -> tuple[np.ndarray, int]:
    """(indices, n_candidates): the first `n_samples` (None: all) images that every model
    classifies right, in test order, scanned batch by batch until enough are found.

    n_candidates is the number of leading test images that hold the selection: the index of
    the last selected image + 1 when `n_samples` were found (it does not depend on
    batch_size), else every image. Raises ValueError naming the models if none is right
    on all of them.
    """
    wanted = len(labels) if n_samples is None else n_samples
    found: list[np.ndarray] = []
    count = 0
    for start in range(0, len(labels), batch_size):
        x = to_float(images[start : start + batch_size], device)
        y = torch.as_tensor(labels[start : start + batch_size])
        correct = torch.ones(len(y), dtype=torch.bool)
        with torch.no_grad():
            for model in models.values():
                correct &= predict(model, x, batch_size) == y
        found.append(start + np.flatnonzero(correct.numpy()))
        count += int(correct.sum())
        if count >= wanted:
            break
    index = np.concatenate(found).astype(np.int64)[:wanted] if found else np.zeros(0, np.int64)
    if index.size == 0:
        raise ValueError(
            f"no test image is classified correctly by every model ({', '.join(models)}): "
            "Appendix D.3 needs images that M and every M∘P classify right"
        )
    n_candidates = int(index[-1]) + 1 if index.size == wanted else len(labels)
    return index, n_candidates


def _load_models(
    victim_path: str | Path,
    defense_paths: Mapping[str, str | Path],
    data_dir: str | Path,
    device: Any,
) -> tuple[nn.Module, dict[str, AugmentedModel], dict[str, str]]:
    """M (checked against the dataset) and each T = M∘P with its approach."""
    fingerprint = read_manifest(data_dir)["fingerprint"]
    expected = {"data_sha256": fingerprint}
    victim, _ = load_checkpoint(victim_path, device=str(device), expected=expected)
    victim.requires_grad_(False)
    augmented: dict[str, AugmentedModel] = {}
    approaches: dict[str, str] = {}
    for name, path in defense_paths.items():
        model, sidecar = load_augmented(path, victim_path, device=str(device), expected=expected)
        model.requires_grad_(False)
        augmented[name], approaches[name] = model, str(sidecar["approach"])
    return victim, augmented, approaches


def analyze_luring(
    *,
    victim_path: str | Path,
    defense_paths: Mapping[str, str | Path],
    data_dir: str | Path,
    out: str | Path,
    device: Any,
    n_samples: int | None = 1000,
    saliency_samples: int = 4,
    batch_size: int = 100,
) -> dict[str, float]:
    """Appendix D.3 (Eq. 5) counts and Fig. 3 (right) saliency maps, written to `out`.

    `defense_paths` maps each defense name to its luring checkpoint (the .json sidecar or the
    .safetensors), loaded in front of the victim M at `victim_path` (`load_augmented`). The
    first `n_samples` test images (None: all) that M and every T = M∘P classify right are
    kept (`select_correct`); on them, for each defense d, Ω_c of Eq. 5 between M and T_d per
    example and class (`logit_gradients`, `opposite_effect_counts`; for Stack, T_d holds its
    trained copy of M, and Ω compares it with the original M). For the first
    `saliency_samples` of them: the image, ∇x CE(M(x), y) with y the true label (= M's
    prediction, since the images are classified right) and, per defense, ∇x Σ P(x)
    (`mapping_saliency`; the paper does not say how it reduces the Jacobian of P).

    Writes one .npz atomically with: index (N,) int64 test indices; defenses (D,) str, in the
    order given; approaches (D,) str; per defense d, omega__{d} (N, C) int64 and
    saliency__{d} (K, C_in, H, W) float32; saliency_target, saliency_images (K, C_in, H, W)
    float32; saliency_index (K,) int64; n_candidates (scalar: the leading test images the
    selection was drawn from). Returns {n_examples, n_candidates, mean_omega_{d} per defense}.
    """
    if not defense_paths:
        raise ValueError("analyze_luring needs at least one luring defense")
    if (n_samples is not None and n_samples < 1) or batch_size < 1 or saliency_samples < 0:
        raise ValueError("n_samples and batch_size must be >= 1, saliency_samples >= 0")
    names = list(defense_paths)
    victim, augmented, approaches = _load_models(victim_path, defense_paths, data_dir, device)
    test = load_split(data_dir, "test")
    index, n_candidates = select_correct(
        {"target": victim, **augmented},
        test.images,
        test.labels,
        device,
        n_samples=n_samples,
        batch_size=batch_size,
    )
    if n_samples is not None and len(index) < n_samples:
        logger.warning(
            "only %d of %d test images are classified right by M and every M∘P (%s); wanted %d",
            len(index),
            len(test.labels),
            ", ".join(names),
            n_samples,
        )
    logger.info("Eq. 5 on %d images (of the first %d test images)", len(index), n_candidates)

    omega = _omega_counts(victim, augmented, test.images[index], batch_size, device)
    shown = index[:saliency_samples]
    saliency = _saliency_arrays(victim, augmented, test.images[shown], test.labels[shown], device)
    arrays = {
        "index": index,
        "defenses": np.asarray(names, dtype=str),
        "approaches": np.asarray([approaches[name] for name in names], dtype=str),
        "saliency_images": saliency["saliency_images"],
        "saliency_target": saliency["saliency_target"],
        "saliency_index": shown.astype(np.int64),
        "n_candidates": np.asarray(n_candidates, dtype=np.int64),
    }
    summary = {"n_examples": float(len(index)), "n_candidates": float(n_candidates)}
    for name in names:  # the stored order: omega__{d}, then saliency__{d}, per defense
        arrays[f"omega__{name}"] = omega[name]
        arrays[f"saliency__{name}"] = saliency[f"saliency__{name}"]
        summary[f"mean_omega_{name}"] = float(omega[name].mean())
    write_npz(out, arrays)
    return summary


def _omega_counts(
    victim: nn.Module,
    augmented: Mapping[str, AugmentedModel],
    images: np.ndarray,
    batch_size: int,
    device: Any,
) -> dict[str, np.ndarray]:
    """Ω_c of Eq. 5 between M and each T = M∘P, (N, C) int64 per defense, batch by batch."""
    omega: dict[str, list[np.ndarray]] = {name: [] for name in augmented}
    for start in range(0, len(images), batch_size):
        x = to_float(images[start : start + batch_size], device)
        grad_target = logit_gradients(victim, x, batch_size=batch_size)
        for name, model in augmented.items():
            grad_augmented = logit_gradients(model, x, batch_size=batch_size)
            omega[name].append(opposite_effect_counts(grad_target, grad_augmented))
    return {name: np.concatenate(counts).astype(np.int64) for name, counts in omega.items()}


def _saliency_arrays(
    victim: nn.Module,
    augmented: Mapping[str, AugmentedModel],
    images: np.ndarray,
    labels: np.ndarray,
    device: Any,
) -> dict[str, np.ndarray]:
    """Fig. 3 (right) on the shown images: saliency_images, saliency_target (∇x CE of M) and
    saliency__{d} (∇x Σ P(x) of each defense), float32 (zeros shaped like x when none)."""
    x = to_float(images, device)
    y = torch.as_tensor(labels, dtype=torch.int64)

    def as_array(tensor: Tensor) -> np.ndarray:
        return tensor.detach().cpu().numpy().astype(np.float32)

    def saliency(compute: Any, *args: Any) -> np.ndarray:
        return as_array(compute(*args)) if len(images) else as_array(torch.zeros_like(x))

    arrays = {
        "saliency_images": as_array(x),
        "saliency_target": saliency(cross_entropy_saliency, victim, x, y),
    }
    for name, model in augmented.items():
        arrays[f"saliency__{name}"] = saliency(mapping_saliency, model.component, x)
    return arrays
