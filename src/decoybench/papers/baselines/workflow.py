"""What the baselines' comparison rules (rules/baselines.smk) ask of the config: the
attractors paper's Table III, the luring paper's Table 20 and the heat map."""

from __future__ import annotations

from decoybench import defense_registry
from decoybench.dag import Config, cell_file, defenses_of_type, evaluation_cells, target_outputs
from decoybench.papers.luring import workflow as luring

# Column groups of the comparison table (the attractors paper's Table III), in registry
# order: the attractor, then the detectors compared with it (the baselines).
COMPARISON_GROUPS = defense_registry.types_where(compared=True)
BASELINE_TYPES = tuple(group for group in COMPARISON_GROUPS if group != "attractor")
TABLES = ("baseline_comparison", "baseline_luring")
FIGURES = ("baseline_asr",)


def comparison_defenses(config: Config) -> dict[str, str]:
    """{column group: defense} of the comparison table: the first configured defense of each
    group (the attractor and every baseline type)."""
    chosen = {}
    for group in COMPARISON_GROUPS:
        names = defenses_of_type(config, group)
        if names:
            chosen[group] = names[0]
    return chosen


def cell_metrics(config: Config, dataset: str) -> list[str]:
    """The cells the comparison tables and figure read: forensic cells of the comparison
    defenses, transfer cells of the Table 20 luring and trapdoor defenses, and the white-box
    cells on the undefended victim (the ASR beside each detector)."""
    compared = comparison_defenses(config)
    table20 = {luring.table20_defense(config), compared.get("trapdoor")} - {None}
    paths = []
    for setting, defense, attack in evaluation_cells(config):
        kind = config["settings"][setting]["kind"]
        if (
            (defense in compared.values() and kind == "forensic")
            or (defense in table20 and kind == "transfer")
            or (defense == "undefended" and kind == "whitebox")
        ):
            paths.append(cell_file(dataset, setting, defense, attack))
    return paths


def outputs(config: Config) -> list[str]:
    """The comparison per target (none without a baseline detector configured)."""
    if not any(defenses_of_type(config, kind) for kind in BASELINE_TYPES):
        return []
    return target_outputs(config, TABLES, FIGURES)
