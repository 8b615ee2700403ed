"""MagNet (Meng & Chen, CCS 2017, "MagNet: a Two-Pronged Defense against Adversarial
Examples") as a baseline: autoencoder-based detectors that reject inputs far from the manifold
of clean data, and an autoencoder "reformer" that moves the accepted inputs towards it before
classification.

Autoencoders: the paper's Table 1, built and trained by
`decoybench.papers.baselines.autoencoders`.

Detectors (`ScoreDetector`s, higher = more likely adversarial):
- `ReconstructionErrorDetector(ae, p)`: score(x) = mean over pixels of |x − AE(x)|^p, the
  paper's reconstruction error with the L1 (p = 1) or L2 (p = 2) norm (mean, not sum, as in
  the authors' `AEDetector.mark`);
- `DivergenceDetector(model, ae, T)`: score(x) = JSD(softmax(f(x)/T) ‖ softmax(f(AE(x))/T)),
  the paper's probability-divergence detector, f the classifier's logits, T a temperature
  (the paper: T = 10 and T = 40 on CIFAR-10), with
      JSD(P ‖ Q) = ½ KL(P ‖ M) + ½ KL(Q ‖ M),  M = ½ (P + Q),  natural log, 0·log 0 = 0,
  so JSD ∈ [0, log 2] (`jensen_shannon_divergence`).

MagNet (`MagNet(detectors, reformer, model)`): an input is rejected when *any* detector flags
it; accepted inputs are classified as f(reformer(x)). The paper picks each detector's threshold
on clean validation data at a fixed false-positive rate per detector (the authors' MNIST
script: 0.001 each); to hit a *total* FPR budget α, `MagNet.calibrate(x_val, fprs)` gives each
of the m detectors the budget α/m (a union bound): each flags at most ⌊α/m·N⌋ of the N clean
validation inputs, so together they flag at most m·⌊α/m·N⌋ ≤ ⌊α·N⌋.

Adaptive attacks (Carlini & Wagner 2017, "MagNet and 'efficient defenses' are not robust"):
`differentiable_score` is each score with its autograd graph kept; `MagNet.margin(x, fpr)` is
max_i (s_i(x) − τ_i) / σ_i, each detector's excess over its own threshold in units of its
clean spread σ_i (> 0), so it is > 0 exactly where some detector fires (the flag).

Why custom: MagNet's authors wrote Keras code (github.com/Trevillie/MagNet); ART has no MagNet
detector, and the defense is a few small convolutional nets and two scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from decoybench.papers.baselines.detector import (
    OperatingPoint,
    ScoreDetector,
    check_positive_int,
    operating_point_at,
    placement,
    threshold_at_fpr,
)

__all__ = [
    "PAPER_SETTINGS",
    "DivergenceDetector",
    "MagNet",
    "MagNetOperatingPoint",
    "ReconstructionErrorDetector",
    "jensen_shannon_divergence",
]

#: Settings of Meng & Chen 2017 and of their code (github.com/Trevillie/MagNet), by source.
#: Paper: the architectures, the detector norms and temperatures, the MNIST noise volume.
#: Authors' code (train_defense.py, worker.py, test_defense.py): 100 epochs, batch size 256,
#: Keras' default Adam (learning rate 1e-3), regularisation strength 1e-9, MNIST detector I
#: with the L2 and detector II with the L1 error, a drop rate (FPR) of 0.001 per detector.
#: Values not checked against either source (CIFAR-10 training) are left out.
PAPER_SETTINGS: dict[str, dict[str, object]] = {
    "mnist": {
        "detectors": (("reconstruction", "mnist_i", 2), ("reconstruction", "mnist_ii", 1)),
        "reformer": "mnist_i",
        "noise": 0.1,
        "epochs": 100,
        "batch_size": 256,
        "learning_rate": 1e-3,
        "regularization": 1e-9,
        "fpr_per_detector": 0.001,
    },
    "cifar10": {
        "detectors": (
            ("reconstruction", "cifar10", 1),
            ("divergence", "cifar10", 10.0),
            ("divergence", "cifar10", 40.0),
        ),
        "reformer": "cifar10",
    },
}


def jensen_shannon_divergence(p: Tensor, q: Tensor) -> Tensor:
    """JSD between matching rows of probabilities p, q (N, K): ½KL(p‖m) + ½KL(q‖m), m = ½(p+q),
    natural log, 0·log 0 = 0; shape (N,), in [0, log 2]."""
    if p.shape != q.shape or p.ndim != 2:
        raise ValueError(f"p and q must both be (N, K), got {tuple(p.shape)}, {tuple(q.shape)}")
    m = 0.5 * (p + q)

    def kl_to_m(a: Tensor) -> Tensor:
        # a > 0 implies m > 0; where a == 0 the term is 0 by convention.
        safe = torch.where(a > 0, a / m.clamp_min(torch.finfo(m.dtype).tiny), torch.ones_like(a))
        return (a * torch.log(safe)).sum(dim=1)

    return (0.5 * (kl_to_m(p) + kl_to_m(q))).clamp_min(0.0)


class _BatchedDetector(ScoreDetector):
    def __init__(self, batch_size: int) -> None:
        super().__init__()
        self.batch_size = check_positive_int(batch_size, "batch_size")

    def _batch_scores(self, batch: Tensor) -> Tensor:
        raise NotImplementedError

    def _reference(self) -> nn.Module:
        raise NotImplementedError

    def score(self, x: Tensor) -> Tensor:
        if x.ndim != 4:
            raise ValueError(f"expected NCHW images, got shape {tuple(x.shape)}")
        device, dtype = placement(self._reference())
        scores = []
        with torch.no_grad():
            for start in range(0, len(x), self.batch_size):
                batch = x[start : start + self.batch_size].to(device=device, dtype=dtype)
                scores.append(self._cpu(self._batch_scores(batch)))
        if not scores:
            return torch.zeros(0, dtype=torch.float64)
        return torch.cat(scores)

    def differentiable_score(self, x: Tensor) -> Tensor:
        """`score(x)`, float64 on x's device, differentiable in x."""
        if x.ndim != 4:
            raise ValueError(f"expected NCHW images, got shape {tuple(x.shape)}")
        device, dtype = placement(self._reference())
        scores = [
            self._batch_scores(x[start : start + self.batch_size].to(device=device, dtype=dtype))
            for start in range(0, len(x), self.batch_size)
        ]
        if not scores:
            return x.new_zeros(0, dtype=torch.float64)
        return torch.cat(scores).to(device=x.device, dtype=torch.float64)


