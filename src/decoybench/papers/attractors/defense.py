"""Attractors injected from a QIM watermark decoder (Zhang, Chang & Lee, arXiv:2003.02732).

The construction (paper Sections V-A to V-E):

* W_φ (`QIMDecoder`): n pre-selected ℓ-bit messages, one per class. Each input value (pixel ×
  channel, on the [0, 255] scale) is assigned one message bit and a quantization step δ; its
  QIM distance q(x_i, m_i, δ_i) is its distance to the nearest codeword of the bit's coset
  (bit 0 at 0.5δ, 2.5δ, ...; bit 1 at 1.5δ, 3.5δ, ...). The weighted sum Q(x, m) = Σ α_i q_i
  is mapped by Eq. 3, S(r) = A2 tanh((A0 r − A1) / (1 + A1 − A0 r)), to w_i = S(Q(x, m_i)).
* M_(ψ,φ) (`AttractorModel`), Eq. 2: the normalized sum of the victim's soft-labels and w.
* F_d (`ForensicDetector`): flags x iff max w > U (C1), min w < L (C2) or stdev w > σ0 (C3).
* F_r (`recover`): argmin w. M_(d,r) (`IntegratedAttractorModel`): F_r's label where F_d fires.

Where the paper is silent or ambiguous, this module chooses as follows.

1. Orientation of S and A0, A1 (Eq. 3). w_i must be a *correlation* (high for an input that
   carries m_i: "the decoded message is argmax W", "unusually high correlation indicates
   targeted attack"), while Eq. 3 with A0 > 0 increases with the distance; the sentence around
   Eq. 3 swaps high and low. The constants must put A0 r − A1 in [0, 1]; we take
   A0 = −1/Q_max and A1 = −1 (Q_max = Σ α_i δ_i, the largest possible distance), so that with
   d = Q/Q_max, S = A2 tanh((1 − d)/d): A2 at an attractor (d = 0), 0 at the farthest point
   (d = 1), 0.76·A2 at d = 0.5, where clean inputs lie (a saturated MNIST pixel is exactly
   half an interval from both cosets). Other constants are accepted if A0 < 0 and
   A0 r − A1 stays in [0, 1] on [0, Q_max].
2. A2 (the attractors' influence, unspecified): 0.05 by default, so that on clean inputs
   ‖W‖₁ ≈ 0.38 stays well below ‖softmax C‖₁ = 1 (paper Fig. 5a) while W's input gradient,
   unlike a saturated softmax's, does not vanish (Fig. 5b).
3. The two interval sizes 3 and 128 (Sec. VI-B) with "more weightage on larger interval size"
   (Sec. VI-F5). Q carries one δ_i and α_i per pixel, so by default (layout "split") every
   input value gets one of the intervals, in a seeded balanced random assignment, with
   α = (0.2, 0.8). Layout "stacked" instead adds both scales at every input value (each value
   then contributes α_s q(x_i, m_i, δ_s) for every interval s, with the same bit).
   Distances are raw (pixel units), as in the paper, so α is each scale's gradient weight.
4. Message length ℓ: the paper uses one bit per pixel (ℓ = number of input values), the
   default; a smaller ℓ spreads each bit over several values (seeded balanced assignment).
   The n messages are drawn distinct.
5. Normalization in Eq. 2: C's output is its softmax (the paper's soft-labels) and W ≥ 0, so
   C + W is non-negative and |·| is read as its 1-norm: M is a probability vector. Following
   the project convention, `AttractorModel` returns log M as logits.
6. The detector's vector w is W_φ(x) itself (Sec. V-C: "w = W_φ(x)"), not M's output; stdev
   is the population standard deviation over the n coefficients.
7. Thresholds ("determined by statistical test on clean and adversarial data"): calibrated on
   clean data only (no adversarial data at calibration time). The three statistics are
   standardized with the clean median and MAD (z1 = (max w − c1)/s1, z2 = (c2 − min w)/s2,
   z3 = (stdev w − c3)/s3); the score is max(z1, z2, z3), and one threshold τ on it gives
   U = c1 + τ s1, L = c2 − τ s2, σ0 = c3 + τ s3, so F_d is exactly the test score > τ and its
   operating point lies on the score's ROC curve. τ is set between the k-th and (k+1)-th
   largest calibration scores, k = ⌊fpr·N⌋: realized FPR = k/N (less only with ties), never
   above the target.
8. Integrated model M_(d,r): classifies with M_(ψ,φ) by default (the deployed model; with C
   the attack's gradient would not see the attractors at all, the detector and recovery
   being piecewise constant), `classify_with="victim"` uses C. Where F_d fires it outputs
   0.9·onehot(F_r(x)) + 0.1·M(x), whose argmax is F_r(x) and whose gradient is M's, as
   log-probabilities.
9. Codewords (Sec. V-E lists bit 0 at 0.5δ, 2.5δ, ... and bit 1 at 1.5δ, 3.5δ, ...): we use
   the whole lattice (2k + m + 0.5)δ, k ∈ ℤ, so bit 1 also has −0.5δ and every value has a
   codeword of each coset within δ; a saturated pixel (0 or 255) is then about δ/2 from both,
   and W is nearly flat across classes on clean MNIST. The literal one-sided reading puts a
   black pixel 0.5δ from bit 0 but 1.5δ from bit 1, so W then varies with the background's
   bits; measured on mnist5k (200 test images, A2 = 0.05, DEEPSEC-style PGD), it *raises*
   PGD's ASR on M from 70% to 80% and lowers F_r's recovery from 99% to 31%: the lattice
   is kept.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "PIXEL_SCALE",
    "AttractorConfig",
    "AttractorDefense",
    "AttractorModel",
    "DetectorThresholds",
    "ForensicDetector",
    "IntegratedAttractorModel",
    "QIMDecoder",
    "Standardization",
    "nearest_attractor",
    "qim_distance",
    "recover",
]

PIXEL_SCALE = 255.0  # QIM works on pixel values in [0, 255]; models take [0, 1].
LAYOUTS = ("split", "stacked")
JSON_FORMAT = "decoybench.attractor.v1"
_DENOMINATOR_FLOOR = 1e-12


def qim_distance(values: Tensor, bit: Tensor | int, interval: Tensor | float) -> Tensor:
    """q(v, m, δ): distance of v to the nearest codeword (2k + m + 0.5)·δ of bit m's coset.

    Remainder arithmetic: t = (v − (m + 0.5)δ) mod 2δ lies in [0, 2δ), the codewords are at
    t = 0 (≡ 2δ), so q = δ − |t − δ| ∈ [0, δ]; dq/dv = ±1 almost everywhere.
    """
    offset = (torch.as_tensor(bit, dtype=values.dtype, device=values.device) + 0.5) * interval
    phase = torch.remainder(values - offset, 2.0 * interval)
    return interval - (phase - interval).abs()


def _draw_messages(num_classes: int, bits: int, generator: torch.Generator) -> Tensor:
    """n distinct ℓ-bit messages from the generator (redrawing duplicates)."""
    if bits < 63 and num_classes > 2**bits:
        raise ValueError(f"{num_classes} distinct messages do not exist with {bits} bits")
    messages = torch.randint(0, 2, (num_classes, bits), generator=generator, dtype=torch.int64)
    for _ in range(10_000):
        seen: set[tuple[int, ...]] = set()
        duplicates = []
        for row, message in enumerate(messages.tolist()):
            key = tuple(message)
            if key in seen:
                duplicates.append(row)
            seen.add(key)
        if not duplicates:
            return messages
        messages[duplicates] = torch.randint(
            0, 2, (len(duplicates), bits), generator=generator, dtype=torch.int64
        )
    raise RuntimeError("could not draw distinct messages")  # pragma: no cover


@dataclass(frozen=True)
class AttractorConfig:
    """Everything that determines W_φ (it has no trained weights: all derives from `seed`).

    Keys: num_classes (n), input_shape (C, H, W), message_bits (ℓ; None = one bit per input
    value), intervals (δ on the [0, 255] scale), weights (α, one per interval), layout
    ("split": one interval per input value; "stacked": all intervals at every value),
    A0 (None = −1/Q_max), A1, A2 (Eq. 3), seed.
    """

    num_classes: int = 10
    input_shape: tuple[int, int, int] = (1, 28, 28)
    message_bits: int | None = None
    intervals: tuple[float, ...] = (3.0, 128.0)
    weights: tuple[float, ...] = (0.2, 0.8)
    layout: str = "split"
    A0: float | None = None
    A1: float = -1.0
    A2: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        object.__setattr__(self, "intervals", tuple(float(v) for v in self.intervals))
        object.__setattr__(self, "weights", tuple(float(v) for v in self.weights))
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be (C, H, W), got {self.input_shape}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        if not self.intervals or len(self.intervals) != len(self.weights):
            raise ValueError("intervals and weights must be non-empty and of equal length")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        positions = math.prod(self.input_shape)
        if self.message_bits is not None and not 1 <= self.message_bits <= positions:
            raise ValueError(f"message_bits must be in [1, {positions}], got {self.message_bits}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AttractorConfig:
        """Config from a (JSON/YAML) mapping; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown attractor config key(s): {', '.join(unknown)}")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able mapping (tuples as lists)."""
        return {key: list(v) if isinstance(v, tuple) else v for key, v in asdict(self).items()}


