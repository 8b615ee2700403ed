"""The Classmap check as an adaptive attacker differentiates it (issue 16; Wang et al. 2019,
Sec. III-D): x is flagged when argmax Z′(x) ≠ classmap[argmax Z*(x)]."""

from __future__ import annotations

import torch
from torch import Tensor

from decoybench.papers.multitask.defense.model import MultitaskModel


class ClassmapDetector:
    """A label check, so no calibrated threshold: `fpr_target` is nan (the evaluation measures
    its clean rejections). `margin(x)` = max_{j≠p} Z′_j − Z′_p with p = classmap[argmax Z*]
    chosen in the forward pass (a constant for the gradient): > 0 exactly where flagged,
    ties aside."""

    fpr_target = float("nan")

    def __init__(self, model: MultitaskModel) -> None:
        self.model = model

    def margin(self, x: Tensor) -> Tensor:
        outputs = self.model.heads(x)
        paired = self.model.classmap[outputs.combined.argmax(dim=1)].view(-1, 1)
        auxiliary = outputs.auxiliary
        own = auxiliary.gather(1, paired).squeeze(1)
        others = auxiliary.scatter(1, paired, float("-inf")).amax(dim=1)
        return others - own

    def score(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.margin(x).detach().cpu()

    def is_adversarial(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.model.is_adversarial_of(self.model.heads(x)).cpu()
