"""The interface every baseline detector shares: a continuous score, thresholds calibrated on
clean validation inputs at target false-positive rates (docs/design.md, Conventions: 5% and
0.5% by default)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

PointT = TypeVar("PointT")

__all__ = [
    "OperatingPoint",
    "ScoreDetector",
    "check_positive_int",
    "operating_point_at",
    "placement",
    "threshold_at_fpr",
]


def placement(module: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and dtype of a module's first parameter (CPU and the default dtype if none)."""
    for parameter in module.parameters():
        return parameter.device, parameter.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def check_positive_int(value: object, what: str) -> int:
    """`value` when it is a positive int (not a bool); ValueError naming `what` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


@dataclass(frozen=True)
class OperatingPoint:
    """A calibrated threshold: inputs scoring above `threshold` are flagged."""

    fpr_target: float
    threshold: float
    fpr_realized: float


def threshold_at_fpr(clean_scores: Sequence[float] | np.ndarray | Tensor, fpr: float) -> float:
    """The threshold τ that flags (score > τ) at most ⌊fpr·N⌋ of the N clean scores, as few
    as possible below that count: τ is the (⌊fpr·N⌋+1)-th largest score, moved halfway to the
    next larger one when they differ (a margin on both sides). Ties can only lower the
    realized FPR. The same rule as the attractor detector's calibration."""
    if not 0.0 <= fpr < 1.0:
        raise ValueError(f"fpr must be in [0, 1), got {fpr}")
    scores = np.asarray(
        clean_scores.detach().cpu() if isinstance(clean_scores, Tensor) else clean_scores,
        dtype=np.float64,
    ).reshape(-1)
    if len(scores) < 2:
        raise ValueError("calibration needs at least two clean scores")
    if not np.isfinite(scores).all():
        raise ValueError("clean scores must be finite")
    ordered = np.sort(scores)[::-1]
    allowed = math.floor(fpr * len(scores) + 1e-9)
    tau = float(ordered[allowed])
    if allowed > 0 and ordered[allowed - 1] > tau:
        tau = 0.5 * (tau + float(ordered[allowed - 1]))
    return tau


def operating_point_at(points: Mapping[float, PointT], fpr: float, owner: str) -> PointT:
    """The operating point calibrated for `fpr`; ValueError naming `owner` and the FPRs
    calibrated when there is none."""
    try:
        return points[float(fpr)]
    except KeyError:
        calibrated = ", ".join(f"{value:g}" for value in points) or "none"
        raise ValueError(
            f"{owner}: no operating point at FPR {fpr:g}; calibrated: {calibrated}"
        ) from None


class ScoreDetector(ABC):
    """A detector with a continuous score (higher = more likely adversarial).

    Subclasses implement `score`; `calibrate` picks one threshold per target FPR on clean
    validation inputs, and `is_adversarial` applies the one calibrated for a target FPR.
    """

    name: str = ""

    def __init__(self) -> None:
        self.operating_points: dict[float, OperatingPoint] = {}

    @abstractmethod
    def score(self, x: Tensor) -> Tensor:
        """Per-input detector score, shape (N,), float, on the CPU."""

    def calibrate(self, x_val: Tensor, fprs: Sequence[float]) -> list[OperatingPoint]:
        """Thresholds at each target FPR on the clean validation inputs (never the test set)."""
        scores = self.score(x_val)
        points = []
        for fpr in fprs:
            tau = threshold_at_fpr(scores, fpr)
            realized = int((scores > tau).sum()) / len(scores)
            point = OperatingPoint(fpr_target=float(fpr), threshold=tau, fpr_realized=realized)
            self.operating_points[float(fpr)] = point
            points.append(point)
        return points

    def is_adversarial(self, x: Tensor, fpr: float) -> Tensor:
        """Flags at the operating point calibrated for `fpr`, shape (N,), bool."""
        owner = self.name or type(self).__name__
        point = operating_point_at(self.operating_points, fpr, owner)
        return self.score(x) > point.threshold

    def differentiable_score(self, x: Tensor) -> Tensor:
        """`score(x)` as a function an adaptive attacker can differentiate: the same value (to
        float rounding), float64 on x's device, the autograd graph kept. Subclasses that an
        adaptive attack targets override it (decoybench.defenses.system.AttackableDetector)."""
        raise NotImplementedError(f"{self.name or type(self).__name__}: no differentiable score")

    def margin(self, x: Tensor, fpr: float) -> Tensor:
        """differentiable_score(x) − τ at the operating point for `fpr`, shape (N,), in x's
        dtype on x's device: > 0 exactly where `is_adversarial(x, fpr)` (ties at 0 aside)."""
        owner = self.name or type(self).__name__
        point = operating_point_at(self.operating_points, fpr, owner)
        margin = self.differentiable_score(x) - point.threshold
        return margin.to(device=x.device, dtype=x.dtype)

    @staticmethod
    def _cpu(values: Tensor) -> Tensor:
        return values.detach().to("cpu", torch.float64)
