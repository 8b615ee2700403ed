"""Feature Squeezing (Xu, Evans & Qi, NDSS 2018, "Feature Squeezing: Detecting Adversarial
Examples in Deep Neural Networks") as a baseline detector.

The detector squeezes each input with a few simple transformations that remove detail the
classifier should not need (colour bit-depth reduction, median smoothing) and compares the
model's prediction on the original with its prediction on each squeezed copy. The score is the
paper's joint detection score,

    score(x) = max_i || softmax(f(x)) - softmax(f(squeeze_i(x))) ||_1,

an L1 distance in [0, 2]; thresholds at target FPRs come from `ScoreDetector.calibrate` on
clean validation inputs (the paper picks its threshold at a 5% FPR on legitimate examples).

Why custom code: the issue suggests ART's `FeatureSqueezing` and `SpatialSmoothing`
preprocessors, but importing ART costs about 5 s per Snakemake job here and both would
round-trip every batch through NumPy (and off the GPU). The squeezers are therefore written in
torch, run on any device, and are tested for equality against ART (bit depth) and
`scipy.ndimage.median_filter` (median smoothing, the function the authors' code and ART call).

Conventions matched exactly:
- bit depth: round(x * (2^bits - 1)) / (2^bits - 1), round half to even (as np.rint);
- median: scipy's window for a size s is offsets -(s//2) .. s-1-(s//2) around each pixel (for
  the paper's "2x2" the pixel is the window's lower-right corner), padding is scipy's 'reflect'
  (the edge pixel repeated: d c b a | a b c d | d c b a, NumPy's 'symmetric', which torch's
  `F.pad` lacks, so it is done by index), and the median of an even count is the element of
  rank s*s//2 (0-based), i.e. the upper of the two middle values.

Non-local means (the paper's third CIFAR10 squeezer) is left out: the authors implement it
with OpenCV's `fastNlMeansDenoisingColored`, and OpenCV is not installed in this environment.
`PAPER_SQUEEZERS["cifar10"]` therefore holds only the two squeezers available.

Adaptive attacks (`differentiable_score`): the squeezers are piecewise constant (bit depth: zero
gradient almost everywhere), so, as in BPDA (Athalye et al., ICML 2018, who broke feature
squeezing this way), their forward value is kept exact and their backward pass is the
identity (straight-through, `decoybench.attacks.bpda`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from decoybench.attacks.bpda import NonDifferentiable, bpda
from decoybench.papers.baselines.detector import ScoreDetector, check_positive_int, placement

__all__ = [
    "PAPER_SQUEEZERS",
    "SQUEEZERS",
    "FeatureSqueezingDetector",
    "bit_depth_reduction",
    "make_squeezer",
    "median_smoothing",
]


def _check_bits(bits: Any) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
        raise ValueError(f"bits must be an integer in 1..8, got {bits!r}")
    return bits


def _check_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return size


def _check_images(x: Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected NCHW images, got shape {tuple(x.shape)}")


def bit_depth_reduction(x: Tensor, bits: int) -> Tensor:
    """Each value of x (in [0, 1]) rounded to the nearest of 2^bits evenly spaced levels."""
    levels = float(2 ** _check_bits(bits) - 1)
    return torch.round(x * levels) / levels


def _symmetric_indices(length: int, before: int, after: int, device: torch.device) -> Tensor:
    """Source indices for scipy 'reflect' padding (edge repeated) of one axis."""
    positions = torch.arange(-before, length + after, device=device) % (2 * length)
    return torch.where(positions < length, positions, 2 * length - 1 - positions)


def median_smoothing(x: Tensor, size: int) -> Tensor:
    """A size x size median filter per channel of NCHW images, equal to
    `scipy.ndimage.median_filter(x, size=(1, 1, size, size), mode="reflect")`."""
    _check_size(size)
    _check_images(x)
    if size == 1:
        return x.clone()
    before, after = size // 2, size - 1 - size // 2
    height, width = x.shape[-2:]
    padded = x.index_select(2, _symmetric_indices(height, before, after, x.device))
    padded = padded.index_select(3, _symmetric_indices(width, before, after, x.device))
    windows = padded.unfold(2, size, 1).unfold(3, size, 1)  # (N, C, H, W, size, size)
    windows = windows.reshape(*x.shape, size * size)
    # scipy's median is the element of 0-based rank count//2; kthvalue's k is 1-based.
    return windows.kthvalue(size * size // 2 + 1, dim=-1).values


# name -> (function, {parameter: validator})
SQUEEZERS: dict[str, tuple[Callable[..., Tensor], dict[str, Callable[[Any], int]]]] = {
    "bit_depth": (bit_depth_reduction, {"bits": _check_bits}),
    "median": (median_smoothing, {"size": _check_size}),
}

# The paper's joint-detection configurations (Table V, summary of the best joint detection;
# the same strings in the authors' EvadeML-Zoo code, "bit_depth_1,median_filter_2_2" and
# "bit_depth_5,median_filter_2_2,non_local_means_color_13_3_2"):
# MNIST: bit depth 1-bit + median 2x2; CIFAR10: bit depth 5-bit + median 2x2 + non-local means
# (search window 13, patch 3, filter strength 2), the last left out here: see the docstring.
PAPER_SQUEEZERS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "mnist": [("bit_depth", {"bits": 1}), ("median", {"size": 2})],
    "cifar10": [("bit_depth", {"bits": 5}), ("median", {"size": 2})],
}


def make_squeezer(name: str, params: Mapping[str, Any]) -> Callable[[Tensor], Tensor]:
    """The squeezer `name` with its parameters bound, validated now (ValueError naming the
    squeezer or parameter at fault)."""
    try:
        function, checks = SQUEEZERS[name]
    except KeyError:
        raise ValueError(
            f"unknown squeezer {name!r}; known: {', '.join(sorted(SQUEEZERS))}"
        ) from None
    unknown = sorted(set(params) - set(checks))
    missing = sorted(set(checks) - set(params))
    if unknown or missing:
        raise ValueError(
            f"squeezer {name!r} takes parameters {sorted(checks)}; "
            f"unknown: {unknown}, missing: {missing}"
        )
    bound = {key: check(params[key]) for key, check in checks.items()}

    def squeeze(x: Tensor) -> Tensor:
        return function(x, **bound)

    return squeeze


class FeatureSqueezingDetector(ScoreDetector):
    """Feature Squeezing's joint detector: the largest L1 distance between the model's softmax
    on an input and on any of its squeezed copies.

    `squeezers` is a sequence of (name, params) pairs, e.g. `PAPER_SQUEEZERS["mnist"]`; names
    are keys of `SQUEEZERS`. Inputs are scored in batches of `batch_size` on the model's
    device, in eval mode and without gradients.
    """

    name = "feature_squeezing"

    def __init__(
        self,
        model: nn.Module,
        squeezers: Sequence[tuple[str, Mapping[str, Any]]],
        batch_size: int = 500,
    ) -> None:
        super().__init__()
        if not squeezers:
            raise ValueError("feature squeezing needs at least one squeezer")
        check_positive_int(batch_size, "batch_size")
        self.model = model.eval()
        self.squeezer_specs = [(name, dict(params)) for name, params in squeezers]
        self._squeezers = [make_squeezer(name, params) for name, params in self.squeezer_specs]
        self.batch_size = batch_size

    def score(self, x: Tensor) -> Tensor:
        _check_images(x)
        self.model.eval()
        device, dtype = placement(self.model)
        scores = []
        with torch.no_grad():
            for start in range(0, len(x), self.batch_size):
                batch = x[start : start + self.batch_size].to(device=device, dtype=dtype)
                reference = torch.softmax(self.model(batch), dim=1)
                distances = torch.stack(
                    [
                        (reference - torch.softmax(self.model(squeeze(batch)), dim=1))
                        .abs()
                        .sum(dim=1)
                        for squeeze in self._squeezers
                    ]
                )
                scores.append(self._cpu(distances.amax(dim=0)))
        if not scores:
            return torch.zeros(0, dtype=torch.float64)
        return torch.cat(scores)

    def differentiable_score(self, x: Tensor) -> Tensor:
        """`score(x)`, float64 on x's device, differentiable in x: each squeezer's output is
        exact in the forward pass and straight-through (identity) in the backward pass."""
        _check_images(x)
        self.model.eval()
        device, dtype = placement(self.model)
        squeezers = nn.ModuleList(_StraightThrough(squeeze) for squeeze in self._squeezers)
        scores = []
        with bpda(squeezers):
            for start in range(0, len(x), self.batch_size):
                batch = x[start : start + self.batch_size].to(device=device, dtype=dtype)
                reference = torch.softmax(self.model(batch), dim=1)
                distances = torch.stack(
                    [
                        (reference - torch.softmax(self.model(squeeze(batch)), dim=1))
                        .abs()
                        .sum(dim=1)
                        for squeeze in squeezers
                    ]
                )
                scores.append(distances.amax(dim=0).to(device=x.device, dtype=torch.float64))
        if not scores:
            return x.new_zeros(0, dtype=torch.float64)
        return torch.cat(scores)


class _StraightThrough(NonDifferentiable):
    """A squeezer as a BPDA layer: under `bpda` its backward pass is the identity."""

    def __init__(self, squeeze: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.squeeze = squeeze

    def forward(self, x: Tensor) -> Tensor:
        return self.squeeze(x)
