"""What rules/adaptive.smk asks of the config: the adaptive settings, the defenses ranked,
each row's adversarial sets, the outputs. No torch: the Snakefile imports it at parse time."""

from __future__ import annotations

from typing import Any

from decoybench import dag, defense_registry
from decoybench.config import defense_type, whitebox_setting

TABLES = ("leaderboard", "adaptive_attacks")
FIGURES = ("leaderboard",)
DEFAULT_SAMPLES = 100


def adaptive_settings(config: dag.Config) -> list[str]:
    return [name for name, setting in config["settings"].items() if setting["kind"] == "adaptive"]


def ranked_defenses(config: dag.Config) -> list[str]:
    """Every defense (undefended included) with at least one adaptive cell, in config order."""
    adaptive = set(adaptive_settings(config))
    names: list[str] = []
    for setting, defense, _ in dag.evaluation_cells(config):
        if setting in adaptive and defense not in names:
            names.append(defense)
    return names


def leaderboard_samples(config: dag.Config) -> int:
    return ((config["evaluation"].get("leaderboard") or {}).get("n_samples")) or DEFAULT_SAMPLES


def row_sets(config: dag.Config, dataset: str, defense: str) -> list[dict[str, Any]]:
    """Each adversarial set of `defense`'s cells: its threat (`adaptive` for a cell of an
    adaptive setting, else `oblivious`), setting, attack and path. A detection-only type's
    oblivious cells are the victim's white-box sets."""
    adaptive = set(adaptive_settings(config))
    detection_only = defense_registry.get(defense_type(defense)).detection_only
    sets = []
    for setting, name, attack in dag.evaluation_cells(config):
        if name != defense:
            continue
        threat = "adaptive" if setting in adaptive else "oblivious"
        if detection_only and threat == "oblivious":
            path = dag.adversarial_set_file(dataset, whitebox_setting(config), "undefended", attack)
        else:
            path = dag.adversarial_set_file(dataset, setting, defense, attack)
        sets.append({"threat": threat, "setting": setting, "attack": attack, "path": path})
    return sets


def row_file(dataset: str, defense: str) -> str:
    return f"results/{dataset}/leaderboard/{defense}.json"


def fprs(config: dag.Config) -> list[float]:
    """The leaderboard's FPR columns: those of the first configured detector with `fprs`
    (the attractor's, by default), else 5%."""
    for entry in (config.get("defenses") or {}).values():
        if entry.get("fprs"):
            return [float(value) for value in entry["fprs"]]
    return [0.05]


def outputs(config: dag.Config) -> list[str]:
    """The leaderboard's tables and figure, when any cell is adaptive."""
    if not ranked_defenses(config):
        return []
    return dag.target_outputs(config, TABLES, FIGURES)
