"""The luring defense against issue 16's attacks, inside and outside the paper's threat
model (Bernhard et al. 2021, Sec. 4.1: the attacker queries T = M∘P, M stays hidden).

Inside: the strongest transfers from T an attacker knowing the luring loss can build,
MIM-W (MIM, DIM, MIM-TI, DIM-TI), C&W L2 at each confidence κ, and any attack crafted on
the logit mean of T and an independent substitute (`ensemble_with_public`). Outside: a
decision-based attack on M's labels (a `decision` setting, e.g. HopSkipJump), which the
paper itself says defeats the defense ("M has to stay hidden, otherwise the adversary
could use a decision-based attack", Sec. 5).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from decoybench.metrics import Rate
from decoybench.papers.luring.tables.inputs import Inputs, LuringCell, none_to_nan
from decoybench.tables.paper import column_names, rate_columns

__all__ = ["THREAT_ATTACKS", "THREAT_COLUMNS", "threat_table"]

INSIDE = "inside: transfer from T"
OUTSIDE = "outside: M's labels queried"
# Registry attacks of the inside rows crafted on T alone (an ensemble cell always counts).
THREAT_ATTACKS: tuple[str, ...] = ("mim", "dim", "mim_ti", "dim_ti", "cw2")
THREAT_COLUMNS: tuple[str, ...] = (
    "defense",
    "approach",
    "threat",
    "setting",
    "crafted_on",
    "attack",
    "attack_name",
    "confidence",
    "n",
    "success*",
    "fooled_m*",
    "queries_per_sample",
    "worst_in_threat",
)


def _flipped(rate: Rate | None) -> Rate | None:
    """1 − rate, as a Rate over the same total (AC_M → M fooled; DAC → undetected success)."""
    return None if rate is None else Rate(count=rate.total - rate.count, total=rate.total)


def _threat(cell: LuringCell) -> str | None:
    """The cell's threat label, or None for a cell this table leaves out."""
    if cell.kind == "decision":
        return OUTSIDE
    if cell.metrics["cell"].get("ensemble_with_public") or cell.attack in THREAT_ATTACKS:
        return INSIDE
    return None


def _row(cell: LuringCell, threat: str) -> dict[str, Any]:
    config = cell.metrics["cell"].get("attack_config") or {}
    success = _flipped(cell.rate("dac"))
    return {
        "defense": cell.defense,
        "approach": cell.approach,
        "threat": threat,
        "setting": cell.setting,
        "crafted_on": cell.metrics.get("source_model"),
        "attack": cell.label,
        "attack_name": cell.attack,
        "confidence": none_to_nan(config.get("confidence")),
        "n": cell.luring.get("n_selected"),
        **rate_columns("success", success),
        **rate_columns("fooled_m", _flipped(cell.rate("ac_m"))),
        "queries_per_sample": none_to_nan(cell.metrics.get("queries_per_sample")),
        "worst_in_threat": False,
    }


def threat_table(inputs: Inputs) -> pd.DataFrame:
    """Per luring cell of the inside or outside rows (module docstring): the attacker's
    success in the detection scenario (x' fools M and M∘P agrees with M: 1 − DAC, Eq. 4) and
    M fooled alone (1 − AC_M, the transfer scenario), each with its 95% Wilson interval,
    over the cell's X'. `worst_in_threat` marks, per defense and threat, the row of the
    highest success (ties: the first in defense, threat, setting, attack order)."""
    order = {name: k for k, name in enumerate(inputs.sidecars)}
    rows = [_row(cell, threat) for cell in inputs.threat if (threat := _threat(cell)) is not None]
    frame = pd.DataFrame(rows, columns=column_names(THREAT_COLUMNS))
    if frame.empty:
        return frame
    frame["_rank"] = frame["defense"].map(order)
    frame["_threat"] = (frame["threat"] == OUTSIDE).astype(int)
    frame = frame.sort_values(["_rank", "_threat", "setting", "attack"], kind="stable")
    scored = frame.dropna(subset=["success"])
    best = scored.sort_values("success", ascending=False, kind="stable").groupby(
        ["defense", "threat"], sort=False
    )
    frame.loc[best.head(1).index, "worst_in_threat"] = True
    return frame.drop(columns=["_rank", "_threat"]).reset_index(drop=True)
