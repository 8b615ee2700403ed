"""The luring metrics of one cell: an adversarial set crafted on T = M∘P, scored on M and T.

Bernhard et al. (2021): the defender sees M(x') and M∘P(x') for every query. Over the
cell's X' this gives AC_MoP, AC_M and DAC (Eq. 4, Table 1) and DR and IAR (Eq. 3, Fig. 2),
each defined once in `decoybench.metrics`. The per-sample predictions are kept so
that the tables can restrict Fig. 2 to "the adversarial examples that are successful for
these four models" (Sec. 3.2), which no single cell can know.

X' is the attacked test images that M and M∘P both classify right on the clean input: the
paper attacks "1000 correctly classified test set examples" (Appendix F) and picks examples
correct for M and every M∘P in D.2 and D.3. An output the attack left blank or saturated
(`decoybench.attacks.base.degenerate`, Foolbox's C&W where it found nothing) is no adversarial
example: the adversary submits the clean image instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from decoybench.attacks.base import degenerate
from decoybench.metrics import (
    adversarial_accuracy,
    detection_adversarial_accuracy,
    disagreement_rate,
    inefficient_adversarial_rate,
    mean_distortion,
)
from decoybench.models.training import predict

__all__ = ["luring_cell_metrics", "luring_rates"]


def luring_rates(
    label: Any, augmented_adversarial: Any, target_adversarial: Any
) -> dict[str, dict[str, Any]]:
    """AC_MoP, AC_M, DAC (over all of X') and DR, IAR (over the x' of X' that fool M∘P), as
    `Rate.as_dict()`, from the labels and the two models' predictions on X'."""
    return {
        "ac_mop": adversarial_accuracy(label, augmented_adversarial).as_dict(),
        "ac_m": adversarial_accuracy(label, target_adversarial).as_dict(),
        "dac": detection_adversarial_accuracy(
            label, augmented_adversarial, target_adversarial
        ).as_dict(),
        "dr": disagreement_rate(label, augmented_adversarial, target_adversarial).as_dict(),
        "iar": inefficient_adversarial_rate(
            label, augmented_adversarial, target_adversarial
        ).as_dict(),
    }


def luring_cell_metrics(
    *,
    public: nn.Module,
    target: nn.Module,
    x_adv: Tensor,
    x_clean: Tensor,
    labels: Tensor,
    index: np.ndarray,
    distortions: dict[str, np.ndarray],
    batch_size: int = 500,
) -> dict[str, Any]:
    """Luring metrics of a set crafted on `public` (T = M∘P) for the hidden `target` (M).

    `distortions` maps l0/l2/linf to the set's per-sample distortions; their means are taken
    over the x' of X' that fool T (Table 9 and Fig. 3 measure the attack on M∘P).
    Returns {"n_selected", "rates" (luring_rates over X'), "distortion_on_public",
    "per_sample": index, selected, label and both models' clean and adversarial predictions}.
    """
    blank = degenerate(x_adv)
    x_eval = torch.where(blank.view(-1, *[1] * (x_adv.dim() - 1)), x_clean, x_adv)
    augmented_clean = predict(public, x_clean, batch_size)
    target_clean = predict(target, x_clean, batch_size)
    augmented_adversarial = predict(public, x_eval, batch_size)
    target_adversarial = predict(target, x_eval, batch_size)
    selected = ((augmented_clean == labels) & (target_clean == labels)).numpy()
    y = labels.numpy()
    fooled_public = selected & (augmented_adversarial.numpy() != y)
    return {
        "n_selected": int(selected.sum()),
        "n_blank": int(blank.sum()),
        "rates": luring_rates(
            y[selected],
            augmented_adversarial.numpy()[selected],
            target_adversarial.numpy()[selected],
        ),
        "distortion_on_public": {
            f"mean_{name}": mean_distortion(distortions[name], fooled_public)
            for name in ("l0", "l2", "linf")
        },
        "per_sample": {
            "index": [int(i) for i in index],
            "selected": [bool(s) for s in selected],
            "label": [int(v) for v in y],
            "augmented_clean": augmented_clean.tolist(),
            "target_clean": target_clean.tolist(),
            "augmented_adversarial": augmented_adversarial.tolist(),
            "target_adversarial": target_adversarial.tolist(),
        },
    }
