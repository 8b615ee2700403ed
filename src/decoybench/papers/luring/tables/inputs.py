"""The luring tables' inputs (Bernhard et al. 2021): the luring cells, the white-box cells on
the undefended M and the defense sidecars (`load_inputs`), and the helpers every table
shares (ε grouping, stored rates, NaN for absent values).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from decoybench import defense_registry
from decoybench.io import read_json
from decoybench.metrics import Rate
from decoybench.tables.paper import rate_columns

__all__ = [
    "LURING",
    "TARGET",
    "Inputs",
    "LuringCell",
    "as_rate",
    "epsilon_key",
    "epsilon_order",
    "is_luring_defense",
    "is_paper_cell",
    "load_inputs",
    "none_to_nan",
    "stored_rate_columns",
]

TARGET = "target"  # the model M alone (Table 8's BASE, Table 9's TARGET)
LURING = "luring"

Cell = dict[str, Any]


def is_luring_defense(name: str) -> bool:
    """Whether config name `name` is of the luring type (decoybench.defense_registry):
    `luring`, `luring_<x>` or `luring-<x>`."""
    entry = defense_registry.type_of(name)
    return entry is not None and entry.name == LURING


def epsilon_key(epsilon: float | None) -> float | None:
    """ε rounded so that the same configured budget groups across cells."""
    return None if epsilon is None else round(float(epsilon), 9)


def epsilon_order(epsilon: float | None) -> tuple[bool, float]:
    return epsilon is None, 0.0 if epsilon is None else epsilon


# --- rates -------------------------------------------------------------------------------


def as_rate(rate: Mapping[str, Any] | Rate | None) -> Rate | None:
    """A cell's stored rate dict (Rate.as_dict) back as a Rate (its interval recomputed)."""
    if rate is None or isinstance(rate, Rate):
        return rate
    return Rate(count=int(rate["count"]), total=int(rate["total"]))


def stored_rate_columns(prefix: str, rate: Mapping[str, Any] | Rate | None) -> dict[str, Any]:
    """CSV columns of one rate (`rate_columns`); a stored one's interval is recomputed."""
    return rate_columns(prefix, as_rate(rate))


def none_to_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


# --- cells -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LuringCell:
    """One cell of a luring defense: X' crafted on M∘P (`metrics["luring"]`), scored on M."""

    setting: str
    defense: str
    approach: str
    attack: str  # registry name
    label: str  # config label
    epsilon: float | None
    norm: str | None
    metrics: Cell = field(repr=False)
    kind: str = "transfer"  # transfer (crafted on T, or T and a substitute) or decision (M)

    @property
    def luring(self) -> dict[str, Any]:
        return self.metrics["luring"]

    def rate(self, name: str) -> Rate | None:
        return as_rate(self.luring.get("rates", {}).get(name))

    def per_sample(self) -> dict[str, np.ndarray]:
        samples = self.luring.get("per_sample")
        if not samples:
            raise ValueError(f"luring cell {self.defense}/{self.label} has no per_sample entry")
        return {
            key: np.asarray(samples[key], dtype=bool if key == "selected" else np.int64)
            for key in ("index", "selected", "label", "augmented_adversarial", "target_adversarial")
        }

    def n_fooled_public(self) -> int:
        """|{x ∈ X' : M∘P(x') ≠ y}|: the x' the `distortion_on_public` means are over."""
        if self.luring.get("per_sample"):
            samples = self.per_sample()
            return int(
                (samples["selected"] & (samples["augmented_adversarial"] != samples["label"])).sum()
            )
        dr = self.rate("dr")
        return 0 if dr is None else dr.total


@dataclass
class Inputs:
    """The loaded inputs: luring cells, white-box cells on the undefended M, sidecars."""

    luring: list[LuringCell]
    whitebox: list[Cell]
    sidecars: dict[str, dict[str, Any]]  # defense name -> defense.json, in given order
    # Every luring cell, the paper's and the issue-16 ones (`is_paper_cell`).
    threat: list[LuringCell] = field(default_factory=list)


def is_paper_cell(cell: LuringCell) -> bool:
    """Whether a luring cell is of the paper's evaluation: crafted on T alone (not on an
    ensemble with a substitute, not in a decision setting) by an attack of no raised
    confidence (C&W κ > 0 is the κ sweep beyond the paper's attacks)."""
    config = cell.metrics["cell"].get("attack_config") or {}
    return (
        cell.kind == "transfer"
        and not cell.metrics["cell"].get("ensemble_with_public")
        and not config.get("confidence")
    )


def load_inputs(cells: Iterable[str | Path], defenses: Mapping[str, str | Path]) -> Inputs:
    """Read the sidecars and the cells: keep a luring defense's transfer and decision cells
    that have a `luring` entry and a sidecar in `defenses` (all in `threat`, the paper's in
    `luring`: `is_paper_cell`), and the white-box cells on the undefended M; ignore every
    other cell. A cell whose approach differs from its sidecar's is an error."""
    sidecars = {name: read_json(path) for name, path in defenses.items()}
    luring: list[LuringCell] = []
    threat: list[LuringCell] = []
    whitebox: list[Cell] = []
    for path in [cells] if isinstance(cells, (str, Path)) else cells:
        metrics = read_json(path)
        identity, attack = metrics["cell"], metrics.get("attack", {})
        defense = str(identity["defense"])
        if defense == "undefended" and identity.get("kind") == "whitebox":
            whitebox.append(metrics)
            continue
        if (
            not is_luring_defense(defense)
            or identity.get("kind") not in ("transfer", "decision")
            or "luring" not in metrics
            or defense not in sidecars
        ):
            continue
        approach = metrics["luring"].get("approach") or sidecars[defense].get("approach")
        declared = sidecars[defense].get("approach")
        if declared is not None and approach != declared:
            raise ValueError(
                f"{path}: cell approach {approach!r} differs from {defense}'s sidecar "
                f"approach {declared!r}"
            )
        epsilon = attack.get("epsilon")
        cell = LuringCell(
            setting=str(identity.get("setting", "")),
            defense=defense,
            approach=str(approach),
            attack=str(attack.get("name", "")),
            label=str(identity["attack"]),
            epsilon=None if epsilon is None else float(epsilon),
            norm=attack.get("norm"),
            metrics=metrics,
            kind=str(identity["kind"]),
        )
        threat.append(cell)
        if is_paper_cell(cell):
            luring.append(cell)
    return Inputs(luring=luring, whitebox=whitebox, sidecars=sidecars, threat=threat)
