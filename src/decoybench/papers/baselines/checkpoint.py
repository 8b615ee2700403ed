"""Pickle-free checkpoints of the baseline detectors (LID, Feature Squeezing, MagNet, Trapdoor)
and the deployed form a cell evaluates.

`defense.safetensors` holds the tensors a baseline needs, by prefix:
- lid: `reference` (the clean neighbour batch), `scaler.mean`, `scaler.scale`, `logistic.coef`,
  `logistic.intercept` (the fitted standardiser and logistic regression, scored in torch, so
  loading needs neither scikit-learn nor a pickle);
- feature_squeezing: nothing (the squeezers are named in the sidecar);
- magnet: `autoencoder.<name>.<parameter>` per autoencoder, `score.location`, `score.scale`;
- trapdoor: `model.<parameter>` (the trapdoored classifier), `trigger.<label>.mask`,
  `trigger.<label>.pattern` and `signature.<label>`.
`defense.json` (the sidecar) records the baseline type, its settings, the operating points
calibrated on the clean validation split (thresholds exact, JSON floats round-trip), the
victim it was built around (weights_sha256), the seed, the data hash, the build-time
measurements and the SHA-256 of the tensors file, which `load_baseline` verifies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from decoybench.models.architectures import build_model
from decoybench.models.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_state,
    verified_sidecar,
    weights_path,
    write_weights_and_sidecar,
)
from decoybench.papers.baselines.autoencoders import build_autoencoder
from decoybench.papers.baselines.detector import (
    OperatingPoint,
    ScoreDetector,
    operating_point_at,
)
from decoybench.papers.baselines.lid import LIDDetector
from decoybench.papers.baselines.magnet import (
    DivergenceDetector,
    MagNet,
    MagNetOperatingPoint,
    ReconstructionErrorDetector,
)
from decoybench.papers.baselines.squeeze import FeatureSqueezingDetector
from decoybench.papers.baselines.trapdoor import TrapdoorDetector, Trigger

__all__ = [
    "BASELINE_TYPES",
    "FORMAT",
    "BaselineDefense",
    "CalibratedDetector",
    "freeze_lid",
    "load_baseline",
    "save_baseline",
    "signature_layer",
]

FORMAT = "safetensors-baseline"
BASELINE_TYPES: tuple[str, ...] = ("lid", "feature_squeezing", "magnet", "trapdoor")
REQUIRED_METADATA: tuple[str, ...] = (
    "baseline",
    "settings",
    "operating_points",
    "victim_weights_sha256",
    "victim_name",
    "seed",
    "data_sha256",
)


@dataclass(frozen=True)
class CalibratedDetector:
    """One operating point of a baseline in the forensic evaluation's detector protocol
    (decoybench.cells.forensic): `score(x)` and `is_adversarial(x)`. `score_threshold`
    is set when the flags are exactly score > threshold, so the evaluation can derive them
    from scores it already has. With `margin_fn`, an AttackableDetector (adaptive attacks)."""

    score: Callable[[Tensor], Tensor]
    flag: Callable[[Tensor], Tensor]
    fpr_target: float
    score_threshold: float | None = None
    margin_fn: Callable[[Tensor], Tensor] | None = None

    def is_adversarial(self, x: Tensor) -> Tensor:
        return self.flag(x)

    def margin(self, x: Tensor) -> Tensor:
        """Differentiable, > 0 exactly where `is_adversarial(x)` (the detector's `margin`)."""
        if self.margin_fn is None:
            raise NotImplementedError("this detector has no differentiable margin")
        return self.margin_fn(x)


@dataclass
class BaselineDefense:
    """A built baseline: the classifier the attacker sees (`model`: the victim, or the
    trapdoored model), the detector, its calibrated operating points and the sidecar."""

    baseline: str
    model: nn.Module
    detector: ScoreDetector | MagNet
    sidecar: dict[str, Any]
    triggers: list[Trigger] = field(default_factory=list)

    @property
    def fprs(self) -> tuple[float, ...]:
        return tuple(self.detector.operating_points)

    def score(self, x: Tensor) -> Tensor:
        """The detector's continuous score (higher = more likely adversarial), on the CPU."""
        return self.detector.score(x)

    def detector_at(self, fpr: float) -> CalibratedDetector:
        """The detector at the operating point calibrated for `fpr` (ValueError naming the
        FPRs calibrated when there is none)."""
        detector = self.detector
        point = operating_point_at(detector.operating_points, fpr, self.baseline)
        threshold = point.threshold if isinstance(detector, ScoreDetector) else None
        return CalibratedDetector(
            score=detector.score,
            flag=lambda x: detector.is_adversarial(x, fpr),
            fpr_target=float(fpr),
            score_threshold=threshold,
            margin_fn=lambda x: detector.margin(x, fpr),
        )

    def detectors(self) -> dict[float, CalibratedDetector]:
        """The detector at each calibrated FPR (DeployedSystem.detectors)."""
        return {fpr: self.detector_at(fpr) for fpr in self.fprs}


def signature_layer(model: nn.Module, index: int | None) -> nn.Module | None:
    """The trunk module whose output Trapdoor's signatures read (None: `model.features`)."""
    if index is None:
        return None
    children = list(model.trunk.children())
    if not -len(children) <= index < len(children):
        raise ValueError(
            f"signature_layer {index} is out of range for a trunk of {len(children)} modules"
        )
    return children[index]


def save_baseline(
    path: str | Path,
    baseline: str,
    tensors: Mapping[str, Tensor],
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """Write the baseline's tensors and sidecar atomically; return the sidecar dict."""
    if baseline not in BASELINE_TYPES:
        raise ValueError(f"unknown baseline {baseline!r}; known: {', '.join(BASELINE_TYPES)}")
    metadata = {**metadata, "baseline": baseline}
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ValueError(f"baseline metadata is missing required key(s): {', '.join(missing)}")
    state = {name: tensor.detach().to("cpu").contiguous() for name, tensor in tensors.items()}
    return write_weights_and_sidecar(path, state, metadata, FORMAT)


def load_baseline(
    path: str | Path,
    victim_path: str | Path,
    *,
    device: str | torch.device = "cpu",
    expected: dict[str, Any] | None = None,
) -> BaselineDefense:
    """Verify and rebuild the baseline at `path` around the victim at `victim_path` (which
    must be the checkpoint it was built from). CheckpointError names the file at fault."""
    weights = weights_path(path)
    sidecar = verified_sidecar(path, REQUIRED_METADATA, expected, missing_hint="build it first")
    # Only the data hash is shared with the victim's sidecar; other keys are the baseline's.
    victim_expected = {k: v for k, v in (expected or {}).items() if k == "data_sha256"}
    victim, victim_sidecar = load_checkpoint(
        victim_path, device=str(device), expected=victim_expected
    )
    if victim_sidecar["weights_sha256"] != sidecar["victim_weights_sha256"]:
        raise CheckpointError(
            f"{weights} was built around the victim with weights_sha256 "
            f"{sidecar['victim_weights_sha256']} ({sidecar['victim_name']!r}), but "
            f"{weights_path(victim_path)} has {victim_sidecar['weights_sha256']}: pass the "
            "victim it was built from, or rebuild the defense"
        )
    state = read_state(weights)
    builders = {
        "lid": _load_lid,
        "feature_squeezing": _load_feature_squeezing,
        "magnet": _load_magnet,
        "trapdoor": _load_trapdoor,
    }
    baseline = sidecar["baseline"]
    if baseline not in builders:
        raise CheckpointError(f"{weights}: unknown baseline {baseline!r}; rebuild the defense")
    try:
        return builders[baseline](_Stored(victim.eval(), victim_sidecar, state, sidecar, device))
    except (KeyError, RuntimeError, ValueError) as error:
        raise CheckpointError(
            f"{weights}: cannot rebuild the {baseline} baseline ({error})"
        ) from error


class _Stored(NamedTuple):
    """What a baseline is rebuilt from: the victim, both sidecars, the stored tensors."""

    victim: nn.Module
    victim_sidecar: dict[str, Any]
    state: dict[str, Tensor]
    sidecar: dict[str, Any]
    device: str | torch.device


def _prefixed(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The tensors stored under `prefix`, with the prefix removed (a module's state dict)."""
    return {
        key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)
    }


def _point(entry: Mapping[str, Any]) -> OperatingPoint:
    return OperatingPoint(
        fpr_target=float(entry["fpr_target"]),
        threshold=float(entry["threshold"]),
        fpr_realized=float(entry["fpr_realized"]),
    )


def _restore_points(detector: ScoreDetector, points: list[dict[str, Any]]) -> None:
    for entry in points:
        point = _point(entry)
        detector.operating_points[point.fpr_target] = point


class _Standardizer:
    """scikit-learn's fitted StandardScaler.transform, from its stored mean and scale."""

    def __init__(self, mean: Tensor, scale: Tensor) -> None:
        self.mean = mean.to(torch.float64).numpy()
        self.scale = scale.to(torch.float64).numpy()

    def transform(self, features: Any) -> Any:
        return (features - self.mean) / self.scale


class _Logistic:
    """A fitted binary logistic regression's predict_proba, from its coefficients."""

    def __init__(self, coef: Tensor, intercept: Tensor) -> None:
        self.coef = coef.to(torch.float64).reshape(-1)
        self.intercept = intercept.to(torch.float64).reshape(-1)

    def predict_proba(self, features: Any) -> Any:
        logit = torch.as_tensor(features, dtype=torch.float64) @ self.coef + self.intercept
        positive = torch.sigmoid(logit)
        return torch.stack([1.0 - positive, positive], dim=1).numpy()


def freeze_lid(detector: LIDDetector) -> dict[str, Tensor]:
    """Replace the fitted detector's scikit-learn standardiser and regression by their torch
    equivalents (the form `load_baseline` rebuilds, so calibration and evaluation score the
    same way) and return its state: reference batch, standardiser, logistic regression."""
    if detector.classifier is None or detector.reference is None:
        raise ValueError("lid: fit the detector before saving it")
    scaler, classifier = detector.scaler, detector.classifier
    if not isinstance(scaler, _Standardizer):
        scaler = _Standardizer(
            torch.as_tensor(scaler.mean_, dtype=torch.float64),
            torch.as_tensor(scaler.scale_, dtype=torch.float64),
        )
    if not isinstance(classifier, _Logistic):
        classifier = _Logistic(
            torch.as_tensor(classifier.coef_, dtype=torch.float64),
            torch.as_tensor(classifier.intercept_, dtype=torch.float64),
        )
    detector.scaler, detector.classifier = scaler, classifier
    return {
        "reference": detector.reference,
        "scaler.mean": torch.from_numpy(scaler.mean),
        "scaler.scale": torch.from_numpy(scaler.scale),
        "logistic.coef": classifier.coef,
        "logistic.intercept": classifier.intercept,
    }


def _load_lid(stored: _Stored) -> BaselineDefense:
    victim, state, sidecar, device = stored.victim, stored.state, stored.sidecar, stored.device
    settings = sidecar["settings"]
    detector = LIDDetector(
        victim,
        k=int(settings.get("k", 20)),
        batch_size=int(settings.get("batch_size", 100)),
        layers=settings.get("layers", "default"),
    )
    detector.reference = state["reference"].to(device)
    detector.scaler = _Standardizer(state["scaler.mean"], state["scaler.scale"])
    detector.classifier = _Logistic(state["logistic.coef"], state["logistic.intercept"])
    _restore_points(detector, sidecar["operating_points"])
    return BaselineDefense("lid", victim, detector, sidecar)


def squeezers_of(settings: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Config `squeezers` ([{squeezer: name, <param>: value}, ...]) as (name, params) pairs."""
    pairs = []
    for entry in settings["squeezers"]:
        params = {key: value for key, value in entry.items() if key != "squeezer"}
        pairs.append((entry["squeezer"], params))
    return pairs


def _load_feature_squeezing(stored: _Stored) -> BaselineDefense:
    victim, sidecar = stored.victim, stored.sidecar
    detector = FeatureSqueezingDetector(victim, squeezers_of(sidecar["settings"]))
    _restore_points(detector, sidecar["operating_points"])
    return BaselineDefense("feature_squeezing", victim, detector, sidecar)


def magnet_from_autoencoders(
    victim: nn.Module, autoencoders: Mapping[str, nn.Module], settings: Mapping[str, Any]
) -> MagNet:
    """MagNet's detectors (config `detectors`: reconstruction with norm p, or divergence at a
    temperature, each on a named autoencoder) and reformer around the victim."""
    detectors: list[ScoreDetector] = []
    for entry in settings["detectors"]:
        autoencoder = autoencoders[entry["autoencoder"]]
        if entry["score"] == "reconstruction":
            detectors.append(ReconstructionErrorDetector(autoencoder, int(entry["p"])))
        else:
            detectors.append(DivergenceDetector(victim, autoencoder, float(entry["temperature"])))
    return MagNet(detectors, autoencoders[settings["reformer"]], victim)


def magnet_autoencoder_names(settings: Mapping[str, Any]) -> list[str]:
    """The distinct autoencoders MagNet's detectors and reformer use, in first-use order."""
    names = [entry["autoencoder"] for entry in settings["detectors"]] + [settings["reformer"]]
    return list(dict.fromkeys(names))


def _load_magnet(stored: _Stored) -> BaselineDefense:
    victim, victim_sidecar, state, sidecar, device = stored
    settings = sidecar["settings"]
    channels = int(victim_sidecar["in_channels"])
    autoencoders = {}
    for name in magnet_autoencoder_names(settings):
        prefix = f"autoencoder.{name}."
        autoencoder = build_autoencoder(name, channels)
        autoencoder.load_state_dict(_prefixed(state, prefix), strict=True)
        autoencoders[name] = autoencoder.to(device).eval()
    magnet = magnet_from_autoencoders(victim, autoencoders, settings)
    for point in sidecar["operating_points"]:
        fpr = float(point["fpr_target"])
        per_detector = []
        for detector, entry in zip(magnet.detectors, point["detectors"], strict=True):
            share = _point(entry)
            detector.operating_points[share.fpr_target] = share
            per_detector.append(share)
        magnet.operating_points[fpr] = MagNetOperatingPoint(
            fpr_target=fpr,
            detector_points=tuple(per_detector),
            fpr_realized=float(point["fpr_realized"]),
        )
    magnet.score_location = state["score.location"]
    magnet.score_scale = state["score.scale"]
    return BaselineDefense("magnet", victim, magnet, sidecar)


def _load_trapdoor(stored: _Stored) -> BaselineDefense:
    victim_sidecar, state, sidecar = stored.victim_sidecar, stored.state, stored.sidecar
    device = stored.device
    model = build_model(
        victim_sidecar["architecture"],
        in_channels=victim_sidecar["in_channels"],
        image_size=victim_sidecar["image_size"],
        num_classes=victim_sidecar["num_classes"],
    )
    model.load_state_dict(_prefixed(state, "model."), strict=True)
    model = model.to(device).eval()
    labels = sorted(int(key.split(".")[1]) for key in state if key.startswith("signature."))
    signatures = {label: state[f"signature.{label}"] for label in labels}
    triggers = [
        Trigger(
            mask=state[f"trigger.{label}.mask"],
            pattern=state[f"trigger.{label}.pattern"],
            label=label,
        )
        for label in labels
    ]
    layer = signature_layer(model, sidecar["settings"].get("signature_layer"))
    detector = TrapdoorDetector(model, signatures, layer=layer)
    _restore_points(detector, sidecar["operating_points"])
    return BaselineDefense("trapdoor", model, detector, sidecar, triggers)
