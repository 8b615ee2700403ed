"""Build a baseline detector around the victim: fit it on the training split, calibrate it on
the clean validation split at each target FPR, measure it on the clean test split, and write
it (decoybench.papers.baselines.checkpoint).

Splits: whatever a baseline learns (LID's regression, MagNet's autoencoders, the trapdoored
model and its signatures) comes from the training split; thresholds come from the validation
split; the test split is left for the evaluation cells, as for the deception defenses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import torch
from torch import Tensor, nn

from decoybench.attacks.base import choose_targets
from decoybench.attacks.registry import build_from_config
from decoybench.data import load_split, read_manifest
from decoybench.metrics import accuracy, false_positive_rate
from decoybench.models.architectures import build_model
from decoybench.models.checkpoint import load_checkpoint
from decoybench.models.training import predict
from decoybench.papers.baselines.autoencoders import build_autoencoder, train_autoencoder
from decoybench.papers.baselines.checkpoint import (
    BASELINE_TYPES,
    freeze_lid,
    magnet_autoencoder_names,
    magnet_from_autoencoders,
    save_baseline,
    signature_layer,
    squeezers_of,
)
from decoybench.papers.baselines.detector import OperatingPoint, ScoreDetector
from decoybench.papers.baselines.lid import LIDDetector, gaussian_noise_like
from decoybench.papers.baselines.magnet import MagNet
from decoybench.papers.baselines.squeeze import FeatureSqueezingDetector
from decoybench.papers.baselines.trapdoor import (
    TrapdoorDetector,
    build_signatures,
    inject,
    make_triggers,
    train_trapdoored,
)
from decoybench.runtime import derive_seed, seed_everything, to_float

__all__ = ["build_baseline_defense"]

DEFAULT_FPRS = (0.05, 0.005)


def build_baseline_defense(
    *,
    baseline: str,
    victim_path: str | Path,
    data_dir: str | Path,
    settings: Mapping[str, Any],
    out: str | Path,
    device: torch.device,
    seed: int,
    attacks: Mapping[str, Mapping[str, Any]] | None = None,
    progress: TextIO | None = None,
) -> dict[str, Any]:
    """Build `baseline` (lid, feature_squeezing, magnet or trapdoor) from `settings` around
    the victim; write `out` (sidecar) and its tensors file. `attacks` holds the attack
    configs a baseline's settings name (LID's `training_attack`). Returns the measurements."""
    if baseline not in BASELINE_TYPES:
        raise ValueError(f"unknown baseline {baseline!r}; known: {', '.join(BASELINE_TYPES)}")
    manifest = read_manifest(data_dir)
    victim, victim_sidecar = load_checkpoint(
        victim_path, device=str(device), expected={"data_sha256": manifest["fingerprint"]}
    )
    victim.eval()
    splits = {name: load_split(data_dir, name) for name in ("train", "val", "test")}
    data = {
        name: (to_float(split.images), torch.as_tensor(split.labels))
        for name, split in splits.items()
    }
    started = time.perf_counter()
    builders = {
        "lid": _build_lid,
        "feature_squeezing": _build_feature_squeezing,
        "magnet": _build_magnet,
        "trapdoor": _build_trapdoor,
    }
    built = builders[baseline](
        _Inputs(victim, victim_sidecar, data, settings, seed, device, attacks or {})
    )
    fprs = tuple(float(fpr) for fpr in settings.get("fprs", DEFAULT_FPRS))
    x_val = data["val"][0]
    x_test, labels = data["test"]
    detector = built.detector
    calibrated = detector.calibrate(x_val, fprs)
    test_flags = _flags_at(detector, x_test, fprs)
    model = built.model
    measurements: dict[str, Any] = {
        "clean_accuracy_victim": accuracy(predict(victim, x_test), labels).as_dict(),
        "clean_accuracy_defended": accuracy(predict(model, x_test), labels).as_dict(),
        **built.measurements,
        "operating_points": [
            {
                "fpr_target": point.fpr_target,
                "fpr_validation": point.fpr_realized,
                "fpr_test": false_positive_rate(test_flags[point.fpr_target]).as_dict(),
            }
            for point in calibrated
        ],
        "seconds": time.perf_counter() - started,
    }
    save_baseline(
        out,
        baseline,
        built.tensors(),
        {
            "settings": dict(settings),
            "operating_points": _serialized_points(detector),
            "victim_weights_sha256": victim_sidecar["weights_sha256"],
            "victim_name": victim_sidecar.get("name"),
            "seed": seed,
            "dataset": manifest.get("dataset"),
            "data_sha256": manifest["fingerprint"],
            "measurements": measurements,
        },
    )
    return measurements


class _Inputs(NamedTuple):
    """What a builder gets: the victim, its sidecar, the splits as (images, labels), the
    baseline's settings, the seed, the device and the attack configs its settings name."""

    victim: nn.Module
    victim_sidecar: dict[str, Any]
    data: dict[str, tuple[Tensor, Tensor]]
    settings: Mapping[str, Any]
    seed: int
    device: torch.device
    attacks: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class _Built:
    """What a builder returns: the detector (calibrated next), the classifier the attacker
    sees, its tensors to store (called after calibration) and its own measurements."""

    detector: ScoreDetector | MagNet
    model: nn.Module
    tensors: Callable[[], dict[str, Tensor]]
    measurements: dict[str, Any]


