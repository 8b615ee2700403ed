"""Assembling and writing the luring paper's tables (Bernhard et al. 2021): every table's CSV
frame (`build_luring_tables`), its Markdown (`markdown`), the files (`write_luring_tables`)
and the numbers tracked in MLflow (`headline_metrics`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from decoybench.papers.luring.tables.agreement import agreement_table
from decoybench.papers.luring.tables.characterization import characterization_table
from decoybench.papers.luring.tables.claims import claims_table
from decoybench.papers.luring.tables.defense import defense_table
from decoybench.papers.luring.tables.distortion import distortion_table
from decoybench.papers.luring.tables.inputs import load_inputs
from decoybench.papers.luring.tables.logits import logits_table
from decoybench.papers.luring.tables.threat import threat_table
from decoybench.papers.luring.workflow import TABLES
from decoybench.tables.paper import (
    MarkdownFormat,
    integer_counts,
    markdown_table,
    requested_outputs,
    write_tables,
)
from decoybench.verdicts import verdict_metrics

__all__ = [
    "CAPTIONS",
    "INTEGER_COLUMNS",
    "LURING_TABLES",
    "build_luring_tables",
    "headline_metrics",
    "markdown",
    "write_luring_tables",
]

LURING_TABLES: tuple[str, ...] = TABLES

CAPTIONS = {
    "luring_agreement": "Luring paper (Bernhard et al. 2021), Table 8: test accuracy and "
    "agreement (M∘P and M both right) of each augmented model with the target M.",
    "luring_characterization": "Luring paper, Figure 2 (data): DR and IAR (Eq. 3) over the "
    "common X' (examples every M∘P classifies right clean and every M∘P misclassifies "
    "adversarial); the paper prints no numbers for this figure.",
    "luring_defense": "Luring paper, Table 1 (SVHN, CIFAR10) / Table 14 (MNIST): AC_MoP, AC_M "
    "and DAC (Eq. 4) on X' crafted on M∘P; MIM-W is the worst of MIM, DIM, MIM-TI, DIM-TI.",
    "luring_distortion": "Luring paper, Table 9 and Figure 3 (left): mean l0, l2 and l∞ "
    "distortion of the successful examples, crafted on M∘P (or white-box on M for target).",
    "luring_logits": "Luring paper, Table 10: rate of examples with Ω_c (Eq. 5) higher for "
    "Luring than for the other approaches (all of them, then each one), per class c.",
    "luring_claims": "Luring paper, qualitative claims (Sec. 3.1, 3.3, 4.3, Appendix G) "
    "checked against explicit thresholds.",
    "luring_adaptive": "Luring paper's defense (issue 16): inside the threat model, transfers "
    "from T (MIM-W, C&W κ sweep, T + substitute ensemble); outside it, a decision-based "
    "attack on M's labels. Success = fools M undetected (1 − DAC); fooled M = 1 − AC_M.",
}


def build_luring_tables(
    *,
    cells: Iterable[str | Path],
    defenses: Mapping[str, str | Path],
    analysis: str | Path | None,
    paper_dataset: str | None,
) -> dict[str, pd.DataFrame]:
    """Every luring table as its CSV frame, keyed by the names of `LURING_TABLES`.

    `cells`: cell metrics JSONs (all of them; only luring-defense cells with a `luring` entry
    and a sidecar in `defenses`, and white-box cells on `undefended`, are read). `defenses`:
    luring defense name -> its `defense.json`, in the order rows are printed. `analysis`: the
    luring analysis npz (Table 10), or None. `paper_dataset`: the paper data set whose numbers
    are printed beside ours (mnist, svhn, cifar10; anything else prints none).
    """
    inputs = load_inputs(cells, defenses)
    agreement = agreement_table(inputs, paper_dataset)
    characterization = characterization_table(inputs)
    defense = defense_table(inputs, paper_dataset)
    frames = {
        "luring_agreement": agreement,
        "luring_characterization": characterization,
        "luring_defense": defense,
        "luring_distortion": distortion_table(inputs, paper_dataset),
        "luring_logits": logits_table(analysis, paper_dataset),
        "luring_claims": claims_table(agreement, characterization, defense),
        "luring_adaptive": threat_table(inputs),
    }
    return {name: integer_counts(frame, INTEGER_COLUMNS) for name, frame in frames.items()}


# Counts besides the rates' `_count` / `_total`: nullable integers in CSV (`integer_counts`).
INTEGER_COLUMNS: tuple[str, ...] = ("n", "n_common", "n_selected")
# Markdown: which columns are rates (shown with format_rate), percents and plain decimals.
_MARKDOWN_FORMATS: dict[str, MarkdownFormat] = {
    "luring_agreement": MarkdownFormat(
        rates=("test_accuracy", "agreement_both_correct", "agreement_same_label"),
        percents=("paper_test", "paper_agree"),
    ),
    "luring_characterization": MarkdownFormat(
        rates=("dr", "iar", "dr_own", "iar_own"), decimals=("epsilon",)
    ),
    "luring_defense": MarkdownFormat(
        rates=("ac_mop", "ac_m", "dac"),
        percents=("paper_ac_mop", "paper_ac_m", "paper_dac"),
        decimals=("epsilon",),
    ),
    "luring_distortion": MarkdownFormat(
        decimals=("epsilon", "mean_l0", "mean_l2", "mean_linf", "paper_mean_l2", "paper_mean_linf")
    ),
    "luring_logits": MarkdownFormat(rates=("rate",), percents=("paper_rate",)),
    "luring_claims": MarkdownFormat(
        decimals=("measured", "measured_low", "measured_high", "threshold")
    ),
    "luring_adaptive": MarkdownFormat(
        rates=("success", "fooled_m"), decimals=("confidence", "queries_per_sample")
    ),
}


def markdown(name: str, frame: pd.DataFrame) -> str:
    """Markdown of one table (`markdown_table`): its caption line, then the rows with each
    rate formatted by `format_rate` (value, interval, counts), paper rates as percents,
    distortions and ε as decimals, absent values as "—"."""
    return markdown_table(
        frame, CAPTIONS.get(name, name), _MARKDOWN_FORMATS.get(name, MarkdownFormat())
    )


def write_luring_tables(
    *,
    cells: Iterable[str | Path],
    defenses: Mapping[str, str | Path],
    analysis: str | Path | None,
    paper_dataset: str | None,
    outputs: Mapping[str, str | Path],
) -> dict[str, pd.DataFrame]:
    """Build the luring tables (`build_luring_tables`) and write each requested one as CSV
    and/or Markdown, atomically (`decoybench.io.write_text`): `outputs` maps
    "{table}_csv" / "{table}_md" to a path, {table} one of `LURING_TABLES`. Returns every
    table's CSV frame by name."""
    requested = requested_outputs(outputs, LURING_TABLES, "luring")
    frames = build_luring_tables(
        cells=cells, defenses=defenses, analysis=analysis, paper_dataset=paper_dataset
    )
    write_tables(frames, requested, markdown)
    return frames


def headline_metrics(frames: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    """A few numbers worth tracking (MLflow): each table's row count and each claim's verdict
    (`decoybench.verdicts.verdict_metrics`)."""
    metrics: dict[str, float] = {
        f"rows.{name}": float(len(frame)) for name, frame in frames.items()
    }
    claims = frames.get("luring_claims")
    if claims is not None:
        metrics.update(verdict_metrics(claims["key"], claims["verdict"]))
    return metrics
