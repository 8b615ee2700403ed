"""Pure functions of the prepared workflow config that the rules' input functions share:
which defenses and cells are configured, and where their files lie. No Snakemake and no
torch here: the Snakefile calls them at parse time, and the tests call them directly."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from decoybench import defense_registry
from decoybench.config import defense_type

Config = dict[str, Any]


def defense_file(dataset: str, defense: str) -> str:
    """The sidecar every defense's build writes."""
    return f"results/{dataset}/defenses/{defense}/defense.json"


def build_files(dataset: str, defense: str) -> dict[str, str]:
    """Every file `defense`'s type builds (its `build_outputs`), by output key; none for a
    type without a builder (`undefended`)."""
    entry = defense_registry.type_of(defense)
    outputs = {} if entry is None or entry.builder is None else entry.build_outputs
    return {key: f"results/{dataset}/defenses/{defense}/{file}" for key, file in outputs.items()}


def adversarial_set_file(dataset: str, setting: str, defense: str, attack: str) -> str:
    """The adversarial set of one cell."""
    return f"results/{dataset}/adv/{setting}/{defense}/{attack}.npz"


def cell_file(dataset: str, setting: str, defense: str, attack: str) -> str:
    """The metrics JSON of one cell."""
    return f"results/{dataset}/eval/{setting}/{defense}/{attack}.json"


def defenses_of_type(config: Config, kind: str) -> list[str]:
    """Names in config `defenses` of one defense type (decoybench.config.defense_type)."""
    return [name for name in config.get("defenses") or {} if defense_type(name) == kind]


def evaluation_cells(config: Config) -> list[tuple[str, str, str]]:
    """(setting, defense, attack) triples listed in config `evaluation.cells`."""
    return [
        (cell["setting"], cell["defense"], attack)
        for cell in config["evaluation"]["cells"]
        for attack in cell["attacks"]
    ]


def target_outputs(config: Config, tables: Iterable[str], figures: Iterable[str]) -> list[str]:
    """Every target's `tables` (CSV and Markdown) and `figures` (PNG and PDF)."""
    return [
        f"results/{dataset}/{folder}/{name}.{extension}"
        for dataset in config["targets"]
        for folder, names, extensions in (
            ("tables", tuple(tables), ("csv", "md")),
            ("figures", tuple(figures), ("png", "pdf")),
        )
        for name in names
        for extension in extensions
    ]