class ReconstructionErrorDetector(_BatchedDetector):
    """MagNet's reconstruction-error detector: mean over pixels of |x − AE(x)|^p."""

    name = "magnet_reconstruction"

    def __init__(self, autoencoder: nn.Module, p: int, batch_size: int = 500) -> None:
        super().__init__(batch_size)
        if p not in (1, 2) or isinstance(p, bool):
            raise ValueError(f"p must be 1 or 2 (the paper's L1 / L2 error), got {p!r}")
        self.autoencoder = autoencoder.eval()
        self.p = p

    def _reference(self) -> nn.Module:
        return self.autoencoder

    def _batch_scores(self, batch: Tensor) -> Tensor:
        self.autoencoder.eval()
        return (batch - self.autoencoder(batch)).abs().pow(self.p).flatten(1).mean(dim=1)


class DivergenceDetector(_BatchedDetector):
    """MagNet's probability-divergence detector: JSD(softmax(f(x)/T) ‖ softmax(f(AE(x))/T))."""

    name = "magnet_divergence"

    def __init__(
        self,
        model: nn.Module,
        autoencoder: nn.Module,
        temperature: float,
        batch_size: int = 500,
    ) -> None:
        super().__init__(batch_size)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        self.model = model.eval()
        self.autoencoder = autoencoder.eval()
        self.temperature = float(temperature)

    def _reference(self) -> nn.Module:
        return self.model

    def _batch_scores(self, batch: Tensor) -> Tensor:
        self.model.eval()
        self.autoencoder.eval()
        reformed = self.autoencoder(batch).to(batch.device)
        p = torch.softmax(self.model(batch).double() / self.temperature, dim=1)
        q = torch.softmax(self.model(reformed).double() / self.temperature, dim=1)
        return jensen_shannon_divergence(p, q)


@dataclass(frozen=True)
class MagNetOperatingPoint:
    """MagNet's thresholds for a total FPR budget: one operating point per detector, each at
    fpr_target / number of detectors, and the combined FPR realised on the calibration set."""

    fpr_target: float
    detector_points: tuple[OperatingPoint, ...]
    fpr_realized: float


