"""One leaderboard row: a defense's adaptive deployment scored on every adversarial set of
its cells, and the per-sample worst case of each threat model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from decoybench.attacks.adaptive import CombinedLogits, runner_up
from decoybench.attacks.bpda import bpda
from decoybench.cells.adaptive import clean_rejections, defender_outcome
from decoybench.cells.deployment import load_system
from decoybench.cells.score import cell_outcome
from decoybench.data import load_split, read_manifest
from decoybench.defenses.system import DeployedSystem
from decoybench.io import read_npz, write_json
from decoybench.metrics import per_sample_worst_case
from decoybench.runtime import to_float

THREATS = ("oblivious", "adaptive")
# ‖∇x‖ at or below this counts as no gradient (float32 round-off on [0, 1] inputs).
ZERO_GRADIENT = 1e-12


def score_defense_row(
    *,
    defense: str,
    victim: str | Path,
    defense_path: str | Path | None,
    data_dir: str | Path,
    sets: Sequence[dict[str, Any]],
    n_samples: int,
    out: str | Path,
    device: torch.device,
    batch_size: int = 250,
) -> dict[str, Any]:
    """Score each of `sets` (threat, setting, attack, path) on the first `n_samples` test
    images against `defense`'s adaptive deployment; the per-sample worst case per threat
    model and operating point; written atomically to `out`. Sets of fewer images are listed
    under `excluded`."""
    manifest = read_manifest(data_dir)
    system = load_system(
        model_path=victim,
        defense=defense,
        kind="adaptive",
        device=device,
        data_sha256=manifest["fingerprint"],
        defense_path=defense_path,
    )
    test = load_split(data_dir, "test")
    count = min(n_samples, len(test))
    x_clean = to_float(test.images[:count], device)
    labels = torch.as_tensor(test.labels[:count])
    rejected = clean_rejections(system, x_clean, batch_size)  # the same for every set
    attacks, excluded = [], []
    for entry in sets:
        arrays = read_npz(entry["path"])
        if len(arrays["index"]) < count:
            excluded.append({**_names(entry), "n": len(arrays["index"])})
            continue
        first = _first(arrays, count)
        _check_order(first, labels, entry["path"])
        outcome = cell_outcome(system.model, first, test.images, batch_size)
        scored = defender_outcome(
            system,
            clean_correct=outcome.target_correct,
            clean_rejected=rejected,
            fooled=outcome.target_fooled,
            x_adv=outcome.x_adv.to(device),
            batch_size=batch_size,
        )
        attacks.append({**_names(entry), **scored})
    row = {
        "defense": defense,
        "n": count,
        "attacks": attacks,
        "excluded": excluded,
        "worst_case": worst_cases(attacks),
        "gradient": gradient_check(system, x_clean, labels, device),
    }
    write_json(out, row)
    return row


def _names(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: entry[key] for key in ("threat", "setting", "attack")}


def _first(arrays: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
    """The set's per-sample fields on its first `count` images (its other fields as they are)."""
    size = len(arrays["index"])
    return {
        key: value[:count] if value.ndim and len(value) == size else value
        for key, value in arrays.items()
    }


def _check_order(arrays: dict[str, np.ndarray], labels: torch.Tensor, path: Any) -> None:
    count = len(labels)
    if not np.array_equal(arrays["index"], np.arange(count)) or not np.array_equal(
        arrays["label"], labels.numpy()
    ):
        raise ValueError(f"{path}: not the first {count} test images in order")


def worst_cases(attacks: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{threat: {operating point: the per-sample worst case and the attacks it is over}}."""
    result: dict[str, dict[str, Any]] = {}
    for threat in THREATS:
        of_threat = [entry for entry in attacks if entry["threat"] == threat]
        if not of_threat:
            continue
        points: dict[str, Any] = {}
        for point in of_threat[0]["operating_points"]:
            failures = {
                f"{entry['setting']}/{entry['attack']}": np.asarray(
                    entry["operating_points"][point]["failures"], dtype=bool
                )
                for entry in of_threat
            }
            points[point] = {
                **per_sample_worst_case(failures).as_dict(),
                "attacks": sorted(failures),
            }
        result[threat] = points
    return result


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
