"""The multitask tables' inputs: the cells (`MultitaskCell`) of the defense by setting kind,
the bare oracle's white-box cells and the defense sidecar, and the paper-number format."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from decoybench import defense_registry
from decoybench.io import read_json
from decoybench.tables.paper import is_nan

__all__ = [
    "Inputs",
    "MultitaskCell",
    "is_multitask_defense",
    "load_inputs",
    "paper_percent",
]

MULTITASK = "multitask"
UNDEFENDED = "undefended"

# Row order of the attack tables: the paper's columns first (Table III), then the rest.
ATTACK_ORDER: tuple[str, ...] = ("fgsm", "igs", "deepfool_linf", "deepfool", "cw2", "cw2_combined")
MODE_LABELS = {"none": "non-targeted"}  # any other target mode is "targeted" (Table V)

Cell = dict[str, Any]


def is_multitask_defense(name: str) -> bool:
    """Whether config name `name` is of the multitask type (decoybench.defense_registry):
    `multitask`, `multitask_<x>` or `multitask-<x>`."""
    entry = defense_registry.type_of(name)
    return entry is not None and entry.name == MULTITASK


def paper_percent(value: float | None) -> str:
    """A paper number as the paper prints it: "99.4%", "0.09%", "100%", "8%"."""
    if is_nan(value):
        return "—"
    return f"{100 * float(value):.2f}".rstrip("0").rstrip(".") + "%"


# --- cells -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MultitaskCell:
    """One evaluation cell: identity, registry attack and parameters, and its metrics."""

    setting: str
    kind: str
    defense: str
    key: str  # config key of the attack
    attack: str  # registry name
    epsilon: float | None
    kappa: float | None  # C&W confidence κ (cw2, cw2_combined); None for other attacks
    target_mode: str
    metrics: Cell = field(repr=False)

    @classmethod
    def of(cls, metrics: Cell) -> MultitaskCell:
        identity = metrics["cell"]
        config = identity.get("attack_config") or {}
        attack = metrics.get("attack") or {}
        name = str(attack.get("name") or config.get("attack", ""))
        epsilon = attack.get("epsilon", config.get("epsilon"))
        kappa = config.get("confidence")
        if kappa is None and name in ("cw2", "cw2_combined"):
            kappa = 0.0  # the schema's default confidence
        target_mode = attack.get("target_mode") or config.get("target") or "none"
        return cls(
            setting=str(identity.get("setting", "")),
            kind=str(identity.get("kind", "")),
            defense=str(identity.get("defense", "")),
            key=str(identity.get("attack", "")),
            attack=name,
            epsilon=None if is_nan(epsilon) else float(epsilon),
            kappa=None if is_nan(kappa) else float(kappa),
            target_mode=str(target_mode),
            metrics=metrics,
        )

    @property
    def mode(self) -> str:
        """Table V's row: "non-targeted" (target mode none) or "targeted"."""
        return MODE_LABELS.get(self.target_mode, "targeted")

    def rate(self, name: str) -> dict[str, Any] | None:
        """A multitask rate (`multitask.rates`), None when the cell has none."""
        return ((self.metrics.get("multitask") or {}).get("rates") or {}).get(name)

    def cell_rate(self, name: str) -> dict[str, Any] | None:
        """A rate of every cell (`rates`: target_asr, source_asr, ...)."""
        return (self.metrics.get("rates") or {}).get(name)

    def count(self, name: str) -> Any:
        return ((self.metrics.get("multitask") or {}).get("counts") or {}).get(name)

    def sort_key(self) -> tuple[Any, ...]:
        rank = ATTACK_ORDER.index(self.attack) if self.attack in ATTACK_ORDER else len(ATTACK_ORDER)
        return (
            self.setting,
            rank,
            self.attack,
            self.target_mode != "none",
            self.target_mode,
            math.inf if self.epsilon is None else self.epsilon,
            math.inf if self.kappa is None else self.kappa,
            self.key,
        )


@dataclass
class Inputs:
    """The loaded inputs: the defense's cells by kind, the bare oracle's white-box cells."""

    defense: str
    transfer: list[MultitaskCell]
    greybox: list[MultitaskCell]
    near_whitebox: list[MultitaskCell]
    undefended_whitebox: list[MultitaskCell]
    sidecar: dict[str, Any]


def _read_cell(cell: str | Path | Mapping[str, Any]) -> Cell:
    return dict(cell) if isinstance(cell, Mapping) else read_json(cell)


def load_inputs(
    cells: Iterable[str | Path | Mapping[str, Any]] | str | Path,
    defense: str,
    defense_json: str | Path | Mapping[str, Any] | None,
) -> Inputs:
    """Read the cells (paths or already-loaded dicts) and the sidecar; keep `defense`'s
    transfer, greybox and near_whitebox cells and the white-box cells on `undefended`.
    ValueError when no cell belongs to `defense`."""
    items = [cells] if isinstance(cells, (str, Path)) else list(cells)
    loaded = [MultitaskCell.of(_read_cell(item)) for item in items]
    own = [cell for cell in loaded if cell.defense == defense]
    if not own:
        defenses = sorted({cell.defense for cell in loaded})
        raise ValueError(
            f"no cell of the multitask defense {defense!r} among {len(loaded)} cells "
            f"(defenses present: {', '.join(defenses) or 'none'})"
        )

    def of_kind(kind: str, name: str) -> list[MultitaskCell]:
        chosen = [cell for cell in loaded if cell.kind == kind and cell.defense == name]
        return sorted(chosen, key=MultitaskCell.sort_key)

    if defense_json is None:
        sidecar: dict[str, Any] = {}
    elif isinstance(defense_json, Mapping):
        sidecar = dict(defense_json)
    else:
        sidecar = read_json(defense_json)
    return Inputs(
        defense=defense,
        transfer=of_kind("transfer", defense),
        greybox=of_kind("greybox", defense),
        near_whitebox=of_kind("near_whitebox", defense),
        undefended_whitebox=of_kind("whitebox", UNDEFENDED),
        sidecar=sidecar,
    )