class QIMDecoder(nn.Module):
    """W_φ: per-class correlation w_i = S(Q(x, m_i)) of a QIM watermark decoder (Sec. V-E).

    Built from explicit *terms*: term t adds α_t · q(x[position_t], m[bit_t], δ_t) to every
    message's distance Q (inputs flattened C·H·W, values scaled to [0, 255]). `from_config`
    draws messages and assignments from a seed. Buffers are not persistent: a state_dict of a
    model containing the decoder holds only the victim's weights.
    """

    messages: Tensor
    term_position: Tensor
    term_bit: Tensor
    term_interval: Tensor
    term_weight: Tensor
    _weight_bit0: Tensor
    _weight_bit1: Tensor

    def __init__(
        self,
        messages: Tensor,
        term_position: Tensor,
        term_bit: Tensor,
        term_interval: Tensor,
        term_weight: Tensor,
        input_shape: Sequence[int],
        *,
        A0: float | None = None,
        A1: float = -1.0,
        A2: float = 0.05,
    ) -> None:
        super().__init__()
        messages = torch.as_tensor(messages, dtype=torch.int64)
        position = torch.as_tensor(term_position, dtype=torch.int64).flatten()
        bit = torch.as_tensor(term_bit, dtype=torch.int64).flatten()
        interval = torch.as_tensor(term_interval, dtype=torch.float64).flatten()
        weight = torch.as_tensor(term_weight, dtype=torch.float64).flatten()
        self.input_shape = tuple(int(v) for v in input_shape)
        positions = math.prod(self.input_shape)
        if messages.dim() != 2 or not bool(((messages == 0) | (messages == 1)).all()):
            raise ValueError("messages must be an (n, ℓ) tensor of 0/1 bits")
        if not len(position) == len(bit) == len(interval) == len(weight) > 0:
            raise ValueError("term tensors must be non-empty and of equal length")
        if position.min() < 0 or position.max() >= positions:
            raise ValueError(f"term positions must lie in [0, {positions})")
        if bit.min() < 0 or bit.max() >= messages.shape[1]:
            raise ValueError(f"term bits must lie in [0, {messages.shape[1]})")
        # Both cosets need a codeword inside [0, 255]: 1.5·δ <= 255.
        if interval.min() <= 0 or interval.max() > PIXEL_SCALE / 1.5:
            raise ValueError(f"intervals must lie in (0, {PIXEL_SCALE / 1.5:g}]")
        if weight.min() <= 0:
            raise ValueError("weights must be positive")
        self.q_max = float((weight * interval).sum())
        self.A0 = -1.0 / self.q_max if A0 is None else float(A0)
        self.A1 = float(A1)
        self.A2 = float(A2)
        ends = (-self.A1, self.A0 * self.q_max - self.A1)  # A0·r − A1 at r = 0 and r = Q_max
        if self.A0 >= 0 or self.A2 <= 0 or min(ends) < -1e-9 or max(ends) > 1 + 1e-9:
            raise ValueError(
                "Eq. 3 constants must satisfy A0 < 0, A2 > 0 and A0·r − A1 in [0, 1] for r in "
                f"[0, Q_max={self.q_max:g}]; got A0={self.A0}, A1={self.A1}, A2={self.A2}"
            )
        selected = messages[:, bit]  # (n, T): the bit each term reads, per message
        self.register_buffer("messages", messages, persistent=False)
        self.register_buffer("term_position", position, persistent=False)
        self.register_buffer("term_bit", bit, persistent=False)
        self.register_buffer("term_interval", interval, persistent=False)
        self.register_buffer("term_weight", weight, persistent=False)
        self.register_buffer("_weight_bit0", weight * (selected == 0), persistent=False)
        self.register_buffer("_weight_bit1", weight * (selected == 1), persistent=False)
        self._plans: dict[tuple[int, bool], list[tuple[Tensor, Tensor]]] = {}

    @classmethod
    def from_config(cls, config: AttractorConfig | Mapping[str, Any]) -> QIMDecoder:
        """Seeded W_φ. Draw order from one CPU generator: messages (n × ℓ), the bit of each
        input value (a random permutation mod ℓ), then ("split") its interval (a random
        permutation mod the number of intervals)."""
        if not isinstance(config, AttractorConfig):
            config = AttractorConfig.from_dict(config)
        positions = math.prod(config.input_shape)
        bits = config.message_bits or positions
        generator = torch.Generator().manual_seed(config.seed)
        messages = _draw_messages(config.num_classes, bits, generator)
        bit_of_position = torch.randperm(positions, generator=generator) % bits
        intervals = torch.tensor(config.intervals, dtype=torch.float64)
        weights = torch.tensor(config.weights, dtype=torch.float64)
        scales = len(config.intervals)
        if config.layout == "split":
            scale = torch.randperm(positions, generator=generator) % scales
            position = torch.arange(positions)
            bit = bit_of_position
        else:
            scale = torch.arange(scales).repeat_interleave(positions)
            position = torch.arange(positions).repeat(scales)
            bit = bit_of_position.repeat(scales)
        return cls(
            messages,
            position,
            bit,
            intervals[scale],
            weights[scale],
            config.input_shape,
            A0=config.A0,
            A1=config.A1,
            A2=config.A2,
        )

    @property
    def num_classes(self) -> int:
        """n, the number of messages (= classes)."""
        return int(self.messages.shape[0])

    def fingerprint(self) -> str:
        """SHA-256 of messages, terms and constants: the same seed must rebuild the same W."""
        digest = hashlib.sha256()
        for tensor in (
            self.messages,
            self.term_position,
            self.term_bit,
            self.term_interval,
            self.term_weight,
        ):
            canonical = torch.float64 if tensor.is_floating_point() else torch.int64
            digest.update(tensor.detach().cpu().to(canonical).contiguous().numpy().tobytes())
        digest.update(repr((self.input_shape, self.A0, self.A1, self.A2)).encode())
        return digest.hexdigest()

    def _pixel_values(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"expected inputs of shape (N, {self.input_shape}), got {x.shape}")
        return x.flatten(start_dim=1)[:, self.term_position] * PIXEL_SCALE

    def decode(self, x: Tensor) -> Tensor:
        """Q(x, m_i) for every message i, shape (N, n): weighted QIM distances, [0, 255] scale."""
        values = self._pixel_values(x)  # (N, T)
        interval = self.term_interval.to(values.dtype)
        distance0 = qim_distance(values, 0, interval)
        distance1 = qim_distance(values, 1, interval)
        return distance0 @ self._weight_bit0.to(values.dtype).T + distance1 @ (
            self._weight_bit1.to(values.dtype).T
        )

    def correlation(self, distance: Tensor) -> Tensor:
        """S(r) of Eq. 3: A2 tanh((A0 r − A1) / (1 + A1 − A0 r)), decreasing in r."""
        numerator = self.A0 * distance - self.A1
        denominator = (1.0 + self.A1 - self.A0 * distance).clamp_min(_DENOMINATOR_FLOOR)
        return self.A2 * torch.tanh(numerator / denominator)

    def forward(self, x: Tensor) -> Tensor:
        """W_φ(x) = (S(Q(x, m_1)), ..., S(Q(x, m_n))), shape (N, n), values in [0, A2]."""
        return self.correlation(self.decode(x))

    def decoded_label(self, x: Tensor) -> Tensor:
        """The decoded message: argmin_i Q(x, m_i), exact (ties to the lowest index).

        S is decreasing, so this is the paper's argmax W wherever W does not saturate; near an
        attractor tanh rounds to exactly A2 for several messages (Q/Q_max below about 1/20 in
        float64) and argmax W would tie, while the distances Q still differ.
        """
        return self.decode(x).argmin(dim=1)

    def _attractor_plan(self, label: int, within_box: bool = True) -> list[tuple[Tensor, Tensor]]:
        """Groups of input positions sharing one cost profile for message `label`, each with
        the values that minimize f(v) = Σ_terms α q(v, m_label[bit], δ) (codewords).

        within_box: the global minimizers of f among the codewords in [0, 255]. Otherwise the
        local minimizers of f on the lattice, in a window of 4·max δ around [0, 255] (enough
        for inputs in [0, 1]): for one term the whole coset (2k + m + 0.5)δ, where q = 0; for
        stacked terms where one scale outweighs the others (α_s > Σ other α) the codewords of
        that scale. f is piecewise linear with kinks at (j + 0.5)δ of every term, so its local
        minima are the kinks not above their two neighbouring kinks.
        """
        key = (label, within_box)
        if key in self._plans:
            return self._plans[key]
        target = self.messages[label, self.term_bit].tolist()
        profiles: dict[int, list[tuple[float, float, int]]] = {}
        for position, interval, weight, bit in zip(
            self.term_position.tolist(),
            self.term_interval.tolist(),
            self.term_weight.tolist(),
            target,
            strict=True,
        ):
            profiles.setdefault(position, []).append((interval, weight, bit))
        groups: dict[tuple[tuple[float, float, int], ...], list[int]] = {}
        for position, terms in profiles.items():
            groups.setdefault(tuple(sorted(terms)), []).append(position)
        plan = []
        for terms, members in groups.items():
            best = _box_minimizers(terms) if within_box else _lattice_minimizers(terms)
            plan.append((torch.tensor(members, dtype=torch.int64), best))
        self._plans[key] = plan
        return plan


