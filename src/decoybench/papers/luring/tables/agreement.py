"""Luring paper Table 8 (Bernhard et al. 2021): test accuracy and agreement of each M∘P with M."""

from __future__ import annotations

from typing import Any

import pandas as pd

from decoybench.papers.luring.paper_numbers import paper_agreement
from decoybench.papers.luring.tables.inputs import (
    TARGET,
    Inputs,
    none_to_nan,
    stored_rate_columns,
)
from decoybench.tables.paper import column_names

__all__ = ["AGREEMENT_COLUMNS", "agreement_table"]


def agreement_table(inputs: Inputs, paper_dataset: str | None) -> pd.DataFrame:
    """Table 8: M's test accuracy ("target" row, from the sidecars' `test_accuracy_target`),
    then each luring defense's M∘P test accuracy, both-correct agreement (the paper's AGREE:
    M∘P and M both give the ground-truth label) and same-label agreement, beside the paper's
    TEST and AGREE (`luring_paper_numbers.LURING_TABLE_8`)."""
    rows: list[dict[str, Any]] = []
    targets = {
        name: sidecar["table8"]["test_accuracy_target"]
        for name, sidecar in inputs.sidecars.items()
        if "table8" in sidecar
    }
    if targets:
        first = next(iter(targets.values()))
        differing = [
            name
            for name, rate in targets.items()
            if (rate["count"], rate["total"]) != (first["count"], first["total"])
        ]
        test, agree = paper_agreement(paper_dataset, TARGET)
        rows.append(
            {
                "defense": TARGET,
                "approach": TARGET,
                "target_name": next(
                    (s.get("target_name") for s in inputs.sidecars.values() if "table8" in s), None
                ),
                **stored_rate_columns("test_accuracy", first),
                **stored_rate_columns("agreement_both_correct", None),
                **stored_rate_columns("agreement_same_label", None),
                "paper_test": none_to_nan(test),
                "paper_agree": none_to_nan(agree),
                "note": (
                    f"M's test accuracy differs across sidecars: {', '.join(differing)}"
                    if differing
                    else ""
                ),
            }
        )
    for name, sidecar in inputs.sidecars.items():
        table8 = sidecar.get("table8", {})
        approach = str(sidecar.get("approach", ""))
        test, agree = paper_agreement(paper_dataset, approach)
        rows.append(
            {
                "defense": name,
                "approach": approach,
                "target_name": sidecar.get("target_name"),
                **stored_rate_columns("test_accuracy", table8.get("test_accuracy_augmented")),
                **stored_rate_columns(
                    "agreement_both_correct", table8.get("agreement_both_correct")
                ),
                **stored_rate_columns("agreement_same_label", table8.get("agreement_same_label")),
                "paper_test": none_to_nan(test),
                "paper_agree": none_to_nan(agree),
                "note": "" if table8 else "no table8 in the sidecar",
            }
        )
    return pd.DataFrame(rows, columns=column_names(AGREEMENT_COLUMNS))


AGREEMENT_COLUMNS: tuple[str, ...] = (
    "defense",
    "approach",
    "target_name",
    "test_accuracy*",
    "agreement_both_correct*",
    "agreement_same_label*",
    "paper_test",
    "paper_agree",
    "note",
)
