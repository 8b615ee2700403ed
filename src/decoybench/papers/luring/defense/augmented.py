"""The augmented model T = M∘P (Sec. 2.3, Bernhard et al., 2021) and its agreement with M
(prediction neutrality; Table 8's AGREE, item 12 of `decoybench.papers.luring.defense`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from decoybench.metrics import Rate
from decoybench.models.training import predict

__all__ = ["AugmentedModel", "agreement"]


class AugmentedModel(nn.Module):
    """T = M∘P: `forward(x)` = M's logits on P(x).

    With `freeze_target` (the default, every approach but Stack) M's parameters get
    requires_grad False and M stays in eval mode when the wrapper is put in train mode; the
    caller's M is frozen in place.
    """

    def __init__(self, component: nn.Module, target: nn.Module, *, freeze_target: bool = True):
        super().__init__()
        self.component = component
        self.target = target
        self.freeze_target = freeze_target
        if freeze_target:
            target.requires_grad_(False)
            target.eval()

    def train(self, mode: bool = True) -> AugmentedModel:
        super().train(mode)
        if self.freeze_target:
            self.target.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Logits h^{M∘P}(x), shape (N, num_classes)."""
        return self.target(self.component(x))


def agreement(
    model_a: nn.Module,
    model_b: nn.Module,
    images: Tensor,
    batch_size: int = 500,
    *,
    labels: Tensor | None = None,
) -> Rate:
    """Share of `images` on which both models (put in eval mode) predict the same label.

    With `labels`: the share on which both predict the true label, Table 8's AGREE (item 12).
    Reported beside each model's accuracy, `decoybench.metrics.accuracy`.
    """
    model_a.eval()
    model_b.eval()
    first, second = predict(model_a, images, batch_size), predict(model_b, images, batch_size)
    same = first == second
    if labels is not None:
        same &= first == torch.as_tensor(labels).reshape(-1)
    return Rate.of(same)