class MagNet:
    """MagNet: reject if any detector flags; classify the rest as model(reformer(x))."""

    name = "magnet"

    def __init__(
        self,
        detectors: Sequence[ScoreDetector],
        reformer: nn.Module,
        model: nn.Module,
        batch_size: int = 500,
    ) -> None:
        if not detectors:
            raise ValueError("MagNet needs at least one detector")
        self.detectors = list(detectors)
        self.reformer = reformer.eval()
        self.model = model.eval()
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.operating_points: dict[float, MagNetOperatingPoint] = {}
        # Mean and standard deviation of each detector's clean calibration scores (`score`).
        self.score_location: Tensor | None = None
        self.score_scale: Tensor | None = None

    def calibrate(self, x_val: Tensor, fprs: Sequence[float]) -> list[MagNetOperatingPoint]:
        """For each total FPR budget α, each of the m detectors is calibrated at α/m on the
        clean validation inputs (union bound: together they flag at most ⌊α·N⌋ of them)."""
        share = len(self.detectors)
        scores = [detector.score(x_val) for detector in self.detectors]
        stacked = torch.stack(scores)
        self.score_location = stacked.mean(dim=1)
        self.score_scale = stacked.std(dim=1).clamp_min(torch.finfo(stacked.dtype).tiny)
        points = []
        for fpr in fprs:
            per_detector = []
            for detector, detector_scores in zip(self.detectors, scores, strict=True):
                # Calibrate on the scores already computed (the same rule as detector.calibrate).
                per_detector.append(_calibrate_scores(detector, detector_scores, fpr / share))
            flags = self._flags(scores, per_detector)
            point = MagNetOperatingPoint(
                fpr_target=float(fpr),
                detector_points=tuple(per_detector),
                fpr_realized=int(flags.sum()) / len(x_val),
            )
            self.operating_points[float(fpr)] = point
            points.append(point)
        return points

    def score(self, x: Tensor) -> Tensor:
        """One continuous score for threshold-free measures (AUC): the largest detector score
        in units of that detector's clean calibration spread, max_i (s_i(x) − μ_i) / σ_i.
        The flags (`is_adversarial`) keep MagNet's own rule, one threshold per detector."""
        if self.score_location is None or self.score_scale is None:
            raise ValueError("magnet: call calibrate before score")
        scores = torch.stack([detector.score(x) for detector in self.detectors])
        location = self.score_location.to(scores.dtype).unsqueeze(1)
        scale = self.score_scale.to(scores.dtype).unsqueeze(1)
        return ((scores - location) / scale).amax(dim=0)

    def _spread(self) -> tuple[Tensor, Tensor]:
        if self.score_location is None or self.score_scale is None:
            raise ValueError("magnet: call calibrate before score")
        return self.score_location, self.score_scale

    def differentiable_score(self, x: Tensor) -> Tensor:
        """`score(x)`, float64 on x's device, differentiable in x."""
        location, scale = (values.to(x.device, torch.float64) for values in self._spread())
        scores = torch.stack([detector.differentiable_score(x) for detector in self.detectors])
        return ((scores - location.unsqueeze(1)) / scale.unsqueeze(1)).amax(dim=0)

    def margin(self, x: Tensor, fpr: float) -> Tensor:
        """max_i (s_i(x) − τ_i) / σ_i at the operating point for the total FPR `fpr`, shape
        (N,), in x's dtype on x's device, differentiable: > 0 exactly where `is_adversarial`
        (some s_i > τ_i; σ_i > 0 is detector i's clean spread; ties at 0 aside)."""
        point = operating_point_at(self.operating_points, fpr, "magnet")
        scale = self._spread()[1].to(x.device, torch.float64)
        thresholds = torch.tensor(
            [share.threshold for share in point.detector_points],
            dtype=torch.float64,
            device=x.device,
        )
        scores = torch.stack([detector.differentiable_score(x) for detector in self.detectors])
        margin = ((scores - thresholds.unsqueeze(1)) / scale.unsqueeze(1)).amax(dim=0)
        return margin.to(dtype=x.dtype)

    @staticmethod
    def _flags(scores: Sequence[Tensor], points: Sequence[OperatingPoint]) -> Tensor:
        flags = torch.zeros(len(scores[0]), dtype=torch.bool)
        for detector_scores, point in zip(scores, points, strict=True):
            flags |= detector_scores > point.threshold
        return flags

    def is_adversarial(self, x: Tensor, fpr: float) -> Tensor:
        """Flags (N,) bool: some detector scores above its threshold for the total FPR `fpr`."""
        point = operating_point_at(self.operating_points, fpr, "magnet")
        return self._flags(
            [detector.score(x) for detector in self.detectors], point.detector_points
        )

    def reform(self, x: Tensor) -> Tensor:
        """reformer(x), in batches without gradients, on x's device."""
        device, dtype = placement(self.reformer)
        self.reformer.eval()
        outputs = []
        with torch.no_grad():
            for start in range(0, len(x), self.batch_size):
                batch = x[start : start + self.batch_size].to(device=device, dtype=dtype)
                outputs.append(self.reformer(batch).to(x.device))
        if not outputs:
            return x.clone()
        return torch.cat(outputs)

    def predict(self, x: Tensor) -> Tensor:
        """Labels model(reformer(x)).argmax, shape (N,), int64 on the CPU."""
        device, dtype = placement(self.model)
        self.model.eval()
        labels = []
        with torch.no_grad():
            reformed = self.reform(x)
            for start in range(0, len(reformed), self.batch_size):
                batch = reformed[start : start + self.batch_size].to(device=device, dtype=dtype)
                labels.append(self.model(batch).argmax(dim=1).cpu())
        if not labels:
            return torch.zeros(0, dtype=torch.long)
        return torch.cat(labels)

    def classifier(self) -> nn.Module:
        """The defended classifier reformer → model as one differentiable module (for
        white-box attacks on the reformer path)."""
        return nn.Sequential(self.reformer, self.model)


def _calibrate_scores(detector: ScoreDetector, scores: Tensor, fpr: float) -> OperatingPoint:
    tau = threshold_at_fpr(scores, fpr)
    realized = int((scores > tau).sum()) / len(scores)
    point = OperatingPoint(fpr_target=float(fpr), threshold=tau, fpr_realized=realized)
    detector.operating_points[float(fpr)] = point
    return point
