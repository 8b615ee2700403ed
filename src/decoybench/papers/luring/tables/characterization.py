"""Luring paper Figure 2's data (Bernhard et al. 2021): DR and IAR (Eq. 3) over the X' that
fool every M∘P (Sec. 3.2), beside each cell's own rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from decoybench.metrics import disagreement_rate, inefficient_adversarial_rate
from decoybench.papers.luring.tables.inputs import (
    Inputs,
    LuringCell,
    epsilon_key,
    epsilon_order,
    none_to_nan,
    stored_rate_columns,
)
from decoybench.tables.paper import column_names

__all__ = ["CHARACTERIZATION_ATTACKS", "CHARACTERIZATION_COLUMNS", "characterization_table"]

# Figure 2's attacks (Sec. 3.2): FGSM, PGD, MIM and MIML2, by registry name.
CHARACTERIZATION_ATTACKS: tuple[str, ...] = ("fgsm", "linf_pgd", "mim", "mim_l2")

CHARACTERIZATION_COLUMNS: tuple[str, ...] = (
    "setting",
    "attack",
    "attack_label",
    "norm",
    "epsilon",
    "defense",
    "approach",
    "n_common",
    "dr*",
    "iar*",
    "dr_own*",
    "iar_own*",
)


def _common_adversarial_set(
    cells: Sequence[LuringCell],
) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    """The common X' of Sec. 3.2 and each cell's per-sample predictions on it.

    Common X' = test indices that every cell `selected` (M and that M∘P right on the clean
    image) and on which every cell's M∘P is fooled (M∘P(x') ≠ y), in ascending index order.
    Returns (indices, per cell {label, augmented_adversarial, target_adversarial} on them).
    """
    tables = []
    for cell in cells:
        samples = cell.per_sample()
        keep = samples["selected"] & (samples["augmented_adversarial"] != samples["label"])
        tables.append((samples, keep))
    common: set[int] | None = None
    for samples, keep in tables:
        fooled = {int(index) for index in samples["index"][keep]}
        common = fooled if common is None else common & fooled
    indices = np.array(sorted(common or ()), dtype=np.int64)
    subsets = []
    reference: np.ndarray | None = None
    for cell, (samples, _) in zip(cells, tables, strict=True):
        position = {int(index): k for k, index in enumerate(samples["index"])}
        rows = np.array([position[int(index)] for index in indices], dtype=np.int64)
        subset = {
            key: samples[key][rows]
            for key in ("label", "augmented_adversarial", "target_adversarial")
        }
        if reference is not None and not np.array_equal(reference, subset["label"]):
            raise ValueError(
                f"labels of the common X' differ between defenses ({cell.defense}, {cell.label})"
            )
        reference = subset["label"]
        subsets.append(subset)
    return indices, subsets


def characterization_table(inputs: Inputs) -> pd.DataFrame:
    """Figure 2's data: per (attack ∈ FGSM, PGD, MIM, MIML2; ε) run on every luring defense,
    DR and IAR (Eq. 3, `disagreement_rate`, `inefficient_adversarial_rate`) of each defense
    over the common X' (`_common_adversarial_set`), beside the cell's own DR and IAR over its
    whole X' (`dr_own`, `iar_own`, from `luring.rates`). Cells are matched across defenses by
    (setting, registry name, config label, ε); a group lacking a defense is left out.

    mim_l2's ε is its own l2 bound as configured (the paper indexes MIML2 by the l∞ clip).
    """
    names = list(inputs.sidecars)
    groups: dict[tuple[str, str, str, float | None], dict[str, LuringCell]] = {}
    for cell in inputs.luring:
        if cell.attack in CHARACTERIZATION_ATTACKS:
            key = (cell.setting, cell.attack, cell.label, epsilon_key(cell.epsilon))
            groups.setdefault(key, {})[cell.defense] = cell
    rows: list[dict[str, Any]] = []
    for key in sorted(
        groups,
        key=lambda k: (k[0], CHARACTERIZATION_ATTACKS.index(k[1]), epsilon_order(k[3]), k[2]),
    ):
        by_defense = groups[key]
        if not names or any(name not in by_defense for name in names):
            continue
        cells = [by_defense[name] for name in names]
        indices, subsets = _common_adversarial_set(cells)
        for cell, subset in zip(cells, subsets, strict=True):
            arrays = (
                subset["label"],
                subset["augmented_adversarial"],
                subset["target_adversarial"],
            )
            rows.append(
                {
                    "setting": cell.setting,
                    "attack": cell.attack,
                    "attack_label": cell.label,
                    "norm": cell.norm,
                    "epsilon": none_to_nan(cell.epsilon),
                    "defense": cell.defense,
                    "approach": cell.approach,
                    "n_common": len(indices),
                    **stored_rate_columns("dr", disagreement_rate(*arrays)),
                    **stored_rate_columns("iar", inefficient_adversarial_rate(*arrays)),
                    **stored_rate_columns("dr_own", cell.rate("dr")),
                    **stored_rate_columns("iar_own", cell.rate("iar")),
                }
            )
    return pd.DataFrame(rows, columns=column_names(CHARACTERIZATION_COLUMNS))
