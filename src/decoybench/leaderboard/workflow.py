"""What rules/adaptive.smk asks of the config: the adaptive settings, the defenses ranked,
each row's adversarial sets, the outputs. No torch: the Snakefile imports it at parse time."""

from __future__ import annotations

from typing import Any

from decoybench import dag, defense_registry
from decoybench.config import defense_type, whitebox_setting

TABLES = ("leaderboard", "worst_cases", "adaptive_attacks", "epsilon_sweep")
FIGURES = ("leaderboard", "epsilon_sweep")
DEFAULT_SAMPLES = 100
# G(x) PGD from a tenth of DEEPSEC's budget to the whole input range.
DEFAULT_SWEEP = {
    "attack": "gx_pgd_0.3",
    "epsilons": [0.05, 0.1, 0.2, 0.3, 0.5, 1.0],
    "n_samples": 50,
}
# Carlini et al. 2019's MNIST budgets: L∞ ε = 0.3 and L2 ε = 2.
DEFAULT_THREAT_MODELS = {
    "linf_0.3": {"norm": "linf", "epsilon": 0.3},
    "l2_2.0": {"norm": "l2", "epsilon": 2.0},
}


# Kinds whose attacker knows more than the paper's own threat model: the adaptive one, and
# a decision-based attacker querying the deployed classifier (luring's hidden M).
ADAPTIVE_KNOWLEDGE_KINDS = ("adaptive", "decision")


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


def threat_models(config: dag.Config) -> dict[str, dict[str, Any]]:
    """The leaderboard's threat models: name → norm (linf, l2; null: unbounded) and ε. A
    null entry is dropped (a config merged over the default switches one off that way)."""
    leaderboard = config["evaluation"].get("leaderboard") or {}
    given = leaderboard.get("threat_models") or DEFAULT_THREAT_MODELS
    models = {name: model for name, model in given.items() if model is not None}
    if not models:
        raise ValueError(
            "evaluation.leaderboard.threat_models: every entry is null; expected at least one "
            "threat model (name: {norm: linf | l2 | null, epsilon: number})"
        )
    for name, model in models.items():
        if model.get("norm") is not None and model.get("epsilon") is None:
            raise ValueError(
                f"evaluation.leaderboard.threat_models.{name}: norm {model['norm']!r} needs "
                "an epsilon (a positive number); use norm: null for an unbounded model"
            )
    return models


def epsilon_sweep(config: dag.Config) -> dict[str, Any]:
    """The ε sweep's attack (its config entry, by name), budgets and image count."""
    leaderboard = config["evaluation"].get("leaderboard") or {}
    sweep = {**DEFAULT_SWEEP, **(leaderboard.get("epsilon_sweep") or {})}
    name = sweep["attack"]
    if name not in config["attacks"]:
        raise ValueError(
            f"evaluation.leaderboard.epsilon_sweep.attack = {name!r} is not an attack of "
            f"`attacks`; expected one of {', '.join(config['attacks'])}"
        )
    return {**sweep, "attack_config": config["attacks"][name]}


def sweep_file(dataset: str, defense: str) -> str:
    return f"results/{dataset}/leaderboard/sweep/{defense}.json"


def row_sets(config: dag.Config, dataset: str, defense: str) -> list[dict[str, Any]]:
    """Each adversarial set of `defense`'s cells: its threat (`adaptive` for a cell of a
    setting of `ADAPTIVE_KNOWLEDGE_KINDS`, else `oblivious`), setting, attack, path and the
    deployment it targets (`deployed`: an adaptive setting's, else `default`). A
    detection-only type's oblivious cells are the victim's white-box sets."""
    adaptive = {
        name
        for name, setting in config["settings"].items()
        if setting["kind"] in ADAPTIVE_KNOWLEDGE_KINDS
    }
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
        deployed = config["settings"][setting].get("deployed", "default")
        sets.append(
            {
                "threat": threat,
                "setting": setting,
                "attack": attack,
                "path": path,
                "deployed": deployed,
            }
        )
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
