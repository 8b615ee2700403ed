"""Attractors injected from a QIM watermark decoder (Zhang, Chang & Lee, arXiv:2003.02732).

The construction (paper Sections V-A to V-E), one module of this package each:

* W_φ (`qim.QIMDecoder`): n pre-selected ℓ-bit messages, one per class. Each input value
  (pixel × channel, on the [0, 255] scale) is assigned one message bit and a quantization
  step δ; its QIM distance q(x_i, m_i, δ_i) is its distance to the nearest codeword of the
  bit's coset (bit 0 at 0.5δ, 2.5δ, ...; bit 1 at 1.5δ, 3.5δ, ...). The weighted sum
  Q(x, m) = Σ α_i q_i is mapped by Eq. 3, S(r) = A2 tanh((A0 r − A1) / (1 + A1 − A0 r)), to
  w_i = S(Q(x, m_i)).
* M_(ψ,φ) (`model.AttractorModel`), Eq. 2: the normalized sum of the victim's soft-labels
  and w.
* F_d (`detector.ForensicDetector`): flags x iff max w > U (C1), min w < L (C2) or
  stdev w > σ0 (C3).
* F_r (`model.recover`): argmin w. M_(d,r) (`model.IntegratedAttractorModel`): F_r's label
  where F_d fires.
* `attractors.nearest_attractor`: the attractor of an input for a class.
* `AttractorDefense` (here): all of them around a victim, and its JSON round trip.

Where the paper is silent or ambiguous, these modules choose as follows.

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

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from torch import Tensor, nn

from decoybench.papers.attractors.detector import DetectorThresholds, ForensicDetector
from decoybench.papers.attractors.model import AttractorModel, IntegratedAttractorModel, recover
from decoybench.papers.attractors.qim import AttractorConfig, QIMDecoder

__all__ = ["JSON_FORMAT", "AttractorDefense"]

JSON_FORMAT = "decoybench.attractor.v1"


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
