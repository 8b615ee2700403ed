"""Every multitask table: built from the cells and the sidecar, written as CSV and
Markdown (`decoybench.tables.paper`), and the headline numbers tracked in MLflow."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from decoybench.papers.multitask.paper_numbers import FIGURES_WITHOUT_NUMBERS
from decoybench.papers.multitask.tables.attacks import (
    COUNT_NAMES,
    GREYBOX_RATES,
    SWEEP_RATES,
    blackbox_table,
    cw_sweep_table,
    greybox_table,
    near_whitebox_table,
)
from decoybench.papers.multitask.tables.benign import benign_table, classmap_table
from decoybench.papers.multitask.tables.claims import claims_table
from decoybench.papers.multitask.tables.inputs import load_inputs, paper_percent
from decoybench.papers.multitask.workflow import TABLES
from decoybench.tables.paper import (
    MarkdownFormat,
    integer_counts,
    is_nan,
    markdown_table,
    requested_outputs,
    write_tables,
)
from decoybench.verdicts import verdict_metrics

__all__ = [
    "MULTITASK_TABLES",
    "build_multitask_tables",
    "headline_metrics",
    "markdown",
    "write_multitask_tables",
]

MULTITASK_TABLES: tuple[str, ...] = TABLES

CAPTIONS = {
    "multitask_blackbox": "Multi-task paper (Wang et al. 2019), Table III: accuracy of the bare "
    "(original) and the defended oracle (label through Z*) on examples crafted on the "
    "substitute, against the true labels and against each model's benign predictions.",
    "multitask_greybox": "Multi-task paper, Table IV: detection rate (over the examples that "
    "fool Z*, and over all attacked images), recall, precision and benign mis-detection on "
    "examples crafted on the defended network without Z′.",
    "multitask_cw_sweep": "Multi-task paper, Figures 3-5 (data): C&W L2 over κ, black-box "
    "transfer success on the original and the defended oracle (Fig. 3), black-box (Fig. 4) "
    f"and grey-box (Fig. 5) detection precision and recall; {FIGURES_WITHOUT_NUMBERS}.",
    "multitask_near_whitebox": "Multi-task paper, Table V: successful generation rate of the "
    "combined-loss C&W (Eq. 11) per κ on the bare oracle (Original: its attack success rate) "
    "and on the defended model (Defended: fooled and not detected); MNIST only in the paper.",
    "multitask_benign": "Multi-task paper, Table VI and Sec. IV-E: benign test accuracy of the "
    "oracle and of the defended model, and the benign mis-detection rate.",
    "multitask_classmap": "Multi-task paper, Sec. III-B (Eq. 6, 8): the training Classmap, per "
    "class the paired label, the oracle's labels on its FGSM examples and p_i.",
    "multitask_claims": "Multi-task paper, qualitative claims (Sec. IV-B to IV-E) checked "
    "against explicit thresholds, with whether the paper's own numbers meet them.",
}


def build_multitask_tables(
    *,
    cells: Iterable[str | Path | Mapping[str, Any]] | str | Path,
    defense: str,
    defense_json: str | Path | Mapping[str, Any] | None,
    paper_dataset: str | None,
) -> dict[str, pd.DataFrame]:
    """Every multitask table as its CSV frame, keyed by the names of `MULTITASK_TABLES`.

    `cells`: cell metrics JSONs (paths or loaded dicts; all of them: only `defense`'s
    transfer, greybox and near_whitebox cells and the white-box cells on `undefended` are
    read). `defense_json`: the defense's sidecar (path or dict). `paper_dataset`: the data
    set whose paper numbers are printed beside ours (mnist5k, mnist → MNIST; cifar10;
    anything else prints none). ValueError when no cell belongs to `defense`.
    """
    inputs = load_inputs(cells, defense, defense_json)
    near_whitebox = near_whitebox_table(inputs, paper_dataset)
    frames = {
        "multitask_blackbox": blackbox_table(inputs, paper_dataset),
        "multitask_greybox": greybox_table(inputs, paper_dataset),
        "multitask_cw_sweep": cw_sweep_table(inputs),
        "multitask_near_whitebox": near_whitebox,
        "multitask_benign": benign_table(inputs, paper_dataset),
        "multitask_classmap": classmap_table(inputs),
        "multitask_claims": claims_table(inputs, near_whitebox, paper_dataset),
    }
    return {
        name: integer_counts(frame, INTEGER_COLUMNS, pattern=r"count_\d+")
        for name, frame in frames.items()
    }


# Counts besides the rates' `_count` / `_total` and the Classmap's `count_<j>`: nullable
# integers in CSV (`integer_counts`).
INTEGER_COLUMNS: tuple[str, ...] = (*COUNT_NAMES, "class", "paired_label")
# Markdown: which columns are rates (shown with format_rate), percents (as the paper prints
# them, `paper_percent`) and plain decimals; the Classmap's p_<j> to 3 decimals.
_MARKDOWN_FORMATS: dict[str, MarkdownFormat] = {
    "multitask_blackbox": MarkdownFormat(
        rates=(
            "accuracy_original",
            "accuracy_defended",
            "accuracy_original_vs_benign",
            "accuracy_defended_vs_benign",
            "source_asr",
        ),
        percents=("paper_original", "paper_defended"),
        decimals=("epsilon", "kappa"),
    ),
    "multitask_greybox": MarkdownFormat(
        rates=GREYBOX_RATES, percents=("paper_detection_rate",), decimals=("epsilon", "kappa")
    ),
    "multitask_cw_sweep": MarkdownFormat(rates=tuple(SWEEP_RATES), decimals=("kappa",)),
    "multitask_near_whitebox": MarkdownFormat(
        rates=("original_generation_rate", "defended_generation_rate"),
        percents=("paper_original", "paper_defended"),
        decimals=("kappa",),
    ),
    "multitask_benign": MarkdownFormat(rates=("rate",), percents=("paper",)),
    "multitask_classmap": MarkdownFormat(
        decimals=("fgsm_epsilon", "fgsm_success"), patterns=((r"p_\d+", ".3f"),)
    ),
    "multitask_claims": MarkdownFormat(
        decimals=("measured", "measured_low", "measured_high", "threshold")
    ),
}


def markdown(name: str, frame: pd.DataFrame) -> str:
    """Markdown of one table (`markdown_table`): its caption line, then the rows with each
    rate formatted by `format_rate` (value, interval, counts), paper rates as percents as
    the paper prints them, ε, κ, p_i and claim numbers as decimals, absent values as "—"."""
    return markdown_table(
        frame,
        CAPTIONS.get(name, name),
        _MARKDOWN_FORMATS.get(name, MarkdownFormat()),
        percent=paper_percent,
    )


def write_multitask_tables(
    *,
    cells: Iterable[str | Path | Mapping[str, Any]] | str | Path,
    defense: str,
    defense_json: str | Path | Mapping[str, Any] | None,
    paper_dataset: str | None,
    outputs: Mapping[str, str | Path],
) -> dict[str, pd.DataFrame]:
    """Build the multitask tables (`build_multitask_tables`) and write each requested one as
    CSV and/or Markdown, atomically (`decoybench.io.write_text`): `outputs` maps
    "{table}_csv" / "{table}_md" to a path, {table} one of `MULTITASK_TABLES`. Returns every
    table's CSV frame by name."""
    requested = requested_outputs(outputs, MULTITASK_TABLES, "multitask")
    frames = build_multitask_tables(
        cells=cells, defense=defense, defense_json=defense_json, paper_dataset=paper_dataset
    )
    write_tables(frames, requested, markdown)
    return frames


def headline_metrics(frames: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    """A few numbers worth tracking (MLflow): each table's row count, the benign measures
    (`benign.{measure}`) and each claim's verdict (`decoybench.verdicts.verdict_metrics`)."""
    metrics: dict[str, float] = {
        f"rows.{name}": float(len(frame)) for name, frame in frames.items()
    }
    benign = frames.get("multitask_benign")
    if benign is not None:
        for measure, value in zip(benign["measure"], benign["rate"], strict=True):
            if not is_nan(value):
                metrics[f"benign.{measure}"] = float(value)
    claims = frames.get("multitask_claims")
    if claims is not None:
        metrics.update(verdict_metrics(claims["key"], claims["verdict"]))
    return metrics
