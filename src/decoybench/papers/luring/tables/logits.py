"""Luring paper Table 10 (Bernhard et al. 2021): the rate of examples with Ω_c (Eq. 5) higher
for Luring than for the other approaches, per class, from the luring analysis npz.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from decoybench.io import read_npz
from decoybench.papers.luring.paper_numbers import paper_dataset_name, paper_logits
from decoybench.papers.luring.tables.inputs import LURING, none_to_nan, stored_rate_columns
from decoybench.tables.paper import column_names

__all__ = ["LOGITS_COLUMNS", "NO_MNIST_ROW", "logits_table"]

LOGITS_COLUMNS: tuple[str, ...] = (
    "class",
    "luring_defense",
    "compared_with",
    "compared_approaches",
    "rate*",
    "paper_rate",
    "note",
)
NO_MNIST_ROW = "the paper's Table 10 has SVHN and CIFAR10 rows only (none for MNIST)"


def logits_table(analysis: str | Path | None, paper_dataset: str | None) -> pd.DataFrame:
    """Table 10 from the analysis npz (`omega__{defense}`: Ω_c per example and class, Eq. 5):
    per class c, `luring_dominance_rates` of the Luring defense (the one whose approach is
    "luring") against all the other analysed defenses at once ("all", the paper's rate, printed
    beside it), then against each one alone. The paper's column k is class index k − 1.
    No analysis file gives an empty table."""
    if analysis is None:
        return pd.DataFrame(columns=column_names(LOGITS_COLUMNS))
    from decoybench.papers.luring.logits_analysis import luring_dominance_rates  # imports torch

    arrays = read_npz(analysis)
    defenses = [str(name) for name in arrays["defenses"]]
    approaches = [str(approach) for approach in arrays["approaches"]]
    luring = [
        name for name, approach in zip(defenses, approaches, strict=True) if approach == LURING
    ]
    if len(luring) != 1:
        listed = ", ".join(f"{n} ({a})" for n, a in zip(defenses, approaches, strict=True))
        raise ValueError(
            f"{analysis}: expected exactly one defense with approach 'luring', got "
            f"{len(luring)} among {listed or 'no defenses'}"
        )
    (luring_name,) = luring
    others = {
        name: approach
        for name, approach in zip(defenses, approaches, strict=True)
        if name != luring_name
    }
    omega = {name: arrays[f"omega__{name}"] for name in defenses}
    paper = paper_logits(paper_dataset)
    note = NO_MNIST_ROW if paper_dataset_name(paper_dataset) == "mnist" else ""
    if paper is None and not note:
        note = f"no paper row for {paper_dataset!r}"
    if not others:
        return pd.DataFrame(
            [{"luring_defense": luring_name, "note": "no other approach analysed"}],
            columns=column_names(LOGITS_COLUMNS),
        )
    comparisons = [("all", dict(others))] + [(name, {name: others[name]}) for name in others]
    rows: list[dict[str, Any]] = []
    for compared_with, group in comparisons:
        rates = luring_dominance_rates(omega[luring_name], {name: omega[name] for name in group})
        for index, rate in enumerate(rates):
            paper_rate = (
                paper[index]
                if paper is not None and compared_with == "all" and index < len(paper)
                else None
            )
            rows.append(
                {
                    "class": index,
                    "luring_defense": luring_name,
                    "compared_with": compared_with,
                    "compared_approaches": ";".join(group.values()),
                    **stored_rate_columns("rate", rate),
                    "paper_rate": none_to_nan(paper_rate),
                    "note": note,
                }
            )
    return pd.DataFrame(rows, columns=column_names(LOGITS_COLUMNS))
