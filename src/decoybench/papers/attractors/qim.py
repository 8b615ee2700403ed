"""W_φ, the QIM watermark decoder of the attractor defense (paper Sec. V-E), and its math.

`qim_distance` is q(v, m, δ); `AttractorConfig` holds everything that determines W (it has
no trained weights: all derives from a seed); `QIMDecoder` maps an input to the per-class
correlations w_i = S(Q(x, m_i)) of Eq. 3, and plans each class's attractor (the codewords
that minimize each input value's share of Q; `decoybench.papers.attractors.attractors`).
The choices where the paper is silent are numbered in the docstring of
`decoybench.papers.attractors.defense` (items 1-4 and 9 concern W).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["LAYOUTS", "PIXEL_SCALE", "AttractorConfig", "QIMDecoder", "qim_distance"]

PIXEL_SCALE = 255.0  # QIM works on pixel values in [0, 255]; models take [0, 1].
LAYOUTS = ("split", "stacked")
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
