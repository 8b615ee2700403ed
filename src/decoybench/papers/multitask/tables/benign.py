"""The multitask benign tables: Table VI (benign accuracy, mis-detection; from the
sidecar's `table6`) and the training Classmap (Eq. 6, 8; the sidecar's `classmap`)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from decoybench.papers.multitask.paper_numbers import paper_benign, paper_misdetection
from decoybench.papers.multitask.tables.inputs import Inputs
from decoybench.tables.paper import as_float, column_names, is_nan, rate_columns

__all__ = ["BENIGN_MEASURES", "benign_table", "classmap_table"]

# --- Table VI ----------------------------------------------------------------------------

BENIGN_MEASURES: dict[str, str] = {
    "accuracy_oracle": "benign test accuracy of the bare oracle (Table VI, Oracle)",
    "accuracy_defended": "benign test accuracy of the defended model, label through Z*, "
    "every image",
    "accuracy_defended_undetected": "the same over the images the detector accepts (Table VI, "
    "Defended, as Sec. IV-E defines it)",
    "misdetection_rate": "benign test images flagged as adversarial (Sec. IV-E)",
    "auxiliary_pair_rate": "benign test images whose Z′ label is the Classmap pair of y",
}
BENIGN_COLUMNS: tuple[str, ...] = ("measure", "description", "rate*", "paper", "paper_source")


def benign_table(inputs: Inputs, paper_dataset: str | None) -> pd.DataFrame:
    """Table VI and Sec. IV-E: one row per measure of the sidecar's `table6` (rates over the
    test split): the oracle's and the defended model's accuracy (also over the accepted
    images, the paper's "Defended"), the mis-detection rate and the auxiliary pair rate;
    the paper's number beside its measure."""
    table6 = inputs.sidecar.get("table6") or {}
    oracle, defended = paper_benign(paper_dataset)
    paper = {
        "accuracy_oracle": (oracle, "Table VI, Oracle"),
        "accuracy_defended_undetected": (defended, "Table VI, Defended"),
        "misdetection_rate": (paper_misdetection(paper_dataset), "Sec. IV-E"),
    }
    rows = []
    for measure, description in BENIGN_MEASURES.items():
        value, source = paper.get(measure, (None, None))
        rows.append(
            {
                "measure": measure,
                "description": description,
                **rate_columns("rate", table6.get(measure)),
                "paper": as_float(value),
                "paper_source": source if value is not None else None,
            }
        )
    return pd.DataFrame(rows, columns=column_names(BENIGN_COLUMNS))


# --- Classmap ----------------------------------------------------------------------------


def classmap_table(inputs: Inputs) -> pd.DataFrame:
    """The training Classmap (Sec. III-B): per class i, its paired label pairs[i] (Eq. 8), n
    (its FGSM examples), how often the oracle gave each label j to them (`count_j`) and
    p_i (Eq. 6, `p_j`), with the Classmap's pairing rule, FGSM ε and FGSM success rate on the
    oracle. Empty without a Classmap in the sidecar."""
    classmap = inputs.sidecar.get("classmap") or {}
    pairs, counts = classmap.get("pairs") or [], classmap.get("counts") or []
    confidence = classmap.get("confidence") or []
    classes = len(pairs)
    columns = ["class", "paired_label", "n"]
    columns += [f"count_{j}" for j in range(classes)] + [f"p_{j}" for j in range(classes)]
    columns += ["pairing", "fgsm_epsilon", "fgsm_success"]
    rows = []
    for label, paired in enumerate(pairs):
        counted = counts[label] if label < len(counts) else [math.nan] * classes
        row: dict[str, Any] = {
            "class": label,
            "paired_label": paired,
            "n": sum(counted) if counted and not any(is_nan(v) for v in counted) else None,
        }
        row.update({f"count_{j}": counted[j] for j in range(classes)})
        p = confidence[label] if label < len(confidence) else None
        row.update({f"p_{j}": math.nan if p is None else as_float(p[j]) for j in range(classes)})
        row.update(
            pairing=classmap.get("pairing"),
            fgsm_epsilon=as_float(inputs.sidecar.get("classmap_epsilon")),
            fgsm_success=as_float(inputs.sidecar.get("classmap_fgsm_success")),
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)
