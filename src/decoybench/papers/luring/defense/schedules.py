"""Training schedules of the luring components (Bernhard et al., 2021): Appendix B's epochs,
batch sizes and learning rates, Appendix C's luring coefficients (items 7, 11 of
`decoybench.papers.luring.defense`)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Any

from decoybench.models.training import TrainingRecipe
from decoybench.papers.luring.defense.loss import B_CLASSES

__all__ = ["APPROACHES", "PAPER_DROPOUT", "PAPER_SCHEDULES", "ComponentRecipe", "paper_recipe"]

APPROACHES: tuple[str, ...] = ("luring", "stack", "auto", "cross_entropy")
PAPER_DROPOUT = 0.25  # "Dropout is used" (Appendix B); the rate is our choice (ambiguity 7)


@dataclass(frozen=True)
class ComponentRecipe:
    """Schedule of one component: epochs, batch size, optimizer and piecewise learning rates.

    The rate is `learning_rates[k]` once `lr_milestones[k-1]` epochs are done (the paper's
    "decreasing to r1 and r2 after e1 and e2 epochs"). `luring_coefficient` λ and `b_class`
    (class b of Eq. 2, one of `B_CLASSES`, item 1) are used by the luring approach only;
    `dropout` is the rate to build the component with (item 7).
    """

    epochs: int
    batch_size: int
    learning_rates: tuple[float, ...]
    lr_milestones: tuple[int, ...] = ()
    optimizer: str = "adam"
    luring_coefficient: float = 1.0
    dropout: float = 0.0
    b_class: str = "best_other"

    def __post_init__(self) -> None:
        object.__setattr__(self, "learning_rates", tuple(float(v) for v in self.learning_rates))
        object.__setattr__(self, "lr_milestones", tuple(int(v) for v in self.lr_milestones))
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")
        if len(self.learning_rates) != len(self.lr_milestones) + 1:
            raise ValueError("learning_rates needs one value more than lr_milestones")
        if min(self.learning_rates) <= 0 or list(self.lr_milestones) != sorted(
            set(self.lr_milestones)
        ):
            raise ValueError("learning rates must be positive and milestones strictly increasing")
        if self.luring_coefficient < 0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError("luring_coefficient must be >= 0 and dropout in [0, 1)")
        if self.b_class not in B_CLASSES:
            raise ValueError(f"b_class must be one of {', '.join(B_CLASSES)}, got {self.b_class!r}")

    @classmethod
    def from_config(cls, entry: dict[str, Any]) -> ComponentRecipe:
        """Recipe from a (YAML/JSON) mapping of the field names."""
        return cls(**entry)

    def learning_rate_at(self, completed_epochs: int) -> float:
        """The rate of the epoch that follows `completed_epochs` finished epochs."""
        return self.learning_rates[bisect.bisect_right(self.lr_milestones, completed_epochs)]

    def training_recipe(self) -> TrainingRecipe:
        """The matching `TrainingRecipe` (its optimizer factory, at the initial rate)."""
        return TrainingRecipe(
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            learning_rate=self.learning_rates[0],
            lr_milestones=self.lr_milestones,
        )


# Appendix B, per data set and approach (all Adam); λ from Appendix C.
_MNIST_PIECEWISE = ComponentRecipe(64, 64, (1e-3, 2e-4, 4e-4), (45, 58))  # sic, item 11
_SVHN_PIECEWISE = ComponentRecipe(210, 256, (1e-4, 1e-5, 8e-6), (126, 168))
_CIFAR10_PIECEWISE = ComponentRecipe(216, 256, (1e-5, 5e-6, 8e-7), (154, 185))
PAPER_SCHEDULES: dict[str, dict[str, ComponentRecipe]] = {
    "mnist": {
        "stack": ComponentRecipe(5, 28, (1e-3,)),
        "auto": ComponentRecipe(50, 128, (1e-3,)),
        "cross_entropy": _MNIST_PIECEWISE,
        "luring": replace(_MNIST_PIECEWISE, luring_coefficient=1.0),
    },
    "svhn": {
        "stack": ComponentRecipe(20, 256, (1e-3,)),
        "auto": ComponentRecipe(5, 128, (1e-3,)),
        "cross_entropy": _SVHN_PIECEWISE,
        "luring": replace(_SVHN_PIECEWISE, luring_coefficient=1.0, dropout=PAPER_DROPOUT),
    },
    "cifar10": {
        "stack": ComponentRecipe(200, 32, (0.1, 0.01, 0.001), (80, 120)),
        "cross_entropy": replace(_CIFAR10_PIECEWISE, dropout=PAPER_DROPOUT),
        "luring": replace(_CIFAR10_PIECEWISE, luring_coefficient=0.15, dropout=PAPER_DROPOUT),
    },
}


def paper_recipe(dataset: str, approach: str) -> ComponentRecipe:
    """`PAPER_SCHEDULES[dataset][approach]`, with a readable error where the paper has none."""
    if dataset not in PAPER_SCHEDULES:
        raise ValueError(
            f"no paper schedule for data set {dataset!r}; allowed: mnist, svhn, cifar10"
        )
    if approach not in PAPER_SCHEDULES[dataset]:
        raise ValueError(
            f"the paper has no {approach!r} schedule for {dataset!r} (CIFAR10 has no Auto model, "
            f"Sec. 4.3); allowed: {', '.join(PAPER_SCHEDULES[dataset])}"
        )
    return PAPER_SCHEDULES[dataset][approach]