def _weighted_cost(values: Tensor, terms: Sequence[tuple[float, float, int]]) -> Tensor:
    """f(v) = Σ α q(v, bit, δ) over the (δ, α, bit) terms of one input value."""
    cost = sum(weight * qim_distance(values, bit, interval) for interval, weight, bit in terms)
    assert isinstance(cost, Tensor)
    return cost


def _box_minimizers(terms: Sequence[tuple[float, float, int]]) -> Tensor:
    """The codewords in [0, 255] of any term that minimize f among them (sorted, unique)."""
    candidates = torch.cat(
        [
            (2.0 * torch.arange(math.ceil(PIXEL_SCALE / (2 * interval)) + 1) + bit + 0.5) * interval
            for interval, _, bit in terms
        ]
    ).to(torch.float64)
    candidates = candidates[candidates <= PIXEL_SCALE]
    cost = _weighted_cost(candidates, terms)
    return candidates[cost <= cost.min() + 1e-9].unique()


def _lattice_minimizers(terms: Sequence[tuple[float, float, int]]) -> Tensor:
    """The local minima of f on [−4δ_max, 255 + 4δ_max] (sorted, unique): kinks of f (the
    points (j + 0.5)δ of every term) whose cost is not above that of either neighbouring
    kink; f is linear in between. The window's two end kinks are never counted."""
    reach = 4.0 * max(interval for interval, _, _ in terms)
    kinks = torch.cat(
        [
            (
                torch.arange(
                    math.floor(-reach / interval), math.ceil((PIXEL_SCALE + reach) / interval) + 1
                ).to(torch.float64)
                + 0.5
            )
            * interval
            for interval, _, _ in terms
        ]
    ).unique()  # sorted
    cost = _weighted_cost(kinks, terms)
    tolerance = 1e-9 * max(1.0, float(cost.abs().max()))
    inner = cost[1:-1]
    local = (inner <= cost[:-2] + tolerance) & (inner <= cost[2:] + tolerance)
    return kinks[1:-1][local]


