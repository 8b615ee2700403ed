"""What the multitask paper's rules (rules/multitask.smk) ask of the config."""

from __future__ import annotations

from decoybench.config import defense_type
from decoybench.dag import Config, cell_file, defenses_of_type, evaluation_cells, target_outputs

TABLES = (
    "multitask_blackbox",
    "multitask_greybox",
    "multitask_cw_sweep",
    "multitask_near_whitebox",
    "multitask_benign",
    "multitask_classmap",
    "multitask_claims",
)
FIGURES = ("multitask_cw_transfer", "multitask_cw_detection", "multitask_classmaps")
# Registry attacks of the multitask paper's white-box cells on the bare victim: Table V's
# Original row (cw2_combined) and Fig. 6's maps (FGSM, IGS/BIM, DeepFool, C&W).
REFERENCE_ATTACKS = ("fgsm", "igs", "bim", "deepfool", "deepfool_linf", "cw2", "cw2_combined")


def defense(config: Config) -> str | None:
    """The configured multi-task defense the paper's tables report (the first one)."""
    names = defenses_of_type(config, "multitask")
    return names[0] if names else None


def paper_dataset(config: Config) -> str | None:
    """The paper data set whose numbers the multitask tables print beside ours."""
    name = defense(config)
    return (config["defenses"][name] or {}).get("paper_dataset") if name else None


def cell_metrics(config: Config, dataset: str) -> list[str]:
    """The cells the multitask tables and figures read: every multitask cell, and the
    white-box cells on the bare victim of REFERENCE_ATTACKS."""
    paths = []
    for setting, name, attack in evaluation_cells(config):
        reference = (
            name == "undefended"
            and config["settings"][setting]["kind"] == "whitebox"
            and config["attacks"][attack]["attack"] in REFERENCE_ATTACKS
        )
        adaptive = config["settings"][setting]["kind"] == "adaptive"  # the leaderboard's
        if reference or (defense_type(name) == "multitask" and not adaptive):
            paths.append(cell_file(dataset, setting, name, attack))
    return paths


def outputs(config: Config) -> list[str]:
    """Everything of the multitask paper per target: Tables III-VI, the Classmap, the data
    of Figures 3-5, the claim checks and Figures 3-6 (none without a multitask defense)."""
    if defense(config) is None:
        return []
    return target_outputs(config, TABLES, FIGURES)
