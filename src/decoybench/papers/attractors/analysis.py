"""Attractor analysis of Zhang, Chang & Lee (arXiv:2003.02732), Sec. VI-C: Figures 5 and 7.

* Fig. 5 (Sec. VI-C1, "Strength of Victim model vs Attractors"): on clean inputs, the 1-norms
  of the two signals that make up M_(ψ,φ) = (softmax C + W) / ‖softmax C + W‖₁ (Eq. 2), and of
  the two parts of the attacker's input gradient that flow through them (signals (1) and (2)
  of the paper's Fig. 2a).
* Fig. 7a (Sec. VI-C2, "Soft-label"): cos(x_w − x, −∇ₓ J(x, y_t)) towards the nearest
  attractor x_w of label t, on C (Z1) and on M (Z2).
* Fig. 7b (Sec. VI-C3, "Local Density"): cos(x_w − x, ∇ₓ H_δ(x, y_t)) with H_δ the share of
  the radius-δ ball around x classified as t (Sec. IV-B b), on C (S1) and on M (S2); or, by
  default, with its soft variant, the ball average of the t-th soft-label (see
  `local_density_gradient`: the hard H_δ is flat around MNIST images).

The figure's x_w is the nearest *valid image* attractor (`nearest_attractors` with
within_box=True): a watermarked image in [0, 1], as the paper's attractor is a point of the
input space and the attacks are box-constrained. The nearest *lattice* attractor
(within_box=False: the codeword W's gradient pulls towards, outside [0, 1] at saturated
pixels) is kept as a diagnostic (keys with suffix `_lattice`). The two differ because at a 0
pixel ∇W points to the lattice codeword just below 0 (−64/255 for δ = 128), while the valid
image must move the pixel up to the nearest in-box codeword of the same coset (+192/255):
MNIST images are mostly 0 pixels, so the cosine to the valid image is far lower than to the
lattice point (on mnist5k, the first 100 test images: median Z2 −0.35, none above 0.8, against
0.95, 84 of 100 above 0.8, to the lattice point).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from decoybench.data import load_split, read_manifest
from decoybench.io import read_json, write_npz
from decoybench.models.checkpoint import load_checkpoint
from decoybench.papers.attractors.attractors import nearest_attractor
from decoybench.papers.attractors.defense import AttractorDefense
from decoybench.papers.attractors.gradient_split import l1_per_sample, split_gradient
from decoybench.papers.attractors.model import AttractorModel
from decoybench.papers.attractors.qim import QIMDecoder
from decoybench.runtime import to_float

__all__ = [
    "COSINES",
    "DENSITIES",
    "LATTICE",
    "MAGNITUDES",
    "component_magnitudes",
    "gradient_parts",
    "local_density_cosines",
    "local_density_gradient",
    "measure_attractor_analysis",
    "measure_batch",
    "nearest_attractors",
    "soft_label_cosines",
    "summarize_attractor_analysis",
]

MAGNITUDES = ("victim_output_l1", "decoder_output_l1", "victim_gradient_l1", "decoder_gradient_l1")
COSINES = ("Z1", "Z2", "S1", "S2")
LATTICE = "_lattice"  # suffix of the lattice-attractor diagnostic keys
ATTRACTORS = (("", True), (LATTICE, False))  # (key suffix, within_box) of each attractor kind
ATTRACTED = 0.8  # Sec. VI-C2: "cosine similarity is more than 0.8" (ε < 0.2)
DENSITIES = ("hard", "soft")  # local density: the paper's H_δ, or its soft-label average


def gradient_parts(model: AttractorModel, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Chain-rule split of ∇ₓ J, J = −log M_y(x) (Eq. 2), shaped like x: (through C, through W).

    The part through C differentiates J with W(x) held constant, the part through W with
    softmax C(x) held constant; they sum to the full gradient (`split_gradient`).
    """
    _, _, victim, decoder = split_gradient(model.components, model.combine, x, y)
    return victim, decoder


