"""What the luring paper's rules (rules/luring.smk) ask of the config."""

from __future__ import annotations

from decoybench.dag import Config, defense_file, defenses_of_type, target_outputs

TABLES = (
    "luring_agreement",
    "luring_characterization",
    "luring_defense",
    "luring_distortion",
    "luring_logits",
    "luring_claims",
    "luring_adaptive",
)
FIGURES = ("luring_rates", "luring_distortion", "luring_saliency")


def defenses(config: Config) -> list[str]:
    """The configured luring defenses (one per approach compared), in config order."""
    return defenses_of_type(config, "luring")


def paper_dataset(config: Config) -> str | None:
    """The paper data set whose numbers the luring tables print beside ours: the first
    luring defense's `paper_dataset`, else its component's (None without one)."""
    names = defenses(config)
    if not names:
        return None
    first = config["defenses"][names[0]]
    return first.get("paper_dataset") or first["component"]


def defense_files(config: Config, dataset: str) -> list[str]:
    return [defense_file(dataset, name) for name in defenses(config)]


def table20_defense(config: Config) -> str | None:
    """The luring defense of the luring paper's Table 20: the first with approach luring."""
    for name in defenses(config):
        if config["defenses"][name].get("approach") == "luring":
            return name
    return None


def outputs(config: Config) -> list[str]:
    """Everything of the luring paper per target: Tables 8, 1/14, 9, 10, Figure 2's data,
    the claim checks and Figures 2 and 3 (none without a luring defense)."""
    if not defenses(config):
        return []
    return target_outputs(config, TABLES, FIGURES)
