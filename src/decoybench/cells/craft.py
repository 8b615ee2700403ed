"""Craft one adversarial set: an attack against a model on the first n test images."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from decoybench.attacks.base import Attack, choose_targets
from decoybench.attacks.registry import build_from_config
from decoybench.cells.deployment import load_system
from decoybench.cells.sanity import adversarial_set_checks
from decoybench.data import load_split, read_manifest
from decoybench.io import write_npz
from decoybench.metrics import attack_success_rate, mean_distortion
from decoybench.models.checkpoint import load_checkpoint
from decoybench.models.ensemble import LogitEnsemble
from decoybench.models.training import predict
from decoybench.runtime import derive_seed, seed_everything, to_float

# Fields of an adversarial set (.npz), one entry per attacked test image.
ADVERSARIAL_SET_FIELDS = (
    "x_adv",
    "index",
    "label",
    "target",
    "success",
    "source_clean_correct",
    "l0",
    "l2",
    "linf",
    "queries",
    "seconds",
)
# A set's loss traces (per solver step, not per sample) are stored as loss_trace.<name>.
LOSS_TRACE = "loss_trace."


def generate_adversarial_set(
    *,
    model_path: str | Path,
    data_dir: str | Path,
    attack_config: dict[str, Any],
    out: str | Path,
    seed: int,
    seed_names: tuple[str, ...],
    device: torch.device,
    n_samples: int | None = None,
    batch_size: int = 250,
    sanity_samples: int = 64,
    progress: TextIO | None = None,
    defense: str = "undefended",
    kind: str = "whitebox",
    defense_path: str | Path | None = None,
    ensemble_source: str | Path | None = None,
    deploy: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Attack `model_path` on the first `n_samples` test images; write the set atomically.

    The attacked system is the checkpoint as `defense` deploys it in a `kind` setting
    (decoybench.cells.deployment); in a transfer setting it is the bare source model, or,
    with `defense_path`, the defense's public model (luring: T = M∘P), averaged with the
    `ensemble_source` checkpoint when one is given (`LogitEnsemble`). A `decision` setting
    takes decision-based (gradient-free) attacks only. `deploy`: an adaptive setting's
    `gradient` / `deployed` options (`load_system`).

    The set stores x_adv (float32 in [0, 1]), the clean index and label, success on the
    crafting model, whether that model got the clean input right, L0/L2/L∞, queries and
    per-sample wall time, plus the sanity checks of evaluation.sanity on the first
    `sanity_samples` images (0 skips them). Returns a summary on the crafting model.
    """
    model, sidecar = _crafting_model(
        model_path=model_path,
        data_dir=data_dir,
        device=device,
        defense=defense,
        kind=kind,
        defense_path=defense_path,
        ensemble_source=ensemble_source,
        deploy=deploy,
    )
    test = load_split(data_dir, "test")
    count = len(test) if n_samples is None else min(n_samples, len(test))
    images = to_float(test.images[:count])
    labels = torch.as_tensor(test.labels[:count])
    attack = build_from_config(attack_config)
    _check_knowledge(attack, kind)
    generator = seed_everything(derive_seed(seed, "attack", *seed_names))
    clean_correct = predict(model, images) == labels

    arrays = attack_batches(
        attack=attack,
        model=model,
        images=images,
        labels=labels,
        generator=generator,
        device=device,
        batch_size=batch_size,
        progress=progress,
    )
    arrays["index"] = np.arange(count, dtype=np.int64)
    arrays["label"] = labels.numpy()
    arrays["source_clean_correct"] = clean_correct.numpy()
    arrays["attack_config"] = np.array(json.dumps(attack_config, sort_keys=True))
    arrays["source_model"] = np.array(sidecar.get("name", Path(model_path).stem))
    sanity = _sanity_checks(
        attack_config=attack_config,
        model=model,
        images=images,
        labels=labels,
        arrays=arrays,
        generator=generator,
        device=device,
        sanity_samples=sanity_samples,
    )
    arrays["sanity"] = np.array(json.dumps(sanity, sort_keys=True))
    write_npz(out, arrays)
    return {**_crafting_summary(arrays, count, sanity), "loss_trace": loss_traces(arrays)}


def _check_knowledge(attack: Attack, kind: str) -> None:
    """A decision setting's attacker queries labels only: no gradient attack."""
    if kind == "decision" and not attack.gradient_free:
        raise ValueError(
            f"attack {attack.name!r} uses gradients; a decision setting queries labels only"
        )


