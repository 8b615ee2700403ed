"""The objectives P is trained with (Bernhard et al., 2021): the luring loss (Sec. 2.4, Eq. 2)
and the comparison approaches Stack, Auto and C.E (Sec. 3.1); items 1, 8-10 of
`decoybench.papers.luring.defense`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["B_CLASSES", "autoencoder_loss", "cross_entropy_loss", "luring_loss", "stack_loss"]

# Readings of class b in Eq. 2 (module docstring of the package, item 1); the first is the default.
B_CLASSES: tuple[str, ...] = ("best_other", "second_max")


def _best_other(logits: Tensor, excluded: Tensor) -> Tensor:
    """Per row, the class of the largest logit other than `excluded`."""
    mask = F.one_hot(excluded, logits.shape[1]).bool()
    return logits.masked_fill(mask, float("-inf")).argmax(dim=1)


def _second_max(logits: Tensor) -> Tensor:
    """Per row, the class of the second-largest logit (ties: the lower class first)."""
    return _best_other(logits, logits.argmax(dim=1))


def _pick(logits: Tensor, classes: Tensor) -> Tensor:
    return logits.gather(1, classes[:, None]).squeeze(1)


def luring_loss(
    augmented_logits: Tensor,
    target_logits: Tensor,
    luring_coefficient: float,
    b_class: str = "best_other",
) -> Tensor:
    """Eq. 2, batch mean: −λ(h_{M(x)}^{M∘P} − h_a^{M∘P}) + max(0, h_b^{M∘P} − h_{M(x)}^{M∘P}).

    `augmented_logits` h^{M∘P}(x) and `target_logits` h^M(x) are (N, C); M(x) = argmax h^M,
    a = argmax_{j≠M(x)} h^M_j. `b_class` picks b (package docstring, item 1):
    "best_other" b = argmax_{j≠M(x)} h^{M∘P}_j (default); "second_max" b = the class of the
    2nd max of h^{M∘P} (Alg. 1, line 6), i.e. argmax_{j≠c} h^{M∘P}_j with c = argmax h^{M∘P}
    (b = M(x) and the hinge 0 when M(x) is M∘P's runner-up). Gradients flow through
    `augmented_logits` only. λ ≥ 0 (the paper: λ > 0).
    """
    if b_class not in B_CLASSES:
        raise ValueError(f"b_class must be one of {', '.join(B_CLASSES)}, got {b_class!r}")
    if augmented_logits.dim() != 2 or augmented_logits.shape != target_logits.shape:
        raise ValueError(
            f"logits must be two (N, C) tensors of equal shape, got "
            f"{tuple(augmented_logits.shape)} and {tuple(target_logits.shape)}"
        )
    if augmented_logits.shape[1] < 2:
        raise ValueError("the luring loss needs at least two classes")
    if luring_coefficient < 0:
        raise ValueError(f"luring_coefficient must be >= 0, got {luring_coefficient!r}")
    reference = target_logits.detach()
    predicted = reference.argmax(dim=1)
    a = _best_other(reference, predicted)
    augmented = augmented_logits.detach()
    b = _best_other(augmented, predicted) if b_class == "best_other" else _second_max(augmented)
    top = _pick(augmented_logits, predicted)
    gap = top - _pick(augmented_logits, a)
    hinge = torch.clamp(_pick(augmented_logits, b) - top, min=0.0)
    return (-luring_coefficient * gap + hinge).mean()


def stack_loss(augmented_logits: Tensor, labels: Tensor) -> Tensor:
    """Stack (Sec. 3.1): cross-entropy of M∘P on the true labels."""
    return F.cross_entropy(augmented_logits, labels)


def autoencoder_loss(reconstruction: Tensor, images: Tensor) -> Tensor:
    """Auto (Sec. 3.1): binary cross-entropy between P(x) and x, mean over pixels."""
    return F.binary_cross_entropy(reconstruction, images)


def cross_entropy_loss(augmented_logits: Tensor, target_logits: Tensor) -> Tensor:
    """C.E (Sec. 3.1): cross-entropy of M∘P against M's predicted labels (item 10)."""
    return F.cross_entropy(augmented_logits, target_logits.detach().argmax(dim=1))
