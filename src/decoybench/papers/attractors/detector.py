"""F_d, the attractor defense's forensic detector (paper Sec. V-C), on w = W_φ(x): its
clean-data standardization, its thresholds U, L, σ0 and their calibration at a target FPR
(`decoybench.papers.attractors.defense` docstring, items 6 and 7), and the differentiable
margin an adaptive attacker descends (`ForensicDetector.margin`, issue 16)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from decoybench.papers.attractors.qim import _DENOMINATOR_FLOOR, QIMDecoder

__all__ = [
    "DetectorThresholds",
    "ForensicDetector",
    "Standardization",
    "statistics_with_gradient",
]


@dataclass(frozen=True)
class Standardization:
    """Clean-data center (median) and scale (1.4826·MAD) of (max w, min w, stdev w)."""

    center: tuple[float, float, float]
    scale: tuple[float, float, float]


@dataclass(frozen=True)
class DetectorThresholds:
    """One operating point of F_d: the paper's U, L, σ0, the common standardized τ, and the
    FPR it was calibrated for and realized on the calibration split of n_calibration inputs."""

    U: float
    L: float
    sigma0: float
    tau: float
    fpr_target: float
    fpr_realized: float
    n_calibration: int


class ForensicDetector:
    """F_d (Sec. V-C) on w = W_φ(x): adversarial iff max w > U, min w < L or stdev w > σ0.

    `score(x)` = max of the three clean-standardized statistics (`defense` docstring, item 7);
    `is_adversarial(x)` ⇔ score(x) > τ ⇔ C1 ∨ C2 ∨ C3 at the calibrated U, L, σ0.
    `margin(x)`: the differentiable margin of an adaptive attacker (issue 16), > 0 ⇔ flagged.
    """

    def __init__(
        self,
        decoder: QIMDecoder,
        standardization: Standardization | None = None,
        thresholds: DetectorThresholds | None = None,
        batch_size: int = 1024,
    ) -> None:
        self.decoder = decoder
        self.standardization = standardization
        self.thresholds = thresholds
        self.batch_size = batch_size

    @staticmethod
    def statistics_of(correlations: Tensor) -> Tensor:
        """(max w, min w, stdev w) per row of w, shape (N, 3), float64."""
        w = correlations.detach().to(torch.float64)
        return torch.stack(
            [w.amax(dim=1), w.amin(dim=1), w.std(dim=1, correction=0)],
            dim=1,
        )

    @torch.no_grad()
    def statistics(self, x: Tensor) -> Tensor:
        """(max w, min w, stdev w) of W_φ(x), shape (N, 3), float64."""
        parts = [
            self.statistics_of(self.decoder(x[start : start + self.batch_size]))
            for start in range(0, len(x), self.batch_size)
        ]
        return torch.cat(parts) if parts else torch.empty(0, 3, dtype=torch.float64)

    def _standardized(self, statistics: Tensor) -> Tensor:
        if self.standardization is None:
            raise RuntimeError("the detector is not calibrated: call calibrate(x_val, fpr)")
        center = torch.tensor(self.standardization.center, dtype=torch.float64)
        scale = torch.tensor(self.standardization.scale, dtype=torch.float64)
        sign = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)  # C2 is a lower tail
        device = statistics.device
        return sign.to(device) * (statistics - center.to(device)) / scale.to(device)

    def score_of(self, correlations: Tensor) -> Tensor:
        """Continuous score of given correlations w (higher = more adversarial)."""
        return self._standardized(self.statistics_of(correlations)).amax(dim=1)

    def score(self, x: Tensor) -> Tensor:
        """Continuous detection score per input, shape (N,), for ROC/AUC."""
        return self._standardized(self.statistics(x)).amax(dim=1)

    def conditions_of(self, correlations: Tensor) -> Tensor:
        """C1, C2, C3 per row of given correlations w, shape (N, 3), bool."""
        return self._conditions(self.statistics_of(correlations))

    def _conditions(self, statistics: Tensor) -> Tensor:
        if self.thresholds is None:
            raise RuntimeError("the detector is not calibrated: call calibrate(x_val, fpr)")
        t = self.thresholds
        return torch.stack(
            [statistics[:, 0] > t.U, statistics[:, 1] < t.L, statistics[:, 2] > t.sigma0], dim=1
        )

    def conditions(self, x: Tensor) -> Tensor:
        """C1 (max w > U), C2 (min w < L), C3 (stdev w > σ0) per input, shape (N, 3)."""
        return self._conditions(self.statistics(x))

    def is_adversarial(self, x: Tensor) -> Tensor:
        """F_d(x): any of C1–C3, shape (N,), bool."""
        return self.conditions(x).any(dim=1)

    def is_adversarial_of(self, correlations: Tensor) -> Tensor:
        """F_d on given correlations w = W_φ(x)."""
        return self.conditions_of(correlations).any(dim=1)

    @property
    def fpr_target(self) -> float:
        """The operating point's target FPR (`defenses.system.AttackableDetector`)."""
        if self.thresholds is None:
            raise RuntimeError("the detector is not calibrated: call calibrate(x_val, fpr)")
        return self.thresholds.fpr_target

    def margin(self, x: Tensor) -> Tensor:
        """Differentiable margin, shape (N,), float64, on x's device, > 0 exactly where
        `is_adversarial(x)`: max((max w − U)/s1, (L − min w)/s2, (stdev w − σ0)/s3), each
        condition's excess over its threshold in clean-standardized units (s: the clean
        scales). With U = c1 + τ s1, L = c2 − τ s2, σ0 = c3 + τ s3 it is score(x) − τ in exact
        arithmetic; it is built on U, L, σ0 rather than τ because rounding in those can part
        `score > τ` from C1 ∨ C2 ∨ C3 at a boundary input, and the flags are the latter.
        Its statistics are exactly those `is_adversarial` thresholds (same batches); its
        backward pass is `statistics_with_gradient`'s at upper = U (S's saturation near an
        attractor gets a straight-through tangent)."""
        parts = [
            self.margin_of_distances(self.decoder.decode(x[start : start + self.batch_size]))
            for start in range(0, len(x), self.batch_size)
        ]
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.float64, device=x.device)

    def margin_of_distances(self, distances: Tensor) -> Tensor:
        """`margin` from given Q(x, m_i) = `decoder.decode(x)` (its graph kept)."""
        if self.thresholds is None or self.standardization is None:
            raise RuntimeError("the detector is not calibrated: call calibrate(x_val, fpr)")
        statistics = statistics_with_gradient(self.decoder, distances, self.thresholds.U)
        t = self.thresholds
        scale = torch.tensor(self.standardization.scale, dtype=torch.float64)
        excess = torch.stack(
            [statistics[:, 0] - t.U, t.L - statistics[:, 1], statistics[:, 2] - t.sigma0], dim=1
        )
        return (excess / scale.to(excess.device)).amax(dim=1)

    def calibrate(self, x_val: Tensor, fpr: float) -> DetectorThresholds:
        """Fit the standardization on clean validation inputs and pick U, L, σ0 at `fpr`.

        Realized FPR on x_val = ⌊fpr·N⌋/N (lower only with tied scores), never above `fpr`.
        Sets and returns the operating point; calling it again with another fpr on the same
        x_val keeps the same score function.
        """
        if not 0.0 <= fpr < 1.0:
            raise ValueError(f"fpr must be in [0, 1), got {fpr}")
        statistics = self.statistics(x_val)
        count = len(statistics)
        if count < 2:
            raise ValueError("calibration needs at least two clean inputs")
        center = statistics.median(dim=0).values
        scale = 1.4826 * (statistics - center).abs().median(dim=0).values
        fallback = statistics.std(dim=0)
        scale = torch.where(scale > 0, scale, fallback)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        self.standardization = Standardization(center=_triple(center), scale=_triple(scale))
        scores = self._standardized(statistics).amax(dim=1)
        ordered = scores.sort(descending=True).values
        allowed = math.floor(fpr * count + 1e-9)  # false positives allowed, < count
        tau = float(ordered[allowed])  # the (k+1)-th largest score: not flagged
        if allowed > 0 and float(ordered[allowed - 1]) > tau:
            tau = 0.5 * (tau + float(ordered[allowed - 1]))  # margin on both sides
        for attempt in range(200):
            self.thresholds = self._thresholds_at(tau, fpr, count, 0.0)
            flagged = int(self._conditions(statistics).any(dim=1).sum())
            if flagged <= allowed:
                break
            # Rounding in U, L, σ0 put a boundary input over a threshold: nudge τ up.
            tau += (abs(tau) + 1.0) * 1e-12 * 2**attempt
        self.thresholds = self._thresholds_at(tau, fpr, count, flagged / count)
        return self.thresholds

    def _thresholds_at(
        self, tau: float, fpr: float, count: int, realized: float
    ) -> DetectorThresholds:
        assert self.standardization is not None
        (c1, c2, c3), (s1, s2, s3) = self.standardization.center, self.standardization.scale
        return DetectorThresholds(
            U=c1 + tau * s1,
            L=c2 - tau * s2,
            sigma0=c3 + tau * s3,
            tau=tau,
            fpr_target=float(fpr),
            fpr_realized=realized,
            n_calibration=count,
        )

    def with_thresholds(self, thresholds: DetectorThresholds) -> ForensicDetector:
        """The same detector (decoder, standardization) at another operating point."""
        return ForensicDetector(self.decoder, self.standardization, thresholds, self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able standardization and operating point."""
        return {
            "standardization": None
            if self.standardization is None
            else asdict(self.standardization),
            "thresholds": None if self.thresholds is None else asdict(self.thresholds),
        }

    @classmethod
    def from_dict(cls, decoder: QIMDecoder, values: Mapping[str, Any]) -> ForensicDetector:
        """Inverse of `to_dict`."""
        standardization = values.get("standardization")
        thresholds = values.get("thresholds")
        return cls(
            decoder,
            None
            if standardization is None
            else Standardization(
                center=_triple(standardization["center"]), scale=_triple(standardization["scale"])
            ),
            None if thresholds is None else DetectorThresholds(**thresholds),
        )


def statistics_with_gradient(
    decoder: QIMDecoder, distances: Tensor, upper: float | None = None
) -> Tensor:
    """(max w, min w, stdev w) of w = S(Q), shape (N, 3), float64, from Q = decoder.decode(x)
    with its graph: forward values exactly `ForensicDetector.statistics_of(decoder(x))`'s.

    W_φ has no rounding step (q is piecewise linear, slope ±1 almost everywhere), but
    S = A2 tanh(u) saturates near an attractor: its derivative decays like e^(−2/d)
    (d = Q/Q_max), and in float32 tanh rounds to exactly A2 once d ≲ 0.1, where max w is
    constant and autograd's gradient exactly 0. Backward surrogate, in this path only: w's
    derivative in Q is S′(max(Q, r_U)), S′ in float64 without cancellation, r_U = S⁻¹(upper)
    the distance at which C1 fires: the true derivative where Q ≥ r_U, S's tangent at the C1
    threshold inside it (the attractor's well), so a margin gradient keeps pointing out of
    the well. upper=None: S′(Q) everywhere. The stdev's derivative is 0 where all w are
    equal (torch's is 0/0 there).
    """
    exact = decoder.correlation(distances).detach().to(torch.float64)
    values = distances.to(torch.float64)
    floor = 0.0 if upper is None else _inverse_correlation(decoder, upper)
    slope = _correlation_slope(decoder, values.detach().clamp_min(floor))
    w = exact + _with_gradient_of(slope * values)
    spread = w.detach().std(dim=1, correction=0)
    variance = (w - w.mean(dim=1, keepdim=True)).square().mean(dim=1)
    positive = variance > 0
    root = torch.sqrt(torch.where(positive, variance, torch.ones_like(variance)))
    spread = spread + _with_gradient_of(torch.where(positive, root, torch.zeros_like(root)))
    return torch.stack([w.amax(dim=1), w.amin(dim=1), spread], dim=1)


def _with_gradient_of(surrogate: Tensor) -> Tensor:
    """Exactly 0 in the forward pass (`surrogate` is finite), `surrogate`'s gradient in the
    backward: value + this = value, bit for bit, with the surrogate's derivative."""
    return surrogate - surrogate.detach()


def _correlation_slope(decoder: QIMDecoder, distances: Tensor) -> Tensor:
    """S′(r) of Eq. 3: A2 sech²(u) A0/(1 + A1 − A0 r)², u = (A0 r − A1)/(1 + A1 − A0 r),
    sech²(u) as 4 sigmoid(2u) sigmoid(−2u) (no 1 − tanh² cancellation); denominator floored
    as in `QIMDecoder.correlation`."""
    denominator = (1.0 + decoder.A1 - decoder.A0 * distances).clamp_min(_DENOMINATOR_FLOOR)
    u = (decoder.A0 * distances - decoder.A1) / denominator
    sech2 = 4.0 * torch.sigmoid(2.0 * u) * torch.sigmoid(-2.0 * u)
    return decoder.A2 * sech2 * decoder.A0 / denominator.square()


def _inverse_correlation(decoder: QIMDecoder, value: float) -> float:
    """The r in [0, Q_max] with S(r) = value (S decreasing; value clipped to S's range)."""
    ratio = min(max(value / decoder.A2, 0.0), 1.0 - 1e-15)
    u = math.atanh(ratio)
    r = (u * (1.0 + decoder.A1) + decoder.A1) / (decoder.A0 * (1.0 + u))
    return min(max(r, 0.0), decoder.q_max)


def _triple(values: Sequence[float] | Tensor) -> tuple[float, float, float]:
    first, second, third = (float(v) for v in values)
    return first, second, third