def component_magnitudes(model: AttractorModel, x: Tensor, y: Tensor) -> dict[str, np.ndarray]:
    """Fig. 5 per input: ‖softmax C(x)‖₁ (H2; exactly 1 for a softmax, up to rounding),
    ‖W(x)‖₁ (H1), and the 1-norms of the parts of ∇ₓ(−log M_y(x)) through C (T2) and W (T1)."""
    soft_labels, correlations, victim, decoder = split_gradient(
        model.components, model.combine, x, y
    )
    return {
        "victim_output_l1": l1_per_sample(soft_labels),
        "decoder_output_l1": l1_per_sample(correlations),
        "victim_gradient_l1": l1_per_sample(victim),
        "decoder_gradient_l1": l1_per_sample(decoder),
    }


@torch.no_grad()
def nearest_attractors(
    decoder: QIMDecoder, x: Tensor, *, within_box: bool = True
) -> tuple[Tensor, Tensor]:
    """(x_w, t): per input, the QIM embedding of message t (`nearest_attractor`, with the
    same `within_box`) nearest to x in L2 over all classes t (Sec. VI-C2); ties go to the
    lowest t. within_box=True gives valid images in [0, 1] (the Fig. 7 cosines); within_box=False
    the lattice attractors W's gradient pulls towards (the `_lattice` diagnostic)."""
    best = x.detach().clone()
    best_label = torch.zeros(len(x), dtype=torch.int64, device=x.device)
    best_distance = torch.full((len(x),), math.inf, dtype=torch.float64, device=x.device)
    for target in range(decoder.num_classes):
        candidate = nearest_attractor(decoder, x, target, within_box=within_box)
        distance = (candidate - x).flatten(start_dim=1).to(torch.float64).norm(dim=1)
        closer = distance < best_distance
        best[closer] = candidate[closer]
        best_label[closer] = target
        best_distance = torch.where(closer, distance, best_distance)
    return best, best_label


def _cosines(first: Tensor, second: Tensor) -> np.ndarray:
    """Row-wise cosine similarity a·b / (‖a‖ ‖b‖) in float64; nan where either row is zero."""
    a = first.detach().flatten(start_dim=1).to(torch.float64)
    b = second.detach().flatten(start_dim=1).to(torch.float64)
    norms = a.norm(dim=1) * b.norm(dim=1)
    dots = (a * b).sum(dim=1)
    return _numpy(torch.where(norms > 0, dots / norms, torch.full_like(dots, math.nan)))


def soft_label_cosines(model: nn.Module, x: Tensor, attractor: Tensor, label: Tensor) -> np.ndarray:
    """Z (Sec. VI-C2, Fig. 7a): cos(x_w − x, −∇ₓ J(x, y_t)), J the cross-entropy of model(x)
    against t. model(x) may be logits or log-probabilities (log-softmax leaves those as they
    are). Per input; nan where x_w = x or the gradient vanishes."""
    inputs = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(inputs), label.to(inputs.device), reduction="sum")
    (gradient,) = torch.autograd.grad(loss, inputs)
    return _cosines(attractor - x, -gradient)


def _unit_directions(count: int, dims: int, generator: torch.Generator) -> Tensor:
    """`count` directions uniform on the unit sphere in R^dims (normalized Gaussians), CPU."""
    gaussian = torch.randn(count, dims, generator=generator, dtype=torch.float64)
    return gaussian / gaussian.norm(dim=1, keepdim=True).clamp_min(1e-300)


@torch.no_grad()
def _density_values(
    model: nn.Module, points: Tensor, target: Tensor, density: str, batch_size: int
) -> Tensor:
    """Per point, float64: 1[argmax model = target] ("hard") or softmax(model)_target
    ("soft", the softmax taken in float64), batch_size points per forward pass."""
    parts = []
    for start in range(0, len(points), batch_size):
        output = model(points[start : start + batch_size])
        wanted = target[start : start + batch_size].to(output.device)
        if density == "hard":
            parts.append((output.argmax(dim=1) == wanted).to(torch.float64))
        else:
            soft = torch.softmax(output.to(torch.float64), dim=1)
            parts.append(soft.gather(1, wanted.view(-1, 1)).squeeze(1))
    return torch.cat(parts)