def _crafting_model(
    *,
    model_path: str | Path,
    data_dir: str | Path,
    device: torch.device,
    defense: str,
    kind: str,
    defense_path: str | Path | None,
    ensemble_source: str | Path | None = None,
    deploy: Mapping[str, str] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """The model an attack differentiates, and its sidecar: the checkpoint as `defense`
    deploys it in a `kind` setting; in a transfer setting the bare source model, or, given
    the defense file, the model that defense publishes (luring's T = M∘P), with
    `ensemble_source` the logit mean of that model and the source checkpoint."""
    manifest = read_manifest(data_dir)
    crafted_on_source = kind == "transfer" and defense_path is None
    system = load_system(
        model_path=model_path,
        defense="undefended" if crafted_on_source else defense,
        kind=kind,
        device=device,
        data_sha256=manifest["fingerprint"],
        defense_path=None if crafted_on_source else defense_path,
        **(deploy or {}),
    )
    if kind == "transfer" and not crafted_on_source:
        if system.public is None:
            raise ValueError(f"defense {defense!r} publishes no model for a transfer attack")
        if ensemble_source is not None:
            source, source_sidecar = load_checkpoint(
                ensemble_source,
                device=str(device),
                expected={"data_sha256": manifest["fingerprint"]},
            )
            return _ensemble(system.public, system.public_sidecar, source, source_sidecar)
        return system.public, system.public_sidecar
    return system.crafting_model, system.sidecar


def _ensemble(
    public: nn.Module, public_sidecar: dict[str, Any], source: nn.Module, source_sidecar: dict
) -> tuple[nn.Module, dict[str, Any]]:
    """The logit mean of the public model and the source (Liu et al. 2017), named after both."""
    names = [public_sidecar.get("name", "public"), source_sidecar.get("name", "source")]
    return LogitEnsemble([public, source.eval()]).eval(), {"name": f"ensemble[{'+'.join(names)}]"}


def attack_batches(
    *,
    attack: Attack,
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    device: torch.device,
    batch_size: int,
    progress: TextIO | None,
) -> dict[str, np.ndarray]:
    """Run `attack` on `images` batch by batch (targets chosen per batch, one generator
    throughout); the per-sample fields of the set that the attack produces, concatenated."""
    fields: dict[str, list[Any]] = {name: [] for name in ADVERSARIAL_SET_FIELDS}
    traces: dict[str, list[tuple[int, list[float]]]] = {}
    count = len(images)
    for start in tqdm(
        range(0, count, batch_size), desc="attack", file=progress or sys.stderr, ascii=True
    ):
        x = images[start : start + batch_size].to(device)
        y = labels[start : start + batch_size].to(device)
        target = choose_targets(attack.target_mode, model, x, y, generator)
        result = attack(model, x, y, target=target, generator=generator)
        fields["target"].append(
            np.full(len(x), -1, dtype=np.int64) if target is None else target.cpu().numpy()
        )
        fields["x_adv"].append(result.x_adv.numpy().astype(np.float32))
        fields["success"].append(result.success.numpy())
        for name in ("l0", "l2", "linf"):
            fields[name].append(getattr(result, name).numpy().astype(np.float32))
        fields["queries"].append(result.queries.numpy())
        fields["seconds"].append(np.full(len(x), result.seconds / len(x), dtype=np.float32))
        for key, values in (getattr(attack, "loss_trace", None) or {}).items():
            traces.setdefault(key, []).append((len(x), list(values)))
    arrays = {name: np.concatenate(values) for name, values in fields.items() if values}
    for key, batches in traces.items():
        arrays[f"{LOSS_TRACE}{key}"] = _mean_trace(batches)
    return arrays


def _mean_trace(batches: list[tuple[int, list[float]]]) -> np.ndarray:
    """One loss trace from the batches' (size, trace): the step-wise mean weighted by batch
    size where every batch has as many steps, else the batches' traces one after another."""
    lengths = {len(trace) for _, trace in batches}
    if len(lengths) == 1:
        sizes = np.array([size for size, _ in batches], dtype=np.float64)
        stacked = np.array([trace for _, trace in batches], dtype=np.float64)
        return (sizes @ stacked / sizes.sum()).astype(np.float32)
    return np.concatenate([np.asarray(trace, dtype=np.float32) for _, trace in batches])


def loss_traces(arrays: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """The set's loss traces (attacks that keep one: the adaptive ones), by name."""
    return {
        key.removeprefix(LOSS_TRACE): arrays[key].tolist()
        for key in arrays
        if key.startswith(LOSS_TRACE)
    }


def _sanity_checks(
    *,
    attack_config: dict[str, Any],
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    arrays: dict[str, np.ndarray],
    generator: torch.Generator,
    device: torch.device,
    sanity_samples: int,
) -> dict[str, Any]:
    """The sanity checks of decoybench.cells.sanity on the first `sanity_samples` images
    (none when 0), drawing on the crafting generator after the attack."""
    subset = min(sanity_samples, len(images))
    if not subset:
        return {}
    return adversarial_set_checks(
        attack_config=attack_config,
        model=model,
        x=images[:subset].to(device),
        y=labels[:subset].to(device),
        success=arrays["success"][:subset],
        clean_correct=arrays["source_clean_correct"][:subset],
        generator=generator,
    )


def _crafting_summary(
    arrays: dict[str, np.ndarray], count: int, sanity: dict[str, Any]
) -> dict[str, Any]:
    """What `generate_adversarial_set` returns: the set's rates and mean distortions on the
    crafting model (over the inputs it got right and was fooled on), time and sanity flags."""
    asr = attack_success_rate(arrays["success"], arrays["source_clean_correct"])
    fooled = arrays["success"] & arrays["source_clean_correct"]
    return {
        "n_attempted": count,
        "source_clean_accuracy": float(arrays["source_clean_correct"].mean()),
        "source_asr": asr.value,
        "source_asr_count": asr.count,
        "mean_linf": mean_distortion(arrays["linf"], fooled),
        "mean_l2": mean_distortion(arrays["l2"], fooled),
        "mean_l0": mean_distortion(arrays["l0"], fooled),
        "seconds": float(arrays["seconds"].sum()),
        "sanity": {key: float(value) for key, value in sanity.items() if value is not None},
    }
