"""An ensemble crafting model for transfer attacks (`settings.<name>.ensemble_with_public`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class LogitEnsemble(nn.Module):
    """The mean of its members' logits: one model an attack differentiates to craft on every
    member at once, so its x' transfer better (Liu, Chen, Liu & Song, ICLR 2017, "Delving
    into transferable adversarial examples and black-box attacks", Sec. 5: ensembles of
    models; Dong et al., CVPR 2018, Sec. 3.2, average the logits).

    Averaging logits is averaging log-softmax: they differ per member by a constant over
    the classes, so the ensemble's argmax, margins and softmax are the same either way.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("LogitEnsemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)