def _check_density(density: str) -> None:
    if density not in DENSITIES:
        raise ValueError(f"density must be one of {', '.join(DENSITIES)}, not {density!r}")


def local_density_gradient(
    model: nn.Module,
    x: Tensor,
    label: Tensor,
    radius: float,
    samples: int,
    generator: torch.Generator,
    batch_size: int,
    *,
    density: str = "hard",
) -> Tensor:
    """Monte-Carlo ∇ₓ of a local density of class t per input, shaped like x, float64.

    density="hard" (the paper's, Sec. IV-B b): H_δ(x, y_t) = P_{v ~ ball}(argmax f(x + δv)
    = t), the share of the radius-δ L2 ball ("within the sphere") around x classified as t,
    a ball average of a piecewise-constant indicator that autograd cannot differentiate.
    density="soft": E_{v ~ ball}[softmax(f(x + δv))_t], the ball average of the model's t-th
    soft-label. It exists because the hard one is flat on MNIST: on mnist5k (δ = 2, L2 on
    [0, 1] inputs, 64 direction pairs, the first 30 test images), for 29 of 30 images no
    sampled point of the ball is classified as the nearest attractor's class t, on C as on
    M, so the hard estimate is 0 and the cosine nan (an earlier run over δ in [1, 15] found
    no such point at all); the soft one is positive and smooth, its estimate finite.

    Both are ball averages of a function g, so by the divergence theorem ∇ = d/δ ·
    E_{u ~ sphere}[g(x+δu) u]; the antithetic form
    d/(2δ) · mean_k [(g(x+δu_k) − g(x−δu_k)) u_k] is unbiased for it (E u = 0) with lower
    variance. u_k: normalized Gaussians from `generator`, `samples` per input, drawn input by
    input (the result does not depend on batch_size); points clamped to [0, 1]; at most
    batch_size points per forward pass. Custom code: no attack or autodiff library offers
    the gradient of a hard-label local density, and the paper gives no estimator.
    """
    _check_density(density)
    if radius <= 0 or samples < 1 or batch_size < 1:
        raise ValueError("radius must be > 0, samples and batch_size >= 1")
    dims = x[0].numel()
    inputs_per_chunk = max(1, batch_size // (2 * samples))
    gradients = []
    for start in range(0, len(x), inputs_per_chunk):
        chunk = x[start : start + inputs_per_chunk].detach()
        target = label[start : start + inputs_per_chunk].to(x.device)
        directions = torch.stack([_unit_directions(samples, dims, generator) for _ in chunk])
        directions = directions.to(x.device)  # (b, K, d)
        centre = chunk.flatten(start_dim=1).to(torch.float64).unsqueeze(1)
        points = torch.cat([centre + radius * directions, centre - radius * directions], dim=1)
        points = points.clamp(0.0, 1.0).to(x.dtype).view(-1, *x.shape[1:])
        per_point = target.repeat_interleave(2 * samples)
        values = _density_values(model, points, per_point, density, batch_size)
        values = values.view(len(chunk), 2 * samples).to(directions.device)
        difference = values[:, :samples] - values[:, samples:]  # (b, K)
        gradient = (difference.unsqueeze(-1) * directions).mean(dim=1)
        gradients.append(dims / (2.0 * radius) * gradient)
    return torch.cat(gradients).view(x.shape)


def local_density_cosines(
    model: nn.Module,
    x: Tensor,
    attractor: Tensor,
    label: Tensor,
    radius: float,
    samples: int,
    generator: torch.Generator,
    batch_size: int,
    *,
    density: str = "hard",
) -> np.ndarray:
    """S (Sec. VI-C3, Fig. 7b): cos(x_w − x, ∇ₓ H_δ(x, y_t)) per input, with ∇ₓ H_δ (hard,
    the paper's) or its soft-label variant from `local_density_gradient`. Deterministic given
    the generator's state; nan where the estimate is 0 (hard: no sampled point changes class)
    or x_w = x."""
    gradient = local_density_gradient(
        model, x, label, radius, samples, generator, batch_size, density=density
    )
    return _cosines(attractor - x, gradient)


def _numpy(tensor: Tensor) -> np.ndarray:
    return tensor.detach().cpu().to(torch.float64).numpy()


def _load(
    victim_path: str | Path, defense_path: str | Path, data_dir: str | Path, device: Any
) -> tuple[nn.Module, AttractorDefense]:
    """The victim checkpoint (checked against the dataset) and the defense built around it."""
    fingerprint = read_manifest(data_dir)["fingerprint"]
    victim, _ = load_checkpoint(
        victim_path, device=str(device), expected={"data_sha256": fingerprint}
    )
    document = read_json(defense_path)["defense"]
    return victim, AttractorDefense.from_json(json.dumps(document), victim)


def summarize_attractor_analysis(arrays: dict[str, np.ndarray]) -> dict[str, float | int]:
    """The Fig. 5 and Fig. 7 summary of `measure_attractor_analysis`'s arrays.

    Per magnitude and cosine: median_<key> (ignoring nan; nan if none is defined); per
    cosine nan_count_<key>. For Z1 and Z2: defined_<key> (finite values), count_<key>_above_0.8
    (finite values > 0.8, Sec. VI-C2's threshold) and share_<key>_above_0.8 (their ratio; nan
    if none is defined), so a claim can be judged with an interval. The same for the lattice
    diagnostic (<key>_lattice) where the arrays hold it, and same_attractor_label: the images
    whose nearest valid and nearest lattice attractor carry the same label.
    """
    summary: dict[str, float | int] = {}
    suffixes = [suffix for suffix, _ in ATTRACTORS if f"Z2{suffix}" in arrays]
    cosines = [f"{key}{suffix}" for suffix in suffixes for key in COSINES]
    for key in (*MAGNITUDES, *cosines):
        finite = arrays[key][np.isfinite(arrays[key])]
        summary[f"median_{key}"] = float(np.median(finite)) if finite.size else math.nan
    for suffix in suffixes:
        for key in (f"Z1{suffix}", f"Z2{suffix}"):
            finite = arrays[key][np.isfinite(arrays[key])]
            above = int(np.sum(finite > ATTRACTED))
            summary[f"defined_{key}"] = int(finite.size)
            summary[f"count_{key}_above_0.8"] = above
            summary[f"share_{key}_above_0.8"] = above / finite.size if finite.size else math.nan
    for key in cosines:
        summary[f"nan_count_{key}"] = float(np.isnan(arrays[key]).sum())
    if f"attractor_label{LATTICE}" in arrays:
        same = arrays["attractor_label"] == arrays[f"attractor_label{LATTICE}"]
        summary["same_attractor_label"] = int(np.sum(same))
    return summary


_summary = summarize_attractor_analysis


def measure_batch(
    attracted: AttractorModel,
    x: Tensor,
    y: Tensor,
    *,
    density_radius: float,
    density_samples: int,
    generators: dict[str, torch.Generator],
    batch_size: int,
    density: str = "soft",
) -> dict[str, np.ndarray]:
    """Fig. 5 and Fig. 7 arrays of one batch (see `measure_attractor_analysis` for the keys).

    Fig. 7 uses the nearest valid attractor (within_box=True); the `_lattice` keys repeat it
    for the nearest lattice attractor (within_box=False). `generators` holds one generator
    per local-density key (S1, S2, S1_lattice, S2_lattice), advanced here.
    """
    batch = component_magnitudes(attracted, x, y)
    batch["label"] = y.cpu().numpy()
    victim = attracted.victim
    for suffix, within_box in ATTRACTORS:
        attractor, target = nearest_attractors(attracted.decoder, x, within_box=within_box)
        batch[f"attractor_label{suffix}"] = target.cpu().numpy()
        distance = (attractor - x).flatten(start_dim=1).norm(dim=1)
        batch[f"attractor_distance{suffix}"] = _numpy(distance)
        for key, model in (("Z1", victim), ("Z2", attracted)):
            batch[f"{key}{suffix}"] = soft_label_cosines(model, x, attractor, target)
        for key, model in (("S1", victim), ("S2", attracted)):
            batch[f"{key}{suffix}"] = local_density_cosines(
                model,
                x,
                attractor,
                target,
                density_radius,
                density_samples,
                generators[f"{key}{suffix}"],
                batch_size,
                density=density,
            )
    return batch


def measure_attractor_analysis(
    *,
    victim_path: str | Path,
    defense_path: str | Path,
    data_dir: str | Path,
    out: str | Path,
    device: Any,
    n_samples: int | None,
    density_radius: float,
    density_samples: int,
    batch_size: int,
    seed: int,
    density: str = "soft",
) -> dict[str, float | int]:
    """Fig. 5 and Fig. 7 measurements on the first `n_samples` test images (None: all),
    batch by batch.

    x_w is the nearest valid attractor (`nearest_attractors(..., within_box=True)`, an image
    in [0, 1]); attractor_distance is measured to it. The diagnostic keys with suffix
    `_lattice` repeat attractor_label, attractor_distance, Z1, Z2, S1 and S2 for the nearest
    lattice attractor (within_box=False: the point W's gradient pulls towards, possibly
    outside [0, 1]). `density` selects the local density of S1/S2: "soft" (default, the
    ball average of the t-th soft-label) or "hard" (the paper's H_δ, flat on MNIST: all nan);
    see `local_density_gradient`.

    Writes `out` (.npz, atomically): label, attractor_label (t), attractor_distance
    (‖x_w − x‖₂), the four Fig. 5 magnitudes, Z1 (C: the victim's logits), Z2 (M =
    `model_seen_by_attacker`), S1 (C), S2 (M), their `_lattice` twins, and the scalars
    density_radius, density_samples and density_kind ("soft" or "hard"). Every local-density
    key uses the same sphere directions (one generator per key, each seeded with `seed`).
    Returns `summarize_attractor_analysis` of the arrays (its nan_count_S* count the images
    whose estimate was 0).
    """
    _check_density(density)
    if (n_samples is not None and n_samples < 1) or batch_size < 1:
        raise ValueError("n_samples and batch_size must be at least 1")
    _, defense = _load(victim_path, defense_path, data_dir, device)
    attracted = defense.model_seen_by_attacker().eval()
    test = load_split(data_dir, "test")
    count = len(test.labels) if n_samples is None else n_samples
    images, labels = test.images[:count], torch.as_tensor(test.labels[:count])
    generators = {
        f"{key}{suffix}": torch.Generator().manual_seed(seed)
        for key in ("S1", "S2")
        for suffix, _ in ATTRACTORS
    }
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(labels), batch_size):
        x = to_float(images[start : start + batch_size], device)
        y = labels[start : start + batch_size].to(x.device)
        batch = measure_batch(
            attracted,
            x,
            y,
            density_radius=density_radius,
            density_samples=density_samples,
            generators=generators,
            batch_size=batch_size,
            density=density,
        )
        for key, values in batch.items():
            parts.setdefault(key, []).append(values)
    arrays = {key: np.concatenate(values) for key, values in parts.items()}
    arrays["density_radius"] = np.asarray(float(density_radius))
    arrays["density_samples"] = np.asarray(int(density_samples))
    arrays["density_kind"] = np.asarray(density)
    write_npz(out, arrays)
    return summarize_attractor_analysis(arrays)
