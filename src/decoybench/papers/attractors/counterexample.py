"""The weighted-sum "trapdoor" counter-example of Zhang, Chang & Lee (arXiv:2003.02732).

Sec. IV-C ("Attractors vs Trapdoors", Fig. 3, Eq. 1): a model that meets the training goals
of a trapdoored model (Shan et al.) yet lets gradient attacks ignore its trapdoors,

    M(x) = D_κ(x) · W_ω(x) + (1 − D_κ(x)) · C_π(x)                                  (Eq. 1)

with C_π the victim (softmax of its logits), W_ω the trapdoor decoder (which class's
trapdoor the input carries) and D_κ the trapdoor detector (probability that it carries one).
Sec. VI-C1 (Fig. 6) measures it with an *additive-watermark* decoder; the paper gives no
trapdoors, decoder, detector or constants, so this module chooses as follows.

1. Trapdoors Δ_t (one per class t): additive spread-spectrum watermarks on the [0, 1] input
   scale, Δ_t = a · s_t, s_t ∈ {−1, 0, +1}^d a seeded random sign pattern on a seeded
   random mask of k = mask_fraction · d input values (rounded down to even), with exactly
   k/2 signs of each kind. `embed_trapdoor(x, t) = clamp(x + Δ_t, 0, 1)`: on saturated
   MNIST pixels (0 or 1) only the half of the pattern pointing inwards survives.
2. Correlation ρ_t(x) = ⟨x − r(x), s_t⟩ / (a k): the share of Δ_t present in x (1 for a
   full, unclamped Δ_t on a host the reference removes exactly). Reference r ("reference"):
   "local_mean" (default), the per-channel 3×3 mean (count_include_pad=False), a host
   estimate that removes the smooth part of the image which otherwise correlates with s_t
   (the host interference of additive watermarking); or "half", r = 0.5 (with balanced
   signs any constant r gives ⟨x, s_t⟩ / (a k)). On mnist5k (first 500 test images, the
   defaults, seed 0) the clean max_t ρ_t has median 0.039 and maximum 0.104 with
   "local_mean", 0.107 and 0.246 with "half"; the smallest ρ_t of x + Δ_t (all t ≠ y) is
   0.377 and 0.322.
3. Decoder W_ω(x) = softmax(ρ(x) / T), T = temperature = 0.05: an embedded input has
   ρ_t ≈ 0.44 (half of Δ_t survives clamping, 1/9 of it falls in the local mean), the other
   classes |ρ_u| ≲ 0.1, so W_t ≥ e^6 / (e^6 + 9) ≈ 0.98.
4. Detector D_κ(x) = sigmoid(β (max_t ρ_t(x) − θ)), θ = threshold = 0.25 (halfway between
   0, the clean expectation, and the ≈ 0.44–0.5 of an embedded input), β = sharpness = 100:
   D < 1e-6 for max ρ < 0.11 and D > 1 − 1e-6 for max ρ > 0.39. On a typical clean input
   (max ρ ≈ 0.04) D ≈ e^(−21) ≈ 1e-9, so the part of the attacker's gradient through
   N1 = D·W, which carries the factor D, is negligible (the paper's point, Fig. 6b).
   Constants are analytic (no calibrate step): the paper's D and W "can be analytically
   derived", and nothing here is trained.
5. Output: M is a convex combination of two probability vectors, hence a probability vector;
   following the project convention `forward` returns log M (clamped at the smallest
   positive float) as logits.

Custom code: no library offers this construction (it exists only in the paper's argument).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["REFERENCES", "TrapdoorConfig", "WeightedSumTrapdoorModel"]

REFERENCES = ("local_mean", "half")
LOCAL_WINDOW = 3  # side of the local-mean window of the "local_mean" reference


@dataclass(frozen=True)
class TrapdoorConfig:
    """Constants of the Eq. 1 counter-example (see the module docstring for the choices)."""

    num_classes: int
    input_shape: tuple[int, int, int]  # (C, H, W)
    amplitude: float = 0.2  # a: |Δ_t| per masked input value, [0, 1] scale
    mask_fraction: float = 0.5  # share of input values each trapdoor touches
    temperature: float = 0.05  # T of W_ω = softmax(ρ / T)
    threshold: float = 0.25  # θ of D_κ
    sharpness: float = 100.0  # β of D_κ
    reference: Literal["local_mean", "half"] = "local_mean"
    seed: int = 0  # trapdoor patterns

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError("num_classes must be at least 2")
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be (C, H, W), not {self.input_shape}")
        if not 0 < self.amplitude <= 1:
            raise ValueError("amplitude must lie in (0, 1]")
        if not 0 < self.mask_fraction <= 1:
            raise ValueError("mask_fraction must lie in (0, 1]")
        if self.temperature <= 0 or self.sharpness <= 0:
            raise ValueError("temperature and sharpness must be > 0")
        if self.reference not in REFERENCES:
            raise ValueError(f"reference must be one of {', '.join(REFERENCES)}")
        if self.mask_size < 2:
            raise ValueError("mask_fraction · input size must give at least 2 input values")

    @property
    def dims(self) -> int:
        channels, height, width = self.input_shape
        return channels * height * width

    @property
    def mask_size(self) -> int:
        """k: masked input values per trapdoor (even, so the signs balance)."""
        return int(self.mask_fraction * self.dims) // 2 * 2


def _sign_patterns(config: TrapdoorConfig) -> Tensor:
    """s_t per class, (n, d) float32: k/2 signs +1 and k/2 signs −1 on a random mask."""
    generator = torch.Generator().manual_seed(config.seed)
    k = config.mask_size
    balanced = torch.cat([torch.ones(k // 2), -torch.ones(k // 2)])
    patterns = torch.zeros(config.num_classes, config.dims)
    for target in range(config.num_classes):
        positions = torch.randperm(config.dims, generator=generator)[:k]
        patterns[target, positions] = balanced[torch.randperm(k, generator=generator)]
    return patterns


def _safe_log(probabilities: Tensor) -> Tensor:
    return torch.log(probabilities.clamp_min(torch.finfo(probabilities.dtype).tiny))


class WeightedSumTrapdoorModel(nn.Module):
    """M(x) = D_κ(x)·W_ω(x) + (1 − D_κ(x))·C_π(x) (Sec. IV-C, Eq. 1), as log-probabilities.

    `victim` maps inputs (N, C, H, W) in [0, 1] to logits over `config.num_classes`.
    """

    signs: Tensor

    def __init__(self, victim: nn.Module, config: TrapdoorConfig) -> None:
        super().__init__()
        self.victim = victim
        self.config = config
        self.register_buffer("signs", _sign_patterns(config))

    @property
    def trapdoors(self) -> Tensor:
        """Δ_t for every class, (n, C, H, W)."""
        return (self.config.amplitude * self.signs).view(-1, *self.config.input_shape)

    def embed_trapdoor(self, x: Tensor, target: int | Tensor) -> Tensor:
        """clamp(x + Δ_t, 0, 1); `target` one class for all rows or one per row."""
        if isinstance(target, Tensor) and target.dim() > 0:
            trapdoor = self.trapdoors[target.to(self.signs.device)]
        else:
            trapdoor = self.trapdoors[int(target)].unsqueeze(0)
        return (x + trapdoor.to(x.dtype)).clamp(0.0, 1.0)

    def _reference(self, x: Tensor) -> Tensor:
        if self.config.reference == "half":
            return torch.full_like(x, 0.5)
        images = x.view(len(x), *self.config.input_shape)
        local = F.avg_pool2d(
            images, LOCAL_WINDOW, stride=1, padding=LOCAL_WINDOW // 2, count_include_pad=False
        )
        return local.view_as(x)

    def correlations(self, x: Tensor) -> Tensor:
        """ρ_t(x) = ⟨x − r(x), s_t⟩ / (a k) for every class, (N, n)."""
        residual = (x - self._reference(x)).flatten(start_dim=1)
        scale = self.config.amplitude * self.config.mask_size
        return residual @ self.signs.to(x.dtype).T / scale

    def _decode(self, correlations: Tensor) -> Tensor:
        return torch.softmax(correlations / self.config.temperature, dim=1)

    def _detect(self, correlations: Tensor) -> Tensor:
        strongest = correlations.max(dim=1).values
        return torch.sigmoid(self.config.sharpness * (strongest - self.config.threshold))

    def decode(self, x: Tensor) -> Tensor:
        """W_ω(x) = softmax(ρ(x) / T), (N, n): the trapdoor decoder."""
        return self._decode(self.correlations(x))

    def detect(self, x: Tensor) -> Tensor:
        """D_κ(x) = sigmoid(β (max_t ρ_t(x) − θ)), (N,): the trapdoor detector."""
        return self._detect(self.correlations(x))

    def components(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(N1, N2) = (D·W, (1 − D)·softmax C), each (N, n): signals (2) and (1) of Fig. 3."""
        soft_labels = torch.softmax(self.victim(x), dim=1)
        correlations = self.correlations(x).to(soft_labels.dtype)
        detected = self._detect(correlations).unsqueeze(1)
        return detected * self._decode(correlations), (1.0 - detected) * soft_labels

    def probabilities(self, x: Tensor) -> Tensor:
        """M(x) = N1 + N2, (N, n), rows summing to 1."""
        trapdoor, victim = self.components(x)
        return trapdoor + victim

    def forward(self, x: Tensor) -> Tensor:
        """log M(x): log-probabilities used as logits."""
        return _safe_log(self.probabilities(x))
