"""The defended model of the multi-task defense: the auxiliary head Z′ and the gradient lock
g (Sec. III-C1, III-C3; item 4 of `decoybench.papers.multitask.defense`)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from decoybench.models.architectures import Classifier
from decoybench.papers.multitask.defense.classmap import Classmap

__all__ = ["GradientLock", "MultitaskModel", "MultitaskOutputs"]


class GradientLock(nn.Module):
    """g of Sec. III-C3: FC(K→H), ReLU, FC(H→K) on Z′; Z* = Z ⊙ g(Z′) (item 4)."""

    def __init__(self, num_classes: int, hidden: int) -> None:
        super().__init__()
        if hidden < 1:
            raise ValueError(f"lock_hidden must be a positive integer, got {hidden!r}")
        self.layers = nn.Sequential(
            nn.Linear(num_classes, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )
        nn.init.zeros_(self.layers[2].weight)
        nn.init.ones_(self.layers[2].bias)

    def forward(self, logits: Tensor, auxiliary_logits: Tensor) -> Tensor:
        return logits * self.layers(auxiliary_logits)


class MultitaskOutputs(NamedTuple):
    """The three logits of one forward pass: Z, Z′ and Z* (= Z without a gradient lock)."""

    logits: Tensor
    auxiliary: Tensor
    combined: Tensor


class MultitaskModel(nn.Module):
    """The defended oracle: `base` (trunk + head Z), the auxiliary head Z′ on the last hidden
    layer, an optional gradient lock g, and the Classmap as a buffer.

    `forward(x)` returns Z* (the classification output); `heads(x)` all three logits;
    `is_adversarial_of(outputs)` flags every (argmax Z*, argmax Z′) that is not a pair.
    """

    def __init__(self, base: Classifier, classmap: Classmap, lock_hidden: int | None) -> None:
        super().__init__()
        if classmap.num_classes != base.num_classes:
            raise ValueError(
                f"classmap has {classmap.num_classes} classes, the model {base.num_classes}"
            )
        self.base = base
        self.auxiliary = nn.Linear(base.feature_dim, base.num_classes)
        self.lock = None if lock_hidden is None else GradientLock(base.num_classes, lock_hidden)
        self.register_buffer("classmap", classmap.as_tensor())
        self.num_classes = base.num_classes

    def heads(self, x: Tensor) -> MultitaskOutputs:
        hidden = self.base.features(x)
        logits = self.base.head(hidden)
        auxiliary = self.auxiliary(hidden)
        combined = logits if self.lock is None else self.lock(logits, auxiliary)
        return MultitaskOutputs(logits, auxiliary, combined)

    def forward(self, x: Tensor) -> Tensor:
        return self.heads(x).combined

    def is_adversarial_of(self, outputs: MultitaskOutputs) -> Tensor:
        """Detection (Sec. III-C1): Classmap[argmax Z*] ≠ argmax Z′."""
        return self.classmap[outputs.combined.argmax(dim=1)] != outputs.auxiliary.argmax(dim=1)

    @torch.no_grad()
    def predict_with_detection(
        self, x: Tensor, batch_size: int = 500
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(argmax Z*, argmax Z′, detected) for a batch of inputs, on the CPU."""
        device = self.classmap.device
        main, auxiliary, detected = [], [], []
        for start in range(0, len(x), batch_size):
            outputs = self.heads(x[start : start + batch_size].to(device))
            main.append(outputs.combined.argmax(dim=1).cpu())
            auxiliary.append(outputs.auxiliary.argmax(dim=1).cpu())
            detected.append(self.is_adversarial_of(outputs).cpu())
        if not main:
            empty = torch.empty(0, dtype=torch.long)
            return empty, empty, torch.empty(0, dtype=torch.bool)
        return torch.cat(main), torch.cat(auxiliary), torch.cat(detected)
