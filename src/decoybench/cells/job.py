"""One workflow job's cells: craft and score one cell (rule attack_cell), or score a
detection-only baseline's cells on the victim's white-box sets (its score_<defense> rule).

Each function logs its job's MLflow metrics through `log_metrics` as it goes (the crafting
summary before the set is scored), so a job that fails half-way still records its first part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import torch

from decoybench.cells.craft import generate_adversarial_set
from decoybench.cells.deployment import load_system
from decoybench.cells.score import evaluate_adversarial_set
from decoybench.data import read_manifest
from decoybench.defenses.system import deploy_options

LogMetrics = Callable[[dict[str, Any]], None]
LogSeries = Callable[[str, list[float]], None]


def run_attack_cell(
    *,
    dataset: str,
    setting: str,
    kind: str,
    defense: str,
    attack: str,
    attack_config: dict[str, Any],
    model: str | Path,
    data_dir: str | Path,
    adversarial_set: str | Path,
    out: str | Path,
    seed: int,
    device: torch.device,
    log_metrics: LogMetrics,
    source_model: str | Path | None = None,
    defense_path: str | Path | None = None,
    n_samples: int | None = None,
    batch_size: int = 250,
    sanity_samples: int = 64,
    progress: TextIO | None = None,
    log_series: LogSeries | None = None,
    setting_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Craft the cell's adversarial set (`attack`, configured by `attack_config`, in a
    `kind` setting), then score it on the target `model`; return the cell's metrics
    (written to `out`, with the cell's names).

    With `source_model` the set is crafted on that bare model (a transfer setting with a
    source), else on `model` as `defense` deploys it (its file: `defense_path`). The
    setting's config entry (`setting_config`) may add, for a transfer setting,
    `ensemble_with_public`: craft on the logit mean of that source and the defense's public
    model (`decoybench.models.ensemble.LogitEnsemble`); for an adaptive one, `gradient` and
    `deployed` (`decoybench.defenses.system.deploy_options`). The cell records each. Logs the
    crafting summary, the rates and distortion, each forensic operating point and luring's
    or multitask's rates, and the attack's loss traces as MLflow step metrics
    (`log_series`; the adaptive attacks keep one).
    """
    names = {"dataset": dataset, "setting": setting, "kind": kind, "defense": defense}
    cell = _cell(names, attack, attack_config, setting_config)
    ensemble_with_public = cell.get("ensemble_with_public", False)
    deploy = deploy_options(setting_config)
    crafted_on_source = source_model is not None and not ensemble_with_public
    summary = generate_adversarial_set(
        model_path=source_model if crafted_on_source else model,
        data_dir=data_dir,
        attack_config=attack_config,
        out=adversarial_set,
        seed=seed,
        seed_names=(dataset, setting, defense, attack),
        device=device,
        n_samples=n_samples,
        batch_size=batch_size,
        sanity_samples=sanity_samples,
        progress=progress,
        defense=defense,
        kind=kind,
        defense_path=None if crafted_on_source else defense_path,
        ensemble_source=source_model if ensemble_with_public else None,
        deploy=deploy,
    )
    for name, trace in summary.pop("loss_trace").items():
        if log_series is not None:
            log_series(f"loss_trace.{name}", trace)
    log_metrics({"crafting": summary})
    metrics = evaluate_adversarial_set(
        adversarial_set=adversarial_set,
        target_model=model,
        data_dir=data_dir,
        cell=cell,
        out=out,
        device=device,
        defense_path=defense_path,
    )
    _log_scores(metrics, log_metrics)
    return metrics


def _cell(
    names: dict[str, str],
    attack: str,
    attack_config: dict[str, Any],
    setting_config: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The cell's names and attack config, with its setting's ensemble and deploy options."""
    cell: dict[str, Any] = {**names, "attack": attack, "attack_config": attack_config}
    if (setting_config or {}).get("ensemble_with_public", False):
        cell["ensemble_with_public"] = True
    return {**cell, **deploy_options(setting_config)}


def _log_scores(metrics: dict[str, Any], log_metrics: LogMetrics) -> None:
    """Log a scored cell's rates and distortion, each forensic and adaptive operating point
    (without its failures) and luring's or multitask's rates."""
    log_metrics({"rates": metrics["rates"], "distortion": metrics["distortion"]})
    for point in metrics.get("forensic", {}).get("operating_points", []):
        log_metrics({f"forensic.fpr_{point['fpr_target']:g}": point})
    if "luring" in metrics:
        log_metrics({"luring": metrics["luring"]["rates"]})
    if "multitask" in metrics:
        log_metrics({"multitask": metrics["multitask"]["rates"]})
    for name, point in metrics.get("adaptive", {}).get("operating_points", {}).items():
        log_metrics({f"adaptive.{name}": {k: v for k, v in point.items() if k != "failures"}})


def score_detection_only_cells(
    *,
    dataset: str,
    defense: str,
    cells: Sequence[dict[str, Any]],
    adversarial_sets: Sequence[str | Path],
    outs: Sequence[str | Path],
    victim: str | Path,
    defense_path: str | Path,
    data_dir: str | Path,
    device: torch.device,
    log_metrics: LogMetrics,
) -> list[dict[str, Any]]:
    """Score each of `cells` (setting, kind, attack, attack_config) with the detection-only
    `defense` beside the unchanged `victim`: its adversarial set, metrics written to its
    out; return the cells' metrics.

    The system is loaded once per setting kind, so its detector scores the clean test split
    once for all cells. Logs each cell's forensic operating points as `<attack>.fpr_<fpr>`.
    """
    data_sha256 = read_manifest(data_dir)["fingerprint"]
    systems = {
        kind: load_system(
            model_path=victim,
            defense=defense,
            kind=kind,
            device=device,
            data_sha256=data_sha256,
            defense_path=defense_path,
        )
        for kind in sorted({cell["kind"] for cell in cells})
    }
    scored = []
    for cell, adversarial_set, out in zip(cells, adversarial_sets, outs, strict=True):
        metrics = evaluate_adversarial_set(
            adversarial_set=adversarial_set,
            target_model=victim,
            data_dir=data_dir,
            cell={
                "dataset": dataset,
                "setting": cell["setting"],
                "kind": cell["kind"],
                "defense": defense,
                "attack": cell["attack"],
                "attack_config": cell["attack_config"],
                "adversarial_set": adversarial_set,
            },
            out=out,
            device=device,
            defense_path=defense_path,
            system=systems[cell["kind"]],
        )
        for point in metrics["forensic"]["operating_points"]:
            log_metrics({f"{cell['attack']}.fpr_{point['fpr_target']:g}": point})
        scored.append(metrics)
    return scored
