"""Differentiable re-expressions of the LID and Trapdoor scores, for adaptive attacks (issue
16; `decoybench.defenses.system.AttackableDetector`: an attacker who knows the detector's
weights and threshold descends its margin). Each equals the detector's `score(x)` to float
rounding, as a float64 tensor on x's device with its autograd graph kept.

- LID (Ma et al., ICLR 2018): the per-layer MLE of `lid.lid_mle` over the stored clean
  reference batch (`LIDDetector.features`), then the fitted standardiser and logistic
  regression in torch; the score is the regression's probability of adversarial, as in
  `LIDDetector.score`. The choice of the k nearest neighbours is piecewise constant: it is
  made in the forward pass (exactly as `lid_mle` makes it) and held fixed, the distances to
  those neighbours carry the gradient. The reference's activations are constants. The
  probability is computed in float64, so its gradient vanishes only where it rounds to 0
  or 1 there (|logit| ≳ 37).
- Trapdoor (Shan et al., CCS 2020): cos(h(x), S_ŷ) with ŷ = argmax f(x) chosen in the
  forward pass and treated as a constant (argmax has no gradient; the attacker moves h(x)
  relative to the signature of the label x is predicted as now); −1, a constant, for a
  label without a signature, as in `TrapdoorDetector.score`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from decoybench.papers.baselines.detector import placement
from decoybench.papers.baselines.lid import LIDDetector, _distances, _layer_indices
from decoybench.papers.baselines.trapdoor import TrapdoorDetector, _activations

__all__ = ["lid_score", "trapdoor_score"]


def _chunked(x: Tensor, size: int, function: Callable[[Tensor], Tensor]) -> Tensor:
    """function over consecutive chunks of `size` rows of x (as the scores batch), joined."""
    parts = [function(x[start : start + size]) for start in range(0, len(x), size)]
    if not parts:
        return x.new_zeros(0, dtype=torch.float64)
    return torch.cat(parts).to(device=x.device, dtype=torch.float64)


def _hooked_activations(model: nn.Module, x: Tensor, indices: list[int]) -> list[Tensor]:
    """`lid._activations` with the graph kept: the chosen trunk outputs (cloned before an
    in-place ReLU overwrites them), flattened, then the logits."""
    children = list(model.trunk.children())
    captured: dict[int, Tensor] = {}
    handles = []
    for i in indices:

        def hook(_module: nn.Module, _inputs: Any, output: Tensor, i: int = i) -> None:
            captured[i] = output.flatten(1).clone()

        handles.append(children[i].register_forward_hook(hook))
    try:
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return [*(captured[i] for i in indices), logits.flatten(1)]


def _lid_column(query: Tensor, reference: Tensor, k: int) -> Tensor:
    """`lid_mle(query, reference, k)` (no self exclusion), differentiable in query: the
    neighbours are those `lid_mle` picks, their distances in its matrix-product form."""
    q = query.to(torch.float64)
    r = reference.detach().to(q.device, torch.float64)
    with torch.no_grad():
        dist = _distances(q.detach(), r)
        dist = torch.where(dist > 0, dist, torch.full_like(dist, torch.inf))  # duplicates
        nearest, index = dist.topk(k, dim=1, largest=False)
    valid = torch.isfinite(nearest)
    collapsed = ~valid[:, -1]  # fewer than k positive distances: LID 0, no gradient
    squared = q.pow(2).sum(dim=1, keepdim=True) + r.pow(2).sum(dim=1, keepdim=True).T
    squared = (squared - 2.0 * (q @ r.T)).gather(1, index)
    keep = valid & ~collapsed.unsqueeze(1)
    # Picked distances are > 1e-6·norm > 0, so the square root's gradient is finite.
    distances = torch.where(keep, squared.where(keep, 1.0).clamp_min(0.0).sqrt(), 1.0)
    mean_log = torch.log(distances / distances[:, -1:]).mean(dim=1)
    safe = torch.where(mean_log < 0, mean_log, -1.0)
    lid = torch.where(mean_log < 0, -1.0 / safe, torch.inf)
    return torch.where(collapsed, 0.0, lid)


def _regression(detector: LIDDetector) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(mean, scale, coef, intercept) of the fitted standardiser and logistic regression,
    float64: scikit-learn's (`mean_`, `coef_`, ...) or the frozen torch form's."""

    def fitted(owner: Any, name: str) -> Tensor:
        value = getattr(owner, f"{name}_") if hasattr(owner, f"{name}_") else getattr(owner, name)
        return torch.as_tensor(value, dtype=torch.float64).reshape(-1)

    scaler, classifier = detector.scaler, detector.classifier
    return (
        fitted(scaler, "mean"),
        fitted(scaler, "scale"),
        fitted(classifier, "coef"),
        fitted(classifier, "intercept"),
    )


def lid_score(detector: LIDDetector, x: Tensor, reference: Tensor | None = None) -> Tensor:
    """`LIDDetector.score(x, reference)` in torch, differentiable in x (module docstring)."""
    if detector.classifier is None or detector.reference is None:
        raise ValueError("lid: call fit before score")
    reference = detector.reference if reference is None else reference
    if reference.shape[0] < detector.k:
        raise ValueError(f"k={detector.k} needs a reference of at least k images")
    model = detector.model
    indices = _layer_indices(model, detector.layers)
    device, _ = placement(model)
    mean, scale, coef, intercept = (value.to(device) for value in _regression(detector))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ref_acts = _hooked_activations(model, reference.to(device), indices)

        def chunk_score(batch: Tensor) -> Tensor:
            acts = _hooked_activations(model, batch.to(device), indices)
            columns = [
                _lid_column(xa, ra, detector.k) for xa, ra in zip(acts, ref_acts, strict=True)
            ]
            features = torch.stack(columns, dim=1)
            if not torch.isfinite(features).all():
                raise ValueError("non-finite LID (equidistant neighbours)")
            return torch.sigmoid(((features - mean) / scale) @ coef + intercept)

        return _chunked(x, detector.batch_size, chunk_score)
    finally:
        model.train(was_training)


def trapdoor_score(detector: TrapdoorDetector, x: Tensor) -> Tensor:
    """`TrapdoorDetector.score(x)` in torch, differentiable in x; the predicted label is
    argmax f(x) of the forward pass, a constant (module docstring)."""
    model = detector.model.eval()
    device, dtype = placement(model)
    labels = sorted(detector.signatures)
    signatures = torch.stack([detector.signatures[label] for label in labels])
    signatures = signatures.to(device, torch.float64)
    known = torch.tensor(labels, device=device)

    def chunk_score(batch: Tensor) -> Tensor:
        hidden, logits = _activations(model, batch.to(device=device, dtype=dtype), detector.layer)
        hidden = hidden.to(torch.float64)
        predicted = logits.detach().argmax(dim=1)
        matches = predicted.unsqueeze(1) == known  # (N, labels with a signature)
        has_signature = matches.any(dim=1)
        reference = signatures[matches.long().argmax(dim=1)]
        cosine = F.cosine_similarity(hidden, reference, dim=1, eps=1e-12)
        return torch.where(has_signature, cosine, -1.0)

    return _chunked(x, detector.batch_size, chunk_score)