def _flags_at(
    detector: ScoreDetector | MagNet, x: Tensor, fprs: tuple[float, ...]
) -> dict[float, Tensor]:
    """The detector's flags on x at each FPR; a ScoreDetector's from one scoring of x."""
    if isinstance(detector, ScoreDetector):
        scores = detector.score(x)
        return {fpr: scores > detector.operating_points[fpr].threshold for fpr in fprs}
    return {fpr: detector.is_adversarial(x, fpr) for fpr in fprs}


def _point_dict(point: OperatingPoint) -> dict[str, float]:
    return {
        "fpr_target": point.fpr_target,
        "threshold": point.threshold,
        "fpr_realized": point.fpr_realized,
    }


def _serialized_points(detector: ScoreDetector | MagNet) -> list[dict[str, Any]]:
    if isinstance(detector, MagNet):
        return [
            {
                "fpr_target": point.fpr_target,
                "fpr_realized": point.fpr_realized,
                "detectors": [_point_dict(share) for share in point.detector_points],
            }
            for point in detector.operating_points.values()
        ]
    return [_point_dict(point) for point in detector.operating_points.values()]


def _craft(
    model: nn.Module,
    attack_config: Mapping[str, Any],
    x: Tensor,
    y: Tensor,
    generator: torch.Generator,
    device: torch.device,
    batch_size: int = 250,
) -> tuple[Tensor, Tensor]:
    """Adversarial examples of `attack_config` on `model` and whether each succeeded."""
    attack = build_from_config(dict(attack_config))
    adversarial, success = [], []
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
        target = choose_targets(attack.target_mode, model, xb, yb, generator)
        result = attack(model, xb, yb, target=target, generator=generator)
        adversarial.append(result.x_adv)
        success.append(result.success)
    return torch.cat(adversarial), torch.cat(success)


def _build_lid(inputs: _Inputs) -> _Built:
    """Ma et al.: craft the training attack on the first `training_samples` training images,
    keep the successful ones (clean input classified right), add noisy copies of the same
    L2 size, fit the regression on their minibatch LID features; the clean neighbour batch
    used at test time is the next `batch_size` training images."""
    victim, _, data, settings, seed, device, attacks = inputs
    name = settings["training_attack"]
    if name not in attacks:
        raise ValueError(
            f"lid: training_attack {name!r} is not among the attacks passed "
            f"({', '.join(attacks) or 'none'})"
        )
    batch_size = int(settings.get("batch_size", 100))
    count = int(settings.get("training_samples", 500))
    x_train, y_train = data["train"]
    if count + batch_size > len(x_train):
        raise ValueError(
            f"lid: training_samples ({count}) + batch_size ({batch_size}) exceed the "
            f"{len(x_train)} training images"
        )
    x, y = x_train[:count], y_train[:count]
    generator = seed_everything(derive_seed(seed, "lid"))
    x_adv, success = _craft(victim, attacks[name], x, y, generator, device)
    correct = predict(victim, x) == y
    keep = (success.cpu() & correct).nonzero().squeeze(1)
    if len(keep) <= int(settings.get("k", 20)):
        raise ValueError(
            f"lid: only {len(keep)} successful {name!r} examples on {count} training images; "
            "raise training_samples or choose a stronger training_attack"
        )
    x_clean, x_adv = x[keep], x_adv.cpu()[keep]
    scale = (x_adv - x_clean).flatten(1).norm(dim=1)
    x_noisy = gaussian_noise_like(x_clean, generator, scale)
    detector = LIDDetector(
        victim,
        k=int(settings.get("k", 20)),
        batch_size=batch_size,
        layers=settings.get("layers", "default"),
    )
    detector.fit(x_clean, x_noisy, x_adv, reference=x_train[count : count + batch_size])
    chosen_c = float(torch.as_tensor(detector.classifier.C_).reshape(-1)[0])
    tensors = freeze_lid(detector)
    return _Built(
        detector=detector,
        model=victim,
        tensors=lambda: tensors,
        measurements={
            "training_attack": name,
            "training_attempted": count,
            "training_adversarial": len(keep),
            "regularization_c": chosen_c,
        },
    )


