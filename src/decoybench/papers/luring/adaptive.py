"""Luring's detection as an attacker given M differentiates it (issue 16; outside the
paper's threat model, Sec. 4.1): x is flagged when argmax M(x) ≠ argmax T(x), T = M∘P."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DisagreementDetector:
    """A label check, so `fpr_target` is nan (clean rejections are measured). `margin(x)` =
    max_{j≠m} T_j(x) − T_m(x) with m = argmax M(x) chosen in the forward pass (a constant
    for the gradient): > 0 exactly where M and T disagree, ties aside."""

    fpr_target = float("nan")

    def __init__(self, hidden: nn.Module, public: nn.Module) -> None:
        self.hidden, self.public = hidden, public

    def margin(self, x: Tensor) -> Tensor:
        chosen = self.hidden(x).argmax(dim=1).view(-1, 1)
        public = self.public(x)
        own = public.gather(1, chosen).squeeze(1)
        return public.scatter(1, chosen, float("-inf")).amax(dim=1) - own

    def score(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.margin(x).detach().cpu()

    def is_adversarial(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return (self.hidden(x).argmax(dim=1) != self.public(x).argmax(dim=1)).cpu()