@torch.no_grad()
def nearest_attractor(
    decoder: QIMDecoder, x: Tensor, label: Tensor | int, *, within_box: bool = True
) -> Tensor:
    """QIM-embed message `label` into x (per sample if `label` is a tensor of shape (N,)).

    Each input value moves to the nearest point that minimizes its own part of Q(x, m_label),
    f(v) = Σ α q(v, m_label[bit], δ) over the terms reading it. Values covered by no term
    are left unchanged. The result decodes to `label` (`QIMDecoder.decoded_label`, argmin Q).

    * within_box=True (default): a valid image. Only codewords in [0, 255] are candidates,
      and the value goes to the nearest of those minimizing f among them: with one interval
      per value ("split") the nearest in-box codeword of its bit's coset (q = 0); with stacked
      intervals the codeword of the scale that dominates the weighted cost (the 128-step
      coset when it carries the larger weight). A value can move up to 1.5δ (e.g. 0 → 192
      for δ = 128, bit 1, the nearer codeword −64 being outside). The result is in [0, 1].
      Use it to build attractor *inputs* (attacks, detector tests).
    * within_box=False: the lattice attractor, the point W's gradient pulls towards.
      qim_distance measures to the whole lattice (2k + m + 0.5)δ, k ∈ ℤ (module docstring,
      item 9), so at a saturated pixel ∇W points to the nearest *lattice* codeword, possibly
      outside [0, 255]. Each value goes to the nearest local minimizer of f on the lattice:
      for one interval per value the nearest codeword of its bit's coset (q = 0, within
      δ: 0 → −64 for δ = 128, bit 1); for stacked intervals the nearest codeword of the
      dominant scale (when its α exceeds the sum of the others'). Not clamped: the result
      may leave [0, 1]. Used by the Fig. 7 analysis (`evaluation.attractor_analysis`).
    """
    labels = torch.as_tensor(label, dtype=torch.int64, device=x.device)
    if labels.dim() == 0:
        labels = labels.expand(x.shape[0])
    if labels.shape != (x.shape[0],):
        raise ValueError(f"label must be an int or a tensor of shape ({x.shape[0]},)")
    if bool((labels < 0).any()) or bool((labels >= decoder.num_classes).any()):
        raise ValueError(f"labels must lie in [0, {decoder.num_classes})")
    values = x.detach().flatten(start_dim=1).to(torch.float64) * PIXEL_SCALE
    embedded = values.clone()
    for target in labels.unique().tolist():
        rows = (labels == target).nonzero().flatten()
        for members, best in decoder._attractor_plan(int(target), within_box):
            members, best = members.to(x.device), best.to(x.device)
            current = values[rows][:, members]  # (r, p)
            nearest = (current.unsqueeze(-1) - best).abs().argmin(dim=-1)
            embedded[rows.unsqueeze(1), members.unsqueeze(0)] = best[nearest]
    embedded = embedded / PIXEL_SCALE
    if within_box:
        embedded = embedded.clamp(0.0, 1.0)
    return embedded.to(x.dtype).view_as(x)


