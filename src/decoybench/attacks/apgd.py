"""AutoAttack's APGD-CE and targeted APGD-DLR (Croce & Hein, ICML 2020, "Reliable
evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks"),
run by torchattacks (`APGD`, `APGDT`): AutoAttack's own code, ported, is the reference
implementation, so it is used as it is rather than written again here.

On a plain classifier both attack the logits Z(x). On a model that carries its detector
(`decoybench.attacks.adaptive.DetectorAwareClassifier`) both attack G(x) = [Z(x), max_j
Z_j(x) + margin(x)] (`decoybench.attacks.adaptive.CombinedLogits`), read through the label.
torchattacks counts a sample as fooled as soon as argmax ≠ y: it keeps the last such
iterate and restarts (or retargets) only the samples never fooled. On G, argmax = K (the
detector logit) is ≠ y but means "detected": run on G as it is, APGD-CE raises the
detector logit along with the wrong classes, is "done" once detected, and returns
detected examples (0 % undetected success on the toy of tests/attacks/test_apgd_attacks.py,
every example flagged). So torchattacks sees F(x) = G(x) with the detector column folded
into the label's, F_y = max(G_y, G_K), and dropped: argmax F ≠ y exactly where argmax G
∉ {y, K} (fooled and not flagged; ties at margin 0 aside), its bookkeeping and early stop
follow the base class's success, its losses count "detected" as "classified right", and
the DLR targets (F's classes ranked 2, 3, … on the clean input) are never the detector.

Limitations: F depends on y, but torchattacks calls `model(x)` alone, on the sub-batch of
samples not yet fooled; the labels reach F through torchattacks' `perturb` and
`attack_single_run` (subclassed here; torchattacks is pinned at 3.3.0). torchattacks'
success is untargeted (argmax ≠ y): APGD-DLR's targets serve that criterion, as in
AutoAttack, so both attacks are untargeted here. torchattacks assumes (N, C, H, W) inputs
in [0, 1] and seeds torch's global generator (restored after each call). The example kept
is torchattacks' last fooled iterate, not the one of lowest margin (OPGD's choice). The
base class still scores every example (success requires margin ≤ 0).
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from decoybench.attacks.adaptive import CombinedLogits
from decoybench.attacks.base import Attack, detection_margin
from decoybench.attacks.bpda import bpda

__all__ = ["APGDCrossEntropy", "APGDTargetedDLR", "fold_detector"]

_TORCHATTACKS_NORMS = {"linf": "Linf", "l2": "L2"}


def fold_detector(logits: Tensor, y: Tensor) -> Tensor:
    """K+1 logits G → K: column y becomes max(G_y, G_K), the detector column K is dropped;
    argmax ≠ y exactly where G says a wrong class and the detector is silent."""
    own = logits.gather(1, y.view(-1, 1))
    merged = torch.maximum(own, logits[:, -1:])
    return logits[:, :-1].scatter(1, y.view(-1, 1), merged)


class _Folded(nn.Module):
    """What torchattacks attacks: Z(x), or on a model with a detector F(x) = G(x) folded
    at `labels` (module docstring), which the subclasses of `_label_aware` set."""

    def __init__(self, model: nn.Module, detector: bool, device: torch.device) -> None:
        super().__init__()
        self.combined = CombinedLogits(model)
        self.detector = detector
        self.labels: Tensor | None = None
        # Per forward pass on a labelled batch: the mean of max_{j≠y} F_j − F_y.
        self.trace: list[float] = []
        # torchattacks reads its device off the first parameter (the toy models have none).
        self.anchor = nn.Parameter(torch.empty(0, device=device), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        logits = self.combined(x)
        labelled = self.labels is not None and len(self.labels) == len(x)
        if self.detector:
            if not labelled:
                raise RuntimeError("apgd: the folded G(x) was called without the batch's labels")
            logits = fold_detector(logits, self.labels)
        if labelled:
            self.trace.append(float(_wrong_class_margin(logits.detach(), self.labels).mean()))
        return logits


def _wrong_class_margin(logits: Tensor, y: Tensor) -> Tensor:
    """max_{j≠y} F_j − F_y per sample (> 0: fooled and, folded, unflagged)."""
    own = logits.gather(1, y.view(-1, 1)).squeeze(1)
    return logits.scatter(1, y.view(-1, 1), float("-inf")).amax(dim=1) - own


@cache
def _label_aware(base: type) -> type:
    """torchattacks' `base` (APGD or APGDT), telling its model the labels of every batch
    it attacks (torchattacks calls model(x) alone)."""

    class LabelAware(base):  # type: ignore[misc, valid-type]
        def perturb(self, x: Tensor, y: Tensor, *args: Any, **kwargs: Any) -> Any:
            self.model.labels = y
            return super().perturb(x, y, *args, **kwargs)

        def attack_single_run(self, x: Tensor, y: Tensor) -> Any:
            self.model.labels = y
            return super().attack_single_run(x, y)

    LabelAware.__name__ = LabelAware.__qualname__ = f"LabelAware{base.__name__}"
    return LabelAware


class APGDCrossEntropy(Attack):
    """APGD-CE (Croce & Hein 2020): torchattacks `APGD`, loss='ce', untargeted; on a
    model with a detector, on G(x) folded at the label (module docstring). `steps` per
    restart; `n_restarts` restarts, each on the samples not yet fooled."""

    name = "apgd_ce"
    norm = "linf"
    torchattacks_class: ClassVar[str] = "APGD"

    def __init__(
        self,
        epsilon: float,
        norm: Literal["linf", "l2"] = "linf",
        steps: int = 100,
        n_restarts: int = 1,
    ) -> None:
        if norm not in _TORCHATTACKS_NORMS:
            raise ValueError(f"{self.name}: norm must be linf or l2, got {norm!r}")
        self.epsilon = float(epsilon)
        self.norm = norm  # type: ignore[misc]
        self.steps = int(steps)
        self.n_restarts = int(n_restarts)

    def torchattacks_parameters(self, classes: int) -> dict[str, Any]:
        """Keyword arguments of the torchattacks class beyond model, norm, eps and seed."""
        del classes
        return {"steps": self.steps, "n_restarts": self.n_restarts, "loss": "ce"}

    def queries_per_sample(self, classes: int) -> int:
        """Forward+backward passes per sample, an upper bound (restarts stop early): the
        clean check, then per restart the start and `steps` steps."""
        del classes
        return 1 + self.n_restarts * (self.steps + 1)

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        target: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor]:
        import torchattacks

        if x.dim() != 4:
            raise ValueError(f"{self.name}: torchattacks needs (N, C, H, W) inputs")
        with torch.no_grad():
            classes = model(x[:1]).shape[1]
            detector = detection_margin(model, x[:1]) is not None
        folded = _Folded(model, detector, x.device).eval()
        self.loss_trace = {"wrong_class_margin": folded.trace}
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        devices = range(torch.cuda.device_count()) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices), bpda(model):
            attack = _label_aware(getattr(torchattacks, self.torchattacks_class))(
                folded,
                norm=_TORCHATTACKS_NORMS[self.norm],
                eps=self.epsilon,
                seed=seed,
                **self.torchattacks_parameters(classes),
            )
            x_adv = attack(x, y)
        queries = torch.full((len(x),), self.queries_per_sample(classes), dtype=torch.long)
        return x_adv.to(x.dtype), queries


class APGDTargetedDLR(APGDCrossEntropy):
    """Targeted APGD-DLR (Croce & Hein 2020): torchattacks `APGDT`, the targeted DLR loss
    toward each of the `n_target_classes` classes ranked next after the top one on the
    clean input (at most K − 1; K ≥ 4 classes, for the loss's denominator), in turn, on
    the samples not yet fooled; success stays untargeted (module docstring)."""

    name = "apgd_dlr_targeted"
    torchattacks_class: ClassVar[str] = "APGDT"

    def __init__(
        self,
        epsilon: float,
        norm: Literal["linf", "l2"] = "linf",
        steps: int = 100,
        n_restarts: int = 1,
        n_target_classes: int = 9,
    ) -> None:
        super().__init__(epsilon, norm, steps, n_restarts)
        if int(n_target_classes) < 1:
            raise ValueError(f"{self.name}: n_target_classes must be ≥ 1, got {n_target_classes}")
        self.n_target_classes = int(n_target_classes)

    def _targets(self, classes: int) -> int:
        if classes < 4:
            raise ValueError(f"{self.name}: the DLR loss needs ≥ 4 classes, got {classes}")
        return min(self.n_target_classes, classes - 1)

    def torchattacks_parameters(self, classes: int) -> dict[str, Any]:
        # torchattacks' n_classes: it targets the classes ranked 2 … n_classes.
        return {
            "steps": self.steps,
            "n_restarts": self.n_restarts,
            "n_classes": self._targets(classes) + 1,
        }

    def queries_per_sample(self, classes: int) -> int:
        """The clean check, then per target and restart the clean ranking, the start and
        `steps` steps (an upper bound: targets and restarts stop early)."""
        return 1 + self._targets(classes) * self.n_restarts * (self.steps + 2)