def _build_feature_squeezing(inputs: _Inputs) -> _Built:
    """Xu et al.: nothing to fit; the squeezers are fixed transformations."""
    victim, _, _, settings, _, _, _ = inputs
    detector = FeatureSqueezingDetector(victim, squeezers_of(settings))
    return _Built(detector=detector, model=victim, tensors=dict, measurements={})


def _build_magnet(inputs: _Inputs) -> _Built:
    """Meng & Chen: train each autoencoder with noise on the clean training images."""
    victim, victim_sidecar, data, settings, seed, device, _ = inputs
    x_train, _ = data["train"]
    channels = int(victim_sidecar["in_channels"])
    autoencoders, losses = {}, {}
    for name in magnet_autoencoder_names(settings):
        generator = seed_everything(derive_seed(seed, "magnet", name))
        autoencoder = build_autoencoder(name, channels).to(device)
        history = train_autoencoder(
            autoencoder,
            x_train,
            epochs=int(settings.get("epochs", 100)),
            batch_size=int(settings.get("batch_size", 256)),
            learning_rate=float(settings.get("learning_rate", 1e-3)),
            noise=float(settings.get("noise", 0.1)),
            generator=generator,
            weight_decay=float(settings.get("regularization", 1e-9)),
        )
        autoencoders[name], losses[name] = autoencoder.eval(), history[-1]
    magnet = magnet_from_autoencoders(victim, autoencoders, settings)
    x_test, labels = data["test"]

    def tensors() -> dict[str, Tensor]:
        state = {
            f"autoencoder.{name}.{key}": value
            for name, autoencoder in autoencoders.items()
            for key, value in autoencoder.state_dict().items()
        }
        state["score.location"] = magnet.score_location
        state["score.scale"] = magnet.score_scale
        return state

    return _Built(
        detector=magnet,
        model=victim,
        tensors=tensors,
        measurements={
            "autoencoder_final_loss": losses,
            "clean_accuracy_reformed": accuracy(magnet.predict(x_test), labels).as_dict(),
        },
    )


def _build_trapdoor(inputs: _Inputs) -> _Built:
    """Shan et al.: one trigger per label, injection training (from the victim's weights or
    from scratch), signatures from clean training images injected with each trigger."""
    victim, victim_sidecar, data, settings, seed, device, _ = inputs
    x_train, y_train = data["train"]
    generator = seed_everything(derive_seed(seed, "trapdoor"))
    model = build_model(
        victim_sidecar["architecture"],
        in_channels=victim_sidecar["in_channels"],
        image_size=victim_sidecar["image_size"],
        num_classes=victim_sidecar["num_classes"],
    )
    initialize = settings.get("initialize", "victim")
    if initialize == "victim":
        model.load_state_dict(victim.state_dict())
    model = model.to(device)
    mask_ratio = float(settings.get("mask_ratio", 0.1))
    triggers = make_triggers(
        int(victim_sidecar["num_classes"]),
        tuple(x_train.shape[1:]),
        mask_size=int(settings.get("mask_size", 6)),
        generator=generator,
    )
    history = train_trapdoored(
        model,
        x_train,
        y_train,
        triggers,
        epochs=int(settings.get("epochs", 6)),
        batch_size=int(settings.get("batch_size", 100)),
        learning_rate=float(settings.get("learning_rate", 1e-3)),
        injection_ratio=float(settings.get("injection_ratio", 0.1)),
        mask_ratio=mask_ratio,
        generator=generator,
    )
    model.eval()
    layer = signature_layer(model, settings.get("signature_layer"))
    signatures = build_signatures(
        model,
        x_train,
        triggers,
        mask_ratio=mask_ratio,
        per_label=int(settings.get("signature_samples", 100)),
        layer=layer,
    )
    detector = TrapdoorDetector(model, signatures, layer=layer)
    x_test, _ = data["test"]
    trigger_success = {
        str(trigger.label): float(
            (predict(model, inject(x_test, trigger, mask_ratio)) == trigger.label).float().mean()
        )
        for trigger in triggers
    }

    def tensors() -> dict[str, Tensor]:
        state = {f"model.{key}": value for key, value in model.state_dict().items()}
        for trigger in triggers:
            state[f"trigger.{trigger.label}.mask"] = trigger.mask
            state[f"trigger.{trigger.label}.pattern"] = trigger.pattern
            state[f"signature.{trigger.label}"] = signatures[trigger.label]
        return state

    return _Built(
        detector=detector,
        model=model,
        tensors=tensors,
        measurements={
            "history": history,
            "trigger_success_test": trigger_success,
            "trigger_success_test_mean": sum(trigger_success.values()) / len(trigger_success),
        },
    )
