"""LID: Local Intrinsic Dimensionality detector (Ma et al., ICLR 2018, "Characterizing
Adversarial Subspaces Using Local Intrinsic Dimensionality").

Estimator. With r_1 ≤ … ≤ r_k the Euclidean distances from x to its k nearest neighbours
in a reference set, the maximum-likelihood estimate (Levina & Bickel; Amsaleg et al.) is

    LID(x) = −( (1/k) Σ_{i=1..k} log(r_i(x) / r_k(x)) )^{-1}.

Zero distances (rule of `lid_mle`): a reference point at distance exactly 0 from the query
is a duplicate of the query and carries no information on how the neighbourhood grows, so
it is skipped, like the query itself; the k nearest *strictly positive* distances are used.
Distances are computed in float64 by the matrix-product form (`_distances`); those below
1e-6 of the larger vector norm count as exactly 0, so identical vectors are duplicates. A
query with fewer than k positive distances (the reference collapses onto it) gets LID 0; a
query whose k distances are all equal (the MLE diverges) gets +inf, which `lid_features`
rejects.

Features and minibatch protocol (the paper's Algorithm 1). For each layer of the
network, the LID of every example of a minibatch (100 images in the paper) is estimated
w.r.t. the activations of the *clean* examples of that minibatch (k = 20 for MNIST and
CIFAR-10, `PAPER_SETTINGS`); activations are flattened per example. The clean minibatch is
the neighbour set for the clean, noisy and adversarial versions of the same images, as in
the authors' code. One minibatch thus gives an (N, L) feature matrix, L = number of layers.
  * Clean queries skip themselves (`exclude_self=True`). Noisy and adversarial queries
    skip their own clean source image (same index), i.e. a leave-one-out neighbour set:
    the authors' code drops the nearest neighbour of every query, which for a noisy or
    adversarial example is almost always its source; dropping the source itself is the
    same thing, stated exactly, and matches test time where the source is absent.
  * Layers (`layers="default"`): the outputs of the top-level modules of `model.trunk`
    that are a ReLU, a pooling layer (max / average / adaptive) or a Linear layer, plus a
    residual block of `DeepsecResNet20` (its output is a ReLU), plus the logits. Linear
    outputs are taken before the ReLU that follows (hooks clone the output before an
    in-place ReLU overwrites it). `layers="all"`: every top-level module of the trunk
    plus the logits (the authors used every Keras layer for MNIST). A sequence of ints
    picks trunk module indices explicitly; the logits are always the last feature.
    Activations are computed in eval mode, without gradients.

Detector. `LIDDetector.fit(x_clean, x_noisy, x_adv)` builds the features per minibatch,
standardises them (`StandardScaler`) and fits `LogisticRegressionCV` (L2, 5-fold, 10 Cs,
accuracy as in the authors' code, which used the sklearn defaults) with adversarial = 1 and
clean + noisy = 0. The score of an input is the regression's probability of adversarial.
`ScoreDetector.score(x)` takes one argument, so `fit` stores one batch of clean images
(`self.reference`, `batch_size` of them; by default the first of `x_clean`, better a
separate clean validation batch) and `score(x)` uses it as the neighbour set of every x;
`score(x, reference)` overrides it. Since each query's LID depends only on the reference,
x can be of any size. A query identical to a reference image is handled leave-one-out by
the zero-distance rule, so calibration images may overlap the reference.

Noisy negatives (`gaussian_noise_like`): Gaussian noise scaled per example to the L2
magnitude of that example's adversarial perturbation ||x_adv − x||₂, then clipped to [0, 1]
(clipping can only shrink the realised norm).

Why custom: there is no well-kept PyTorch LID implementation (only unmaintained ports), and
the authors' code (github.com/xingjunm/lid_adversarial_subspace_detection) is Keras /
TensorFlow 1; the estimator is a few lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from decoybench.models.architectures import _BasicBlock
from decoybench.papers.baselines.detector import ScoreDetector

__all__ = [
    "PAPER_SETTINGS",
    "LIDDetector",
    "gaussian_noise_like",
    "lid_features",
    "lid_layer_names",
    "lid_mle",
]

#: Ma et al. 2018, experimental setup: minibatch size 100 and k = 20 nearest neighbours.
PAPER_SETTINGS: dict[str, dict[str, int]] = {
    "mnist": {"k": 20, "batch_size": 100},
    "cifar10": {"k": 20, "batch_size": 100},
}

_DEFAULT_LAYER_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.Linear,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    _BasicBlock,
)


def _check_k(k: Any) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return k


def lid_mle(query: Tensor, reference: Tensor, k: int, exclude_self: bool = False) -> Tensor:
    """MLE of the LID of each query row w.r.t. the reference rows, shape (N,), float64.

    query (N, D), reference (M, D). With `exclude_self`, reference[i] is query[i] itself
    (or its clean source) and is skipped for query i (needs N ≤ M). Reference points at
    distance exactly 0 are skipped as duplicates; fewer than k positive distances -> 0.
    """
    k = _check_k(k)
    if query.ndim != 2 or reference.ndim != 2 or query.shape[1] != reference.shape[1]:
        raise ValueError(
            f"query and reference must be (N, D) and (M, D), got {tuple(query.shape)} "
            f"and {tuple(reference.shape)}"
        )
    n, m = query.shape[0], reference.shape[0]
    if exclude_self and n > m:
        raise ValueError(f"exclude_self needs N <= M, got N={n}, M={m}")
    available = m - 1 if exclude_self else m
    if k > available:
        raise ValueError(
            f"k={k} needs at least k neighbours, but the reference has {available} "
            f"(M={m}{', excluding self' if exclude_self else ''})"
        )
    q = query.detach().to(torch.float64)
    r = reference.detach().to(q.device, torch.float64)
    dist = _distances(q, r)
    if exclude_self:
        index = torch.arange(n, device=dist.device)
        dist[index, index] = torch.inf
    dist = torch.where(dist > 0, dist, torch.full_like(dist, torch.inf))  # duplicates
    nearest = dist.topk(k, dim=1, largest=False).values  # ascending
    collapsed = ~torch.isfinite(nearest[:, -1])
    nearest = torch.where(torch.isfinite(nearest), nearest, torch.ones_like(nearest))
    mean_log = torch.log(nearest / nearest[:, -1:]).mean(dim=1)
    # All k distances equal: mean_log == 0 and the MLE diverges (+inf, by the rule above).
    lid = torch.where(mean_log < 0, -1.0 / mean_log, torch.full_like(mean_log, torch.inf))
    return torch.where(collapsed, torch.zeros_like(lid), lid).cpu()


def _distances(q: Tensor, r: Tensor) -> Tensor:
    """Euclidean distances (N, M) in float64 through ‖q‖² + ‖r‖² − 2 q·r (a matrix product:
    about ten times faster than the difference form on wide conv layers). Rounding leaves a
    true duplicate at ≈1e-8·‖q‖ instead of 0, so distances below 1e-6 of the larger norm
    are set to exactly 0 (numerically the same point: skipped by the duplicate rule)."""
    q_norm2 = q.pow(2).sum(dim=1, keepdim=True)
    r_norm2 = r.pow(2).sum(dim=1, keepdim=True).T
    squared = (q_norm2 + r_norm2 - 2.0 * (q @ r.T)).clamp_min(0.0)
    dist = squared.sqrt()
    scale = torch.maximum(q_norm2, r_norm2).sqrt()
    return torch.where(dist <= 1e-6 * scale, torch.zeros_like(dist), dist)


def _layer_indices(model: nn.Module, layers: str | Sequence[int]) -> list[int]:
    children = list(model.trunk.children())
    if isinstance(layers, str):
        if layers == "all":
            return list(range(len(children)))
        if layers == "default":
            return [i for i, mod in enumerate(children) if isinstance(mod, _DEFAULT_LAYER_TYPES)]
        raise ValueError(f"layers must be 'default', 'all' or trunk indices, got {layers!r}")
    indices = [int(i) for i in layers]
    for i in indices:
        if not -len(children) <= i < len(children):
            raise ValueError(f"layer index {i} out of range for a trunk of {len(children)}")
    return sorted({i % len(children) for i in indices})


def lid_layer_names(model: nn.Module, layers: str | Sequence[int] = "default") -> list[str]:
    """Names of the feature columns of `lid_features`: 'trunk.<i>:<Module>', then 'logits'."""
    children = list(model.trunk.children())
    names = [f"trunk.{i}:{type(children[i]).__name__}" for i in _layer_indices(model, layers)]
    return [*names, "logits"]


def _activations(model: nn.Module, x: Tensor, indices: list[int]) -> list[Tensor]:
    """Flattened outputs of the chosen trunk modules, then the logits (eval, no grad)."""
    children = list(model.trunk.children())
    captured: dict[int, Tensor] = {}
    handles = []
    for i in indices:

        def hook(_module: nn.Module, _inputs: Any, output: Tensor, i: int = i) -> None:
            captured[i] = output.detach().flatten(1).clone()

        handles.append(children[i].register_forward_hook(hook))
    try:
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return [*(captured[i] for i in indices), logits.detach().flatten(1)]


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def lid_features(
    model: nn.Module,
    x_batch: Tensor,
    reference_batch: Tensor,
    k: int,
    layers: str | Sequence[int] = "default",
    exclude_self: bool | None = None,
) -> Tensor:
    """Per-layer LID of each x w.r.t. the clean reference minibatch, shape (N, L), float64.

    `exclude_self` (default: whether x_batch is reference_batch) skips reference[i] for
    x[i]: the example itself when x is the clean batch, its clean source when x is its
    noisy or adversarial version. Raises if a feature is not finite.
    """
    _check_k(k)
    if exclude_self is None:
        exclude_self = x_batch is reference_batch
    indices = _layer_indices(model, layers)
    device = _model_device(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ref_acts = _activations(model, reference_batch.to(device), indices)
            if x_batch is reference_batch:
                x_acts = ref_acts
            else:
                x_acts = _activations(model, x_batch.to(device), indices)
    finally:
        model.train(was_training)
    columns = [
        lid_mle(xa, ra, k, exclude_self=exclude_self)
        for xa, ra in zip(x_acts, ref_acts, strict=True)
    ]
    features = torch.stack(columns, dim=1)
    if not torch.isfinite(features).all():
        bad = sorted({int(j) for j in (~torch.isfinite(features)).nonzero()[:, 1]})
        names = lid_layer_names(model, layers)
        raise ValueError(
            f"non-finite LID (equidistant neighbours) at layers {[names[j] for j in bad]}"
        )
    return features


def gaussian_noise_like(
    x: Tensor, generator: torch.Generator | None, scale: float | Tensor
) -> Tensor:
    """x plus Gaussian noise of L2 norm `scale` per example (float or (N,)), clipped to [0, 1].

    For Ma et al.'s noisy negatives pass scale = (x_adv − x).flatten(1).norm(dim=1).
    """
    n = x.shape[0]
    scale_t = torch.as_tensor(scale, dtype=x.dtype, device=x.device).reshape(-1)
    if scale_t.numel() not in (1, n):
        raise ValueError(f"scale must be a float or have N={n} entries, got {scale_t.numel()}")
    if (scale_t < 0).any():
        raise ValueError("scale must be non-negative")
    gen_device = generator.device if generator is not None else torch.device("cpu")
    noise = torch.randn(x.shape, generator=generator, device=gen_device, dtype=x.dtype)
    noise = noise.to(x.device)
    norms = noise.flatten(1).norm(dim=1).clamp_min(torch.finfo(x.dtype).tiny)
    factor = (scale_t.expand(n) / norms).reshape(n, *([1] * (x.ndim - 1)))
    return (x + noise * factor).clamp(0.0, 1.0)


def _minibatches(n: int, batch_size: int, k: int) -> list[slice]:
    """Consecutive slices of `batch_size`; a last one too small for k (≤ k) joins the previous."""
    if n < k + 1:
        raise ValueError(f"k={k} needs at least k+1={k + 1} images per minibatch, got {n}")
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < k + 1:
        starts.pop()
    ends = [*starts[1:], n]
    return [slice(s, e) for s, e in zip(starts, ends, strict=True)]


class LIDDetector(ScoreDetector):
    """Ma et al.'s LID detector: logistic regression on per-layer minibatch LID features."""

    name = "lid"

    def __init__(
        self,
        model: nn.Module,
        k: int = PAPER_SETTINGS["mnist"]["k"],
        batch_size: int = PAPER_SETTINGS["mnist"]["batch_size"],
        layers: str | Sequence[int] = "default",
    ) -> None:
        super().__init__()
        _check_k(k)
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 2:
            raise ValueError(f"batch_size must be an integer >= 2, got {batch_size!r}")
        if k >= batch_size:
            raise ValueError(
                f"k={k} must be smaller than batch_size={batch_size} (each clean example "
                f"has batch_size - 1 neighbours in its minibatch)"
            )
        self.model = model
        self.k = k
        self.batch_size = batch_size
        self.layers = layers
        _layer_indices(model, layers)  # validate early
        self.reference: Tensor | None = None
        self.scaler: Any = None
        self.classifier: Any = None

    def features(self, x: Tensor, reference: Tensor) -> Tensor:
        """LID features (N, L) of x w.r.t. `reference`, in query chunks of batch_size."""
        chunks = [
            lid_features(
                self.model, x[s : s + self.batch_size], reference, self.k, self.layers, False
            )
            for s in range(0, x.shape[0], self.batch_size)
        ]
        return torch.cat(chunks)

    def fit(
        self,
        x_clean: Tensor,
        x_noisy: Tensor,
        x_adv: Tensor,
        reference: Tensor | None = None,
    ) -> LIDDetector:
        """Fit on aligned clean / noisy / adversarial images (index i = the same image).

        `reference`: the clean images `score(x)` will use as neighbours (default: the first
        `batch_size` of x_clean); it must have more than k images.
        """
        from sklearn.linear_model import LogisticRegressionCV
        from sklearn.preprocessing import StandardScaler

        if not x_clean.shape == x_noisy.shape == x_adv.shape:
            raise ValueError(
                f"x_clean, x_noisy and x_adv must have the same shape, got "
                f"{tuple(x_clean.shape)}, {tuple(x_noisy.shape)}, {tuple(x_adv.shape)}"
            )
        rows: dict[str, list[Tensor]] = {"clean": [], "noisy": [], "adv": []}
        for part in _minibatches(x_clean.shape[0], self.batch_size, self.k):
            clean = x_clean[part]
            rows["clean"].append(lid_features(self.model, clean, clean, self.k, self.layers, True))
            for key, batch in (("noisy", x_noisy[part]), ("adv", x_adv[part])):
                rows[key].append(lid_features(self.model, batch, clean, self.k, self.layers, True))
        negatives = torch.cat([*rows["clean"], *rows["noisy"]])
        positives = torch.cat(rows["adv"])
        features = torch.cat([negatives, positives]).numpy()
        labels = torch.cat(
            [
                torch.zeros(len(negatives), dtype=torch.long),
                torch.ones(len(positives), dtype=torch.long),
            ]
        ).numpy()
        self.scaler = StandardScaler().fit(features)
        self.classifier = LogisticRegressionCV(
            Cs=10,
            cv=5,
            l1_ratios=(0.0,),
            scoring="accuracy",
            max_iter=1000,
            use_legacy_attributes=False,
        ).fit(self.scaler.transform(features), labels)
        if reference is None:
            reference = x_clean[: self.batch_size]
        if reference.shape[0] <= self.k:
            raise ValueError(f"k={self.k} needs a reference of more than k images")
        self.reference = reference.detach().clone()
        return self

    def score(self, x: Tensor, reference: Tensor | None = None) -> Tensor:
        """Probability of adversarial, shape (N,), float64 on the CPU."""
        if self.classifier is None or self.reference is None:
            raise ValueError("lid: call fit before score")
        reference = self.reference if reference is None else reference
        if reference.shape[0] < self.k:
            raise ValueError(f"k={self.k} needs a reference of at least k images")
        features = self.scaler.transform(self.features(x, reference).numpy())
        probability = self.classifier.predict_proba(features)[:, 1]
        return self._cpu(torch.from_numpy(probability))

    def differentiable_score(self, x: Tensor, reference: Tensor | None = None) -> Tensor:
        """`score(x, reference)`, float64 on x's device, differentiable in x (adaptive
        attacks: decoybench.papers.baselines.margins.lid_score)."""
        from decoybench.papers.baselines.margins import lid_score  # margins imports lid

        return lid_score(self, x, reference)
