"""Luring paper Table 9 and Figure 3 (left) (Bernhard et al. 2021): mean l0, l2 and l∞
distortion of the attacks on each M∘P and, white-box, on M.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from decoybench.papers.luring.paper_numbers import paper_distortion
from decoybench.papers.luring.tables.inputs import (
    TARGET,
    Inputs,
    as_rate,
    epsilon_key,
    none_to_nan,
)
from decoybench.tables.paper import column_names

__all__ = ["DISTORTION_COLUMNS", "distortion_table"]

DISTORTION_COLUMNS: tuple[str, ...] = (
    "setting",
    "model",
    "approach",
    "attack",
    "attack_label",
    "epsilon",
    "mean_l0",
    "mean_l2",
    "mean_linf",
    "n",
    "paper_mean_l2",
    "paper_mean_linf",
)


def distortion_table(inputs: Inputs, paper_dataset: str | None) -> pd.DataFrame:
    """Table 9 and Figure 3 (left): mean l0, l2, l∞ distortion per luring cell, of the x' that
    fool M∘P (`luring.distortion_on_public`, n = their count), and a "target" row per
    white-box cell on the undefended M with the same registry attack and ε (`distortion`,
    n = its successful count, target_asr's). cw2 rows carry Table 9's CWL2 means.

    The paper averages over 1,000 images correct for M and every M∘P (D.2); a cell stores only
    means over its own successful examples, so each row's mean is over its own n.
    """
    order = {name: k for k, name in enumerate(inputs.sidecars)}
    wanted = {(cell.attack, epsilon_key(cell.epsilon)) for cell in inputs.luring}
    rows: list[dict[str, Any]] = []
    for metrics in inputs.whitebox:
        attack = metrics.get("attack", {})
        name, epsilon = str(attack.get("name", "")), attack.get("epsilon")
        if (name, epsilon_key(epsilon)) not in wanted:
            continue
        successful = as_rate(metrics.get("rates", {}).get("target_asr"))
        rows.append(
            _distortion_row(
                setting=str(metrics["cell"].get("setting", "")),
                model=TARGET,
                approach=TARGET,
                attack=name,
                label=str(metrics["cell"]["attack"]),
                epsilon=epsilon,
                distortion=metrics.get("distortion", {}),
                n=None if successful is None else successful.count,
                paper_dataset=paper_dataset,
            )
        )
    for cell in inputs.luring:
        rows.append(
            _distortion_row(
                setting=cell.setting,
                model=cell.defense,
                approach=cell.approach,
                attack=cell.attack,
                label=cell.label,
                epsilon=cell.epsilon,
                distortion=cell.luring.get("distortion_on_public", {}),
                n=cell.n_fooled_public(),
                paper_dataset=paper_dataset,
            )
        )
    frame = pd.DataFrame(rows, columns=column_names(DISTORTION_COLUMNS))
    if frame.empty:
        return frame
    rank = frame["model"].map(lambda model: -1 if model == TARGET else order.get(model, len(order)))
    frame = frame.assign(_rank=rank, _eps=frame["epsilon"].fillna(math.inf))
    frame = frame.sort_values(["attack", "_eps", "attack_label", "_rank", "setting"], kind="stable")
    return frame.drop(columns=["_rank", "_eps"]).reset_index(drop=True)


def _distortion_row(
    *,
    setting: str,
    model: str,
    approach: str,
    attack: str,
    label: str,
    epsilon: float | None,
    distortion: Mapping[str, Any],
    n: int | None,
    paper_dataset: str | None,
) -> dict[str, Any]:
    paper_l2, paper_linf = (
        paper_distortion(paper_dataset, approach) if attack == "cw2" else (None, None)
    )
    return {
        "setting": setting,
        "model": model,
        "approach": approach,
        "attack": attack,
        "attack_label": label,
        "epsilon": none_to_nan(epsilon),
        **{key: none_to_nan(distortion.get(key)) for key in ("mean_l0", "mean_l2", "mean_linf")},
        "n": n,
        "paper_mean_l2": none_to_nan(paper_l2),
        "paper_mean_linf": none_to_nan(paper_linf),
    }