def recover(decoder: QIMDecoder, x: Tensor) -> Tensor:
    """F_r (Sec. V-D): argmin W_φ(x), the class whose message the attack suppressed."""
    with torch.no_grad():
        return decoder(x).argmin(dim=1)


class AttractorModel(nn.Module):
    """M_(ψ,φ) of Eq. 2: (softmax C(x) + W(x)) / ‖softmax C(x) + W(x)‖₁, as log-probabilities.

    Both terms are non-negative, so the 1-norm is the sum and the output is a probability
    vector; `forward` returns its log (the project's logits convention: softmax recovers M).
    """

    def __init__(self, victim: nn.Module, decoder: QIMDecoder) -> None:
        super().__init__()
        self.victim = victim
        self.decoder = decoder

    def combine(self, soft_labels: Tensor, correlations: Tensor) -> Tensor:
        """Eq. 2 on given soft-labels c and correlations w: (c + w) / Σ (c + w)."""
        if soft_labels.shape != correlations.shape:
            raise ValueError(
                f"victim outputs {tuple(soft_labels.shape)} but W outputs "
                f"{tuple(correlations.shape)}: num_classes must match"
            )
        total = soft_labels + correlations.to(soft_labels.dtype)
        return total / total.sum(dim=1, keepdim=True)

    def components(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(softmax C(x), W(x))."""
        return torch.softmax(self.victim(x), dim=1), self.decoder(x)

    def probabilities(self, x: Tensor) -> Tensor:
        """M_(ψ,φ)(x), shape (N, n), rows summing to 1."""
        return self.combine(*self.components(x))

    def forward(self, x: Tensor) -> Tensor:
        """log M_(ψ,φ)(x): log-probabilities used as logits."""
        return _safe_log(self.probabilities(x))


def _safe_log(probabilities: Tensor) -> Tensor:
    return torch.log(probabilities.clamp_min(torch.finfo(probabilities.dtype).tiny))


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

    `score(x)` = max of the three clean-standardized statistics (module docstring, item 7);
    `is_adversarial(x)` ⇔ score(x) > τ ⇔ C1 ∨ C2 ∨ C3 at the calibrated U, L, σ0.
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


class IntegratedAttractorModel(nn.Module):
    """M_(d,r) (Sec. III-B, VI-G): classify; where F_d fires, answer F_r's label instead.

    `forward` returns log-probabilities: M(x) (or softmax C(x) with classify_with="victim")
    where F_d is silent, else `recovered_mass`·onehot(F_r(x)) + (1 − recovered_mass)·M(x),
    whose argmax is F_r(x) for recovered_mass > 0.5. Gradients flow through M only: F_d and
    F_r are piecewise constant in x.
    """

    def __init__(
        self,
        attractor_model: AttractorModel,
        detector: ForensicDetector,
        *,
        classify_with: Literal["attractor", "victim"] = "attractor",
        recovered_mass: float = 0.9,
    ) -> None:
        super().__init__()
        if detector.decoder is not attractor_model.decoder:
            raise ValueError("the detector must use the attractor model's decoder")
        if classify_with not in ("attractor", "victim"):
            raise ValueError(
                f"classify_with must be 'attractor' or 'victim', not {classify_with!r}"
            )
        if not 0.5 < recovered_mass <= 1.0:
            raise ValueError("recovered_mass must be in (0.5, 1]")
        self.attractor_model = attractor_model
        self.detector = detector
        self.classify_with = classify_with
        self.recovered_mass = recovered_mass

    def _parts(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(base probabilities, detected, recovered label)."""
        soft_labels, correlations = self.attractor_model.components(x)
        if self.classify_with == "attractor":
            base = self.attractor_model.combine(soft_labels, correlations)
        else:
            base = soft_labels
        detached = correlations.detach()
        detected = self.detector.is_adversarial_of(detached).to(x.device)
        return base, detected, detached.argmin(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """Log-probabilities of the integrated classify-detect-recover model."""
        base, detected, recovered = self._parts(x)
        onehot = F.one_hot(recovered, base.shape[1]).to(base.dtype)
        mixed = self.recovered_mass * onehot + (1.0 - self.recovered_mass) * base
        return _safe_log(torch.where(detected.unsqueeze(1), mixed, base))

    @torch.no_grad()
    def predict_with_detection(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(labels, detected): F_r(x) where F_d(x) fires, else the classifier's argmax."""
        base, detected, recovered = self._parts(x)
        return torch.where(detected, recovered, base.argmax(dim=1)), detected


@dataclass(eq=False)
class AttractorDefense:
    """The attractor defense around a victim: W_φ, M_(ψ,φ), F_d, F_r and M_(d,r).

    Build with `AttractorDefense(victim, config)`; num_classes and input_shape default to the
    victim's (`num_classes`, `in_channels`, `image_size` attributes) when the config omits
    them. Serialization is state_dict-free: W_φ is rebuilt from the config's seed (checked
    against a fingerprint) and the detector from its calibrated thresholds (`to_json`).
    Calibrate on the clean *validation* split, never on the test images.
    """

    victim: nn.Module
    config: AttractorConfig | Mapping[str, Any] = field(default_factory=dict)
    decoder: QIMDecoder = field(init=False)
    detector: ForensicDetector = field(init=False)
    operating_points: list[DetectorThresholds] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.config, AttractorConfig):
            values = dict(self.config)
            for key, inferred in _victim_shape(self.victim).items():
                values.setdefault(key, inferred)
            self.config = AttractorConfig.from_dict(values)
        for key, inferred in _victim_shape(self.victim).items():
            if tuple(_as_tuple(getattr(self.config, key))) != tuple(_as_tuple(inferred)):
                raise ValueError(
                    f"config {key}={getattr(self.config, key)} but victim has {inferred}"
                )
        self.decoder = QIMDecoder.from_config(self.config)
        self.detector = ForensicDetector(self.decoder)

    def model_seen_by_attacker(self) -> AttractorModel:
        """M_(ψ,φ): what the white-box attacker differentiates (forensic setting)."""
        return AttractorModel(self.victim, self.decoder)

    def calibrate(
        self, x_val: Tensor, fprs: Sequence[float] = (0.05, 0.005)
    ) -> list[DetectorThresholds]:
        """Calibrate F_d on clean validation inputs at each target FPR; the first is active."""
        if not fprs:
            raise ValueError("at least one target FPR is needed")
        self.operating_points = [self.detector.calibrate(x_val, fpr) for fpr in fprs]
        self.detector = self.detector.with_thresholds(self.operating_points[0])
        return list(self.operating_points)

    def detector_at(self, fpr: float) -> ForensicDetector:
        """F_d at a calibrated operating point."""
        for point in self.operating_points:
            if math.isclose(point.fpr_target, fpr, rel_tol=1e-9, abs_tol=1e-12):
                return self.detector.with_thresholds(point)
        calibrated = [p.fpr_target for p in self.operating_points]
        raise KeyError(f"no operating point at fpr={fpr}; calibrated: {calibrated}")

    def recover(self, x: Tensor) -> Tensor:
        """F_r(x) = argmin W_φ(x)."""
        return recover(self.decoder, x)

    def integrated(
        self,
        fpr: float | None = None,
        classify_with: Literal["attractor", "victim"] = "attractor",
    ) -> IntegratedAttractorModel:
        """M_(d,r) at the operating point `fpr` (default: the active one)."""
        detector = self.detector if fpr is None else self.detector_at(fpr)
        if detector.thresholds is None:
            raise RuntimeError("calibrate the detector before building the integrated model")
        return IntegratedAttractorModel(
            self.model_seen_by_attacker(), detector, classify_with=classify_with
        )

    def to_json(self) -> str:
        """Config, decoder fingerprint, standardization and operating points, as JSON."""
        assert isinstance(self.config, AttractorConfig)
        detector = self.detector.to_dict()
        return json.dumps(
            {
                "format": JSON_FORMAT,
                "config": self.config.to_dict(),
                "decoder_fingerprint": self.decoder.fingerprint(),
                "standardization": detector["standardization"],
                "active": detector["thresholds"],
                "operating_points": [asdict(p) for p in self.operating_points],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, victim: nn.Module) -> AttractorDefense:
        """Rebuild from `to_json` output and the victim; refuses a different W_φ."""
        values = json.loads(text)
        if values.get("format") != JSON_FORMAT:
            raise ValueError(f"not an attractor defense ({JSON_FORMAT}) document")
        defense = cls(victim, AttractorConfig.from_dict(values["config"]))
        if defense.decoder.fingerprint() != values["decoder_fingerprint"]:
            raise ValueError("the seed rebuilt a different W_φ (fingerprint mismatch)")
        defense.detector = ForensicDetector.from_dict(
            defense.decoder,
            {"standardization": values["standardization"], "thresholds": values["active"]},
        )
        defense.operating_points = [DetectorThresholds(**p) for p in values["operating_points"]]
        return defense


def _triple(values: Sequence[float] | Tensor) -> tuple[float, float, float]:
    first, second, third = (float(v) for v in values)
    return first, second, third


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _victim_shape(victim: nn.Module) -> dict[str, Any]:
    """num_classes / input_shape advertised by a decoybench Classifier, if any."""
    shape: dict[str, Any] = {}
    if isinstance(getattr(victim, "num_classes", None), int):
        shape["num_classes"] = victim.num_classes
    channels, size = getattr(victim, "in_channels", None), getattr(victim, "image_size", None)
    if isinstance(channels, int) and isinstance(size, int):
        shape["input_shape"] = (channels, size, size)
    return shape
