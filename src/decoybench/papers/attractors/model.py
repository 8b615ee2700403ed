"""The models of the attractor defense: M_(ψ,φ) (`AttractorModel`, Eq. 2), the recovery F_r
(`recover`, Sec. V-D) and the integrated classify-detect-recover model M_(d,r)
(`IntegratedAttractorModel`, Sec. III-B, VI-G; `decoybench.papers.attractors.defense`
docstring, items 5 and 8), and M_(d,r) as a BPDA attacker differentiates it
(`StraightThroughIntegratedModel`, issue 16)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from decoybench.papers.attractors.detector import ForensicDetector, _with_gradient_of
from decoybench.papers.attractors.qim import QIMDecoder

__all__ = [
    "AttractorModel",
    "IntegratedAttractorModel",
    "StraightThroughIntegratedModel",
    "recover",
]


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

    def straight_through(
        self, *, detection_scale: float = 1.0, recovery_temperature: float | None = None
    ) -> StraightThroughIntegratedModel:
        """This model with BPDA gradients around its switch (`StraightThroughIntegratedModel`)."""
        return StraightThroughIntegratedModel(
            self, detection_scale=detection_scale, recovery_temperature=recovery_temperature
        )


class StraightThroughIntegratedModel(nn.Module):
    """M_(d,r) for a BPDA attacker (Athalye et al., ICML 2018; issue 16): `forward` returns
    exactly `IntegratedAttractorModel`'s values, with the gradient of a surrogate.

    M_(d,r) = log((1 − D) B + D (m R + (1 − m) B)): B the base probabilities, m the
    recovered mass, D = F_d(x) ∈ {0, 1} and R = onehot(F_r(x)) piecewise constant, so the
    plain gradient is B's alone (none of the detector's, nor, with classify_with="victim",
    of W). The surrogate keeps every forward value and gives D and R a derivative:
    D + (μ − μ.detach()) / detection_scale, straight-through on μ = F_d's margin (clean-
    standardized units, > 0 ⇔ D = 1), and R + softmin(w/T) − softmin(w/T).detach(), the
    straight-through softmin of argmin w (T = recovery_temperature, default the clean scale
    of min w). An attacker then sees how leaving (or entering) detection and moving F_r's
    label change the output.
    """

    def __init__(
        self,
        integrated: IntegratedAttractorModel,
        *,
        detection_scale: float = 1.0,
        recovery_temperature: float | None = None,
    ) -> None:
        super().__init__()
        standardization = integrated.detector.standardization
        if standardization is None or integrated.detector.thresholds is None:
            raise RuntimeError("calibrate the detector before building the BPDA surrogate")
        if detection_scale <= 0 or (recovery_temperature is not None and recovery_temperature <= 0):
            raise ValueError("detection_scale and recovery_temperature must be positive")
        self.integrated = integrated
        self.detection_scale = float(detection_scale)
        self.recovery_temperature = float(
            standardization.scale[1] if recovery_temperature is None else recovery_temperature
        )

    def forward(self, x: Tensor) -> Tensor:
        """`IntegratedAttractorModel(x)` bit for bit; backward: `surrogate(x)`'s."""
        return self.integrated(x).detach() + _with_gradient_of(self.surrogate(x))

    def surrogate(self, x: Tensor) -> Tensor:
        """log((1 − D̃) B + D̃ (m R̃ + (1 − m) B)) with the straight-through D̃, R̃ (class
        docstring): its value is M_(d,r)(x) up to rounding."""
        integrated = self.integrated
        attractor, detector = integrated.attractor_model, integrated.detector
        soft_labels = torch.softmax(attractor.victim(x), dim=1)
        distances = attractor.decoder.decode(x)
        correlations = attractor.decoder.correlation(distances)
        if integrated.classify_with == "attractor":
            base = attractor.combine(soft_labels, correlations)
        else:
            base = soft_labels
        detected = detector.is_adversarial_of(correlations.detach()).to(x.device, base.dtype)
        margin = detector.margin_of_distances(distances).to(base.dtype)
        switch = detected + (margin - margin.detach()) / self.detection_scale
        weights = torch.softmax(-correlations.to(base.dtype) / self.recovery_temperature, dim=1)
        recovered = F.one_hot(correlations.detach().argmin(dim=1), base.shape[1]).to(base.dtype)
        recovered = recovered + _with_gradient_of(weights)
        mixed = integrated.recovered_mass * recovered + (1.0 - integrated.recovered_mass) * base
        return _safe_log(base + switch.unsqueeze(1) * (mixed - base))
