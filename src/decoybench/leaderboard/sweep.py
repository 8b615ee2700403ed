"""Attack success against ε for one defense: the check that the adaptive attack is not
stopped by the defense for the wrong reason (Carlini et al. 2019, "On evaluating
adversarial robustness", Sec. 5: success must reach 100% as ε grows; at L∞ ε = 1 any
input can be turned into any other, so a curve that stays low is a broken attack, not a
robust defense).

One job per defense runs one attack config (G(x) PGD by default) at each ε of the sweep on
the first n test images against the adaptive deployment, with each gradient its type offers
(exact, and BPDA where it has a surrogate), and scores every operating point with the
rejections charged, per sample the worst over the gradients, as the leaderboard does
(decoybench.cells.adaptive)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from decoybench import defense_registry
from decoybench.attacks.registry import build_from_config
from decoybench.cells import sanity
from decoybench.cells.adaptive import clean_rejections, defender_outcome
from decoybench.cells.craft import attack_batches
from decoybench.cells.deployment import load_system
from decoybench.cells.score import cell_outcome
from decoybench.data import load_split, read_manifest
from decoybench.defenses.system import DeployedSystem
from decoybench.io import write_json
from decoybench.metrics import per_sample_worst_case
from decoybench.models.training import predict
from decoybench.runtime import derive_seed, seed_everything, to_float

# The last ε of a sweep must reach this charged success, else the sweep is flagged.
SATURATED = 0.95


def sweep_defense(
    *,
    defense: str,
    victim: str | Path,
    defense_path: str | Path | None,
    data_dir: str | Path,
    attack_config: Mapping[str, Any],
    epsilons: Sequence[float],
    n_samples: int,
    seed: int,
    out: str | Path,
    device: torch.device,
    batch_size: int = 250,
) -> dict[str, Any]:
    """Run `attack_config` at each of `epsilons` against `defense`'s adaptive deployment,
    once per gradient its type offers (exact, and BPDA where it has a surrogate:
    `DefenseType.gradients`); per ε and operating point the charged attack success of the
    per-sample worst case over those gradients (the strongest attacker, not the first) and
    the smaller ε (`worst_over_gradients`); written atomically to `out`."""
    test = load_split(data_dir, "test")
    count = min(n_samples, len(test))
    images = to_float(test.images[:count])
    labels = torch.as_tensor(test.labels[:count])
    entry = defense_registry.type_of(defense)
    gradients = entry.gradients if entry is not None else ("exact",)
    fingerprint = read_manifest(data_dir)["fingerprint"]
    failures: dict[float, dict[str, dict[str, np.ndarray]]] = {}
    for gradient in gradients:
        system = load_system(
            model_path=victim,
            defense=defense,
            kind="adaptive",
            device=device,
            data_sha256=fingerprint,
            defense_path=defense_path,
            gradient=gradient,
        )
        # The same at every ε: the clean predictions and rejections.
        clean = {
            "clean_correct": (predict(system.model, images) == labels).numpy(),
            "clean_rejected": clean_rejections(system, images.to(device), batch_size),
        }
        for epsilon in epsilons:
            generator = seed_everything(
                derive_seed(seed, "sweep", defense, f"{epsilon:g}", *_bpda(gradient))
            )
            at = at_epsilon(attack_config, float(epsilon))
            scored = _attack_and_score(
                system, at, images, labels, clean, test.images, generator, device, batch_size
            )
            for name, point in scored["operating_points"].items():
                by_point = failures.setdefault(float(epsilon), {}).setdefault(name, {})
                by_point[gradient] = np.asarray(point["failures"], dtype=bool)
    points = worst_over_gradients(failures)
    result = {
        "defense": defense,
        "attack": dict(attack_config),
        "gradients": list(gradients),
        "n": count,
        "points": points,
    }
    write_json(out, result)
    return result


def worst_over_gradients(
    failures: Mapping[float, Mapping[str, Mapping[str, np.ndarray]]],
) -> list[dict[str, Any]]:
    """{ε: {operating point: {gradient: per-input failure flags}}} → the sweep's points, by
    increasing ε: per ε and operating point the charged success of the per-sample worst case
    over the gradients and over every ε' ≤ ε of the sweep (an example within a smaller budget
    is within this one, so success cannot fall as ε grows; a fall would be the attack's
    step size, not the defense)."""
    points: list[dict[str, Any]] = []
    reached: dict[str, np.ndarray] = {}
    for epsilon in sorted(failures):
        for name, by_gradient in failures[epsilon].items():
            worst = np.logical_or.reduce([np.asarray(f, dtype=bool) for f in by_gradient.values()])
            reached[name] = worst if name not in reached else reached[name] | worst
        points.append(
            {
                "epsilon": float(epsilon),
                "operating_points": {
                    name: per_sample_worst_case({"up_to_epsilon": reached[name]}).as_dict()
                    for name in failures[epsilon]
                },
            }
        )
    return points


def _attack_and_score(
    system: DeployedSystem,
    attack_config: Mapping[str, Any],
    images: torch.Tensor,
    labels: torch.Tensor,
    clean: Mapping[str, Any],
    test_images: np.ndarray,
    generator: torch.Generator,
    device: torch.device,
    batch_size: int,
) -> dict[str, Any]:
    """One ε of the sweep against one deployment: the defender's outcome per operating point
    (`clean`: the deployment's clean_correct and clean_rejected, computed once)."""
    arrays = attack_batches(
        attack=build_from_config(dict(attack_config)),
        model=system.crafting_model,
        images=images,
        labels=labels,
        generator=generator,
        device=device,
        batch_size=batch_size,
        progress=None,
    )
    arrays["index"] = np.arange(len(images))
    arrays["label"] = labels.numpy()
    arrays["source_clean_correct"] = clean["clean_correct"]
    outcome = cell_outcome(system.model, arrays, test_images, batch_size)
    return defender_outcome(
        system,
        clean_correct=outcome.target_correct,
        clean_rejected=clean["clean_rejected"],
        fooled=outcome.target_fooled,
        x_adv=outcome.x_adv.to(device),
        batch_size=batch_size,
    )


def _bpda(gradient: str) -> tuple[str, ...]:
    """Seed names: the exact gradient keeps the seeds it always had."""
    return () if gradient == "exact" else (gradient,)


def at_epsilon(attack_config: Mapping[str, Any], epsilon: float) -> dict[str, Any]:
    """The attack config at budget `epsilon` (decoybench.cells.sanity.at_epsilon: its
    ε-relative parameters scaled), an absolute step size scaled with it too, so the steps
    can still cross the budget (30 steps of 0.01 never reach ε = 1)."""
    entry = sanity.at_epsilon(dict(attack_config), epsilon)
    if "abs_stepsize" in entry:
        entry["abs_stepsize"] = float(entry["abs_stepsize"]) * epsilon / attack_config["epsilon"]
    return entry


def saturation(sweep: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep's largest ε and its lowest charged success over the operating points;
    `saturated` when that reaches SATURATED."""
    last = max(sweep["points"], key=lambda point: point["epsilon"])
    value = min(rate["value"] for rate in last["operating_points"].values())
    return {"epsilon": last["epsilon"], "value": value, "saturated": value >= SATURATED}
