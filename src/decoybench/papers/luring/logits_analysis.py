"""Luring paper (Bernhard, Moellic & Dutertre 2021), Appendix D.3: logits analysis, Eq. 5.

For each example and each class c, Ω_c = |{d : ∂ℓ_c/∂x_d · ∂ℓP_c/∂x_d < 0}|, with ℓ_c the
logit of class c of M and ℓP_c that of M∘P: the number of input values whose gradient pushes
the two logits in opposite directions. Ω_c is a per-example count, not averaged: Table 10 is,
per class, the proportion of the 1000 examples (correctly classified by M and every M∘P) on
which Ω_c is higher for the Luring approach than for the other approaches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from decoybench.metrics import Rate

__all__ = ["logit_gradients", "luring_dominance_rates", "opposite_effect_counts"]


def logit_gradients(
    model: nn.Module,
    x: Tensor,
    class_index: int | Sequence[int] | None = None,
    *,
    batch_size: int = 256,
) -> Tensor:
    """∇ₓ h_c(x) by autograd, h the logits of `model` (M, or M∘P as one module).

    `class_index` None gives every class, shape (N, C, *x.shape[1:]); a sequence gives
    (N, len(classes), ...); an int gives (N, *x.shape[1:]). Batched: the gradient of
    Σ_i h_c(x_i) with respect to the batch, which is per-example because the model runs in
    eval mode (no batch statistics, no dropout; its mode is restored afterwards). No
    randomness is involved; parameter .grad fields are left untouched.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    was_training = model.training
    model.eval()
    chunks = []
    try:
        for chunk in x.split(batch_size):
            inputs = chunk.detach().clone().requires_grad_(True)
            with torch.enable_grad():
                logits = model(inputs)
                if logits.ndim != 2 or logits.shape[0] != inputs.shape[0]:
                    raise ValueError(f"expected logits of shape (N, C), got {tuple(logits.shape)}")
                classes = _classes(class_index, logits.shape[1])
                grads = [
                    torch.autograd.grad(
                        logits[:, c].sum(), inputs, retain_graph=k < len(classes) - 1
                    )[0]
                    for k, c in enumerate(classes)
                ]
            chunks.append(torch.stack(grads, dim=1))
    finally:
        model.train(was_training)
    gradients = torch.cat(chunks)
    return gradients[:, 0] if isinstance(class_index, int) else gradients


def _classes(class_index: int | Sequence[int] | None, num_classes: int) -> list[int]:
    if class_index is None:
        return list(range(num_classes))
    classes = [class_index] if isinstance(class_index, int) else list(class_index)
    if not classes or any(not 0 <= c < num_classes for c in classes):
        raise ValueError(f"class_index {class_index!r} not within {num_classes} classes")
    return classes


def _as_array(values: Any) -> np.ndarray:
    return np.asarray(values.detach().cpu() if hasattr(values, "detach") else values)


def opposite_effect_counts(grad_target: Any, grad_augmented: Any) -> np.ndarray:
    """Luring Eq. 5, Ω_c = |{d : ∂ℓ_c/∂x_d · ∂ℓP_c/∂x_d < 0}|, per example and class.

    Inputs: ∇ₓ h_c of M and of M∘P, shape (N, C, *input_shape) as `logit_gradients` gives.
    Returns int64 (N, C). d runs over every input value (each channel of each pixel for colour
    images; the paper says "pixels x_d"). The product's sign is taken as sign·sign, so tiny
    gradients cannot underflow to 0; a zero gradient on either side does not count.
    """
    target, augmented = _as_array(grad_target), _as_array(grad_augmented)
    if target.shape != augmented.shape:
        raise ValueError(f"shape mismatch: {target.shape} vs {augmented.shape}")
    if target.ndim < 3:
        raise ValueError(f"expected (N, C, *input_shape), got shape {target.shape}")
    opposite = np.sign(target) * np.sign(augmented) < 0
    return opposite.reshape(*target.shape[:2], -1).sum(axis=-1, dtype=np.int64)


def luring_dominance_rates(omega_luring: Any, omega_others: Mapping[str, Any]) -> list[Rate]:
    """Table 10: per class c, |{x : Ω_c^Luring(x) > Ω_c^A(x) for every other approach A}| / N.

    "The proportion of these examples for which Ω_c is higher for the Luring approach than
    for the other approaches": read as strictly higher than each of them; pass one approach
    in `omega_others` for a pairwise rate. Arrays are (N, C) from `opposite_effect_counts`.
    """
    luring = _as_array(omega_luring)
    if luring.ndim != 2 or not omega_others:
        raise ValueError("expected omega_luring of shape (N, C) and at least one other approach")
    dominates = np.ones(luring.shape, dtype=bool)
    for name, omega in omega_others.items():
        other = _as_array(omega)
        if other.shape != luring.shape:
            raise ValueError(f"{name}: shape {other.shape} vs Luring {luring.shape}")
        dominates &= luring > other
    return [Rate.of(dominates[:, c]) for c in range(luring.shape[1])]
