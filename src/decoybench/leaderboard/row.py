"""One leaderboard row: a defense's adaptive deployment scored on every adversarial set of
its cells, and the per-sample worst case of each threat model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from decoybench.attacks.adaptive import CombinedLogits, runner_up
from decoybench.attacks.bpda import bpda
from decoybench.cells.adaptive import clean_rejections, defender_outcome
from decoybench.cells.craft import ADVERSARIAL_SET_FIELDS
from decoybench.cells.deployment import load_system
from decoybench.cells.score import cell_outcome
from decoybench.data import load_split, read_manifest
from decoybench.defenses.system import DeployedSystem
from decoybench.io import read_npz, write_json
from decoybench.metrics import per_sample_worst_case, within_budget
from decoybench.runtime import to_float

THREATS = ("oblivious", "adaptive")
# A set's per-sample fields (its loss traces and metadata are not).
PER_SAMPLE = frozenset({*ADVERSARIAL_SET_FIELDS, "index", "label", "source_clean_correct"})
# ‖∇x‖ at or below this counts as no gradient (float32 round-off on [0, 1] inputs).
ZERO_GRADIENT = 1e-12
DEFAULT_DEPLOYMENT = "default"


def score_defense_row(
    *,
    defense: str,
    victim: str | Path,
    defense_path: str | Path | None,
    data_dir: str | Path,
    sets: Sequence[dict[str, Any]],
    n_samples: int,
    threat_models: Mapping[str, Mapping[str, Any]],
    out: str | Path,
    device: torch.device,
    batch_size: int = 250,
) -> dict[str, Any]:
    """Score each of `sets` (knowledge `threat`: oblivious or adaptive; setting, attack,
    path; `deployed`, default `default`) on the first `n_samples` test images against
    `defense`'s adaptive deployment of that name; the per-sample worst case, over the sets
    of the default deployment (the row's system), per knowledge, threat model (name →
    {norm: linf | l2 | null, epsilon}: only the x' within its budget count) and operating
    point; written atomically to `out`. A set crafted for another deployment (attractor's
    integrated M_(d,r)) is scored on that one and listed, outside the worst case. Sets of
    fewer images are listed under `excluded`."""
    manifest = read_manifest(data_dir)
    test = load_split(data_dir, "test")
    count = min(n_samples, len(test))
    x_clean = to_float(test.images[:count], device)
    labels = torch.as_tensor(test.labels[:count])
    deployments: dict[str, tuple[DeployedSystem, dict[str, np.ndarray]]] = {}

    def deployment(deployed: str) -> tuple[DeployedSystem, dict[str, np.ndarray]]:
        if deployed not in deployments:
            system = load_system(
                model_path=victim,
                defense=defense,
                kind="adaptive",
                device=device,
                data_sha256=manifest["fingerprint"],
                defense_path=defense_path,
                deployed=deployed,
            )
            # The clean rejections are the same for every set of one deployment.
            deployments[deployed] = (system, clean_rejections(system, x_clean, batch_size))
        return deployments[deployed]

    attacks, excluded = [], []
    for entry in sets:
        arrays = read_npz(entry["path"])
        if len(arrays["index"]) < count:
            excluded.append({**_names(entry), "n": len(arrays["index"])})
            continue
        first = _first(arrays, count)
        _check_order(first, labels, entry["path"])
        system, rejected = deployment(entry.get("deployed", DEFAULT_DEPLOYMENT))
        outcome = cell_outcome(system.model, first, test.images, batch_size)
        scored = defender_outcome(
            system,
            clean_correct=outcome.target_correct,
            clean_rejected=rejected,
            fooled=outcome.target_fooled,
            x_adv=outcome.x_adv.to(device),
            batch_size=batch_size,
            budgets=budget_masks(first, threat_models),
        )
        attacks.append({**_names(entry), **scored})
    system, _ = deployment(DEFAULT_DEPLOYMENT)
    row = {
        "defense": defense,
        "n": count,
        "attacks": attacks,
        "excluded": excluded,
        # A list, in config order: the JSON's mappings have their keys sorted.
        "threat_models": [{"name": name, **model} for name, model in threat_models.items()],
        "worst_case": worst_cases(
            [entry for entry in attacks if entry["deployed"] == DEFAULT_DEPLOYMENT],
            list(threat_models),
        ),
        "gradient": gradient_check(system, x_clean, labels, device),
    }
    write_json(out, row)
    return row


def _names(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        **{key: entry[key] for key in ("threat", "setting", "attack")},
        "deployed": entry.get("deployed", DEFAULT_DEPLOYMENT),
    }


def _first(arrays: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
    """The set's per-sample fields on its first `count` images (its other fields as they are)."""
    size = len(arrays["index"])
    return {
        key: value[:count] if value.ndim and len(value) == size and key in PER_SAMPLE else value
        for key, value in arrays.items()
    }


def _check_order(arrays: dict[str, np.ndarray], labels: torch.Tensor, path: Any) -> None:
    count = len(labels)
    if not np.array_equal(arrays["index"], np.arange(count)) or not np.array_equal(
        arrays["label"], labels.numpy()
    ):
        raise ValueError(f"{path}: not the first {count} test images in order")


def budget_masks(
    arrays: Mapping[str, np.ndarray], threat_models: Mapping[str, Mapping[str, Any]]
) -> dict[str, np.ndarray]:
    """Per threat model, whether each x' of the set is within its norm budget (the set's
    stored per-sample `linf` / `l2`; every x' for an unbounded model, norm null)."""
    masks = {}
    for name, model in threat_models.items():
        norm = model.get("norm")
        if norm is None:
            masks[name] = within_budget(np.zeros(len(arrays["index"])), None)
        else:
            masks[name] = within_budget(arrays[norm], float(model["epsilon"]))
    return masks


def worst_cases(
    attacks: Sequence[dict[str, Any]], threat_models: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """{knowledge: {threat model: {operating point: the per-sample worst case over the
    knowledge's attacks, x' outside the model's budget left out, and the attacks it is
    over}}}."""
    result: dict[str, dict[str, Any]] = {}
    for threat in THREATS:
        of_threat = [entry for entry in attacks if entry["threat"] == threat]
        if not of_threat:
            continue
        result[threat] = {
            model: {
                point: _worst_case(of_threat, point, model)
                for point in of_threat[0]["operating_points"]
            }
            for model in threat_models
        }
    return result


def _worst_case(entries: Sequence[dict[str, Any]], point: str, model: str) -> dict[str, Any]:
    failures = {
        f"{entry['setting']}/{entry['attack']}": np.asarray(
            entry["operating_points"][point]["threat_models"][model]["failures"], dtype=bool
        )
        for entry in entries
    }
    return {**per_sample_worst_case(failures).as_dict(), "attacks": sorted(failures)}


def gradient_check(
    system: DeployedSystem, x: torch.Tensor, labels: torch.Tensor, device: torch.device
) -> dict[str, Any]:
    """The share of clean inputs where G(x)'s loss towards the runner-up class has no
    gradient (‖∇x‖ ≤ ZERO_GRADIENT): vanishing gradients that would make every
    gradient attack fail for the wrong reason (Athalye et al. 2018)."""
    model = system.crafting_model
    x, labels = x.to(device), labels.to(device)
    target = runner_up(model, x, labels)
    inputs = x.clone().requires_grad_(True)
    with bpda(model):
        loss = F.cross_entropy(CombinedLogits(model)(inputs), target, reduction="sum")
        (gradient,) = torch.autograd.grad(loss, inputs)
    norms = gradient.flatten(1).norm(dim=1).detach().cpu()
    return {
        "zero_share": float((norms <= ZERO_GRADIENT).float().mean()),
        "median_norm": float(norms.median()),
    }
