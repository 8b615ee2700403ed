"""The luring paper's tables (Bernhard et al. 2021), built from cell metrics and sidecars.

Inputs: the cell metrics JSONs (`decoybench.cells.score.evaluate_adversarial_set`;
a luring cell also holds `luring`, `decoybench.papers.luring.cell`), the luring defense
sidecars (`defense.json`, with `table8`, `decoybench.papers.luring.build`) and, for Table 10,
the luring analysis npz (Ω_c of Eq. 5 per example, class and defense). Every rate is one of
`decoybench.metrics` (DR, IAR: Eq. 3; AC_MoP, AC_M: Table 1; DAC: Eq. 4; MIM-W:
`worst_case_attack`), never recomputed another way; the paper's numbers beside ours are in
`decoybench.papers.luring.paper_numbers`.

Tables (name: what it reproduces):

* ``luring_agreement``: Table 8, test accuracy and agreement of each M∘P with M;
* ``luring_characterization``: the data of Figure 2, DR and IAR over the X' that fool every
  M∘P (Sec. 3.2: "transfer to M only the adversarial examples that are successful for these
  four models");
* ``luring_defense``: Table 1 (SVHN, CIFAR10) / Table 14 (MNIST), AC_MoP, AC_M, DAC;
* ``luring_distortion``: Table 9 and Figure 3 (left), mean l0, l2, l∞ of the attack;
* ``luring_logits``: Table 10, the rate of examples with Ω_c(Luring) above the others';
* ``luring_claims``: the paper's qualitative claims against explicit thresholds.

`decoybench.tables.paper` writes them: the CSV with each rate's value, 95% interval,
count and total; the Markdown with `format_rate` under a one-line caption.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from decoybench import defense_registry
from decoybench.io import read_json, read_npz
from decoybench.metrics import (
    Rate,
    disagreement_rate,
    inefficient_adversarial_rate,
    worst_case_rates,
)
from decoybench.papers.luring.paper_numbers import (
    paper_agreement,
    paper_dataset_name,
    paper_defense,
    paper_distortion,
    paper_logits,
)
from decoybench.tables.paper import (
    MarkdownFormat,
    column_names,
    integer_counts,
    markdown_table,
    rate_columns,
    requested_outputs,
    write_tables,
)

__all__ = [
    "AGREEMENT_GAP",
    "CHARACTERIZATION_ATTACKS",
    "DEFENSE_ROW_ATTACKS",
    "LURING_TABLES",
    "build_luring_tables",
    "headline_metrics",
    "is_luring_defense",
    "middle_epsilon",
    "write_luring_tables",
]

LURING_TABLES: tuple[str, ...] = (
    "luring_agreement",
    "luring_characterization",
    "luring_defense",
    "luring_distortion",
    "luring_logits",
    "luring_claims",
)
# Figure 2's attacks (Sec. 3.2): FGSM, PGD, MIM and MIML2, by registry name.
CHARACTERIZATION_ATTACKS: tuple[str, ...] = ("fgsm", "linf_pgd", "mim", "mim_l2")
# Table 1 / Table 14 rows and the registry attacks behind each (Sec. 4.2); MIM-W is the worst
# case over its four, chosen per (defense, ε) by `worst_case_attack`.
DEFENSE_ROW_ATTACKS: dict[str, tuple[str, ...]] = {
    "SPSA": ("spsa",),
    "ECO": ("eco",),
    "MIM-W": ("mim", "dim", "mim_ti", "dim_ti"),
}
# Claim (1): "our approach has a limited impact" (Sec. 3.1): Luring's AGREE within this many
# points (as a fraction) of C.E's, the approach whose P also only mimics M.
AGREEMENT_GAP = 0.03
TARGET = "target"  # the model M alone (Table 8's BASE, Table 9's TARGET)
LURING = "luring"
OTHER_APPROACHES: tuple[str, ...] = ("stack", "auto", "cross_entropy")
APPROACH_LABELS = {"luring": "Luring", "stack": "Stack", "auto": "Auto", "cross_entropy": "C.E"}

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
}

Cell = dict[str, Any]


def is_luring_defense(name: str) -> bool:
    """Whether config name `name` is of the luring type (decoybench.defense_registry):
    `luring`, `luring_<x>` or `luring-<x>`."""
    entry = defense_registry.type_of(name)
    return entry is not None and entry.name == LURING


def middle_epsilon(epsilons: Iterable[float]) -> float:
    """The median of the ε values present; for an even count the lower of the two middle
    ones, so that the middle ε is always one that was run (ValueError when none is)."""
    values = sorted({float(value) for value in epsilons if value is not None})
    if not values:
        raise ValueError("no ε to take the middle of")
    return values[(len(values) - 1) // 2]


def _epsilon_key(epsilon: float | None) -> float | None:
    """ε rounded so that the same configured budget groups across cells."""
    return None if epsilon is None else round(float(epsilon), 9)


def _epsilon_order(epsilon: float | None) -> tuple[bool, float]:
    return epsilon is None, 0.0 if epsilon is None else epsilon


# --- rates -------------------------------------------------------------------------------


def _as_rate(rate: Mapping[str, Any] | Rate | None) -> Rate | None:
    """A cell's stored rate dict (Rate.as_dict) back as a Rate (its interval recomputed)."""
    if rate is None or isinstance(rate, Rate):
        return rate
    return Rate(count=int(rate["count"]), total=int(rate["total"]))


def _rate_columns(prefix: str, rate: Mapping[str, Any] | Rate | None) -> dict[str, Any]:
    """CSV columns of one rate (`rate_columns`); a stored one's interval is recomputed."""
    return rate_columns(prefix, _as_rate(rate))


def _none_to_nan(value: float | None) -> float:
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

    @property
    def luring(self) -> dict[str, Any]:
        return self.metrics["luring"]

    def rate(self, name: str) -> Rate | None:
        return _as_rate(self.luring.get("rates", {}).get(name))

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


def _load(cells: Iterable[str | Path], defenses: Mapping[str, str | Path]) -> Inputs:
    """Read the sidecars and the cells: keep a luring defense's transfer cells that have a
    `luring` entry and a sidecar in `defenses`, and the white-box cells on the undefended M;
    ignore every other cell. A cell whose approach differs from its sidecar's is an error."""
    sidecars = {name: read_json(path) for name, path in defenses.items()}
    luring: list[LuringCell] = []
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
            or identity.get("kind") != "transfer"
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
        luring.append(
            LuringCell(
                setting=str(identity.get("setting", "")),
                defense=defense,
                approach=str(approach),
                attack=str(attack.get("name", "")),
                label=str(identity["attack"]),
                epsilon=None if epsilon is None else float(epsilon),
                norm=attack.get("norm"),
                metrics=metrics,
            )
        )
    return Inputs(luring=luring, whitebox=whitebox, sidecars=sidecars)


# --- Table 8 -----------------------------------------------------------------------------


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
                **_rate_columns("test_accuracy", first),
                **_rate_columns("agreement_both_correct", None),
                **_rate_columns("agreement_same_label", None),
                "paper_test": _none_to_nan(test),
                "paper_agree": _none_to_nan(agree),
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
                **_rate_columns("test_accuracy", table8.get("test_accuracy_augmented")),
                **_rate_columns("agreement_both_correct", table8.get("agreement_both_correct")),
                **_rate_columns("agreement_same_label", table8.get("agreement_same_label")),
                "paper_test": _none_to_nan(test),
                "paper_agree": _none_to_nan(agree),
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


# --- Figure 2 ----------------------------------------------------------------------------

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
            key = (cell.setting, cell.attack, cell.label, _epsilon_key(cell.epsilon))
            groups.setdefault(key, {})[cell.defense] = cell
    rows: list[dict[str, Any]] = []
    for key in sorted(
        groups,
        key=lambda k: (k[0], CHARACTERIZATION_ATTACKS.index(k[1]), _epsilon_order(k[3]), k[2]),
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
                    "epsilon": _none_to_nan(cell.epsilon),
                    "defense": cell.defense,
                    "approach": cell.approach,
                    "n_common": len(indices),
                    **_rate_columns("dr", disagreement_rate(*arrays)),
                    **_rate_columns("iar", inefficient_adversarial_rate(*arrays)),
                    **_rate_columns("dr_own", cell.rate("dr")),
                    **_rate_columns("iar_own", cell.rate("iar")),
                }
            )
    return pd.DataFrame(rows, columns=column_names(CHARACTERIZATION_COLUMNS))


# --- Tables 1 / 14 -----------------------------------------------------------------------

DEFENSE_COLUMNS: tuple[str, ...] = (
    "setting",
    "row",
    "epsilon",
    "defense",
    "approach",
    "chosen_attack",
    "chosen_label",
    "candidates",
    "n_selected",
    "ac_mop*",
    "ac_m*",
    "dac*",
    "paper_ac_mop",
    "paper_ac_m",
    "paper_dac",
)


def defense_table(inputs: Inputs, paper_dataset: str | None) -> pd.DataFrame:
    """Tables 1 / 14: per (setting, row ∈ SPSA, ECO, MIM-W; ε; defense), AC_MoP, AC_M and DAC
    over the cell's X' (`luring.rates`), beside the paper's three numbers for that data set,
    approach and ε (NaN where the paper has none).

    Each row's attack is `worst_case_rates` over that row's cells at that (defense, ε): the
    lowest AC_M, then DAC, then label (Sec. 4.2 MIM-W; for SPSA and ECO this only matters
    when several configurations share an ε, Appendix F tuning "for the lowest AC_M and DAC").
    Cells with an empty X' cannot be ranked and are skipped; a row whose every cell is empty
    is kept with its first candidate's empty rates. Only rows that have cells are written.
    """
    order = {name: k for k, name in enumerate(inputs.sidecars)}
    groups: dict[tuple[str, str, str, float | None], dict[str, LuringCell]] = {}
    for cell in inputs.luring:
        for row, attacks in DEFENSE_ROW_ATTACKS.items():
            if cell.attack in attacks:
                key = (cell.setting, row, cell.defense, _epsilon_key(cell.epsilon))
                groups.setdefault(key, {})[cell.label] = cell
    rows: list[dict[str, Any]] = []
    rank = list(DEFENSE_ROW_ATTACKS)
    for key in sorted(
        groups, key=lambda k: (k[0], rank.index(k[1]), _epsilon_order(k[3]), order[k[2]])
    ):
        setting, row, defense, epsilon = key
        candidates = groups[key]
        ranked = {
            label: cell
            for label, cell in candidates.items()
            if (cell.rate("ac_m") or Rate(0, 0)).total > 0
            and (cell.rate("dac") or Rate(0, 0)).total > 0
        }
        if ranked:
            worst = worst_case_rates(
                {label: cell.rate("ac_m") for label, cell in ranked.items()},
                {label: cell.rate("dac") for label, cell in ranked.items()},
                {label: cell.rate("ac_mop") for label, cell in ranked.items()},
            )
            chosen = candidates[worst.attack]
            ac_mop, ac_m, dac = worst.ac_mop, worst.ac_m, worst.dac
        else:
            chosen = candidates[sorted(candidates)[0]]
            ac_mop, ac_m, dac = chosen.rate("ac_mop"), chosen.rate("ac_m"), chosen.rate("dac")
        paper = paper_defense(paper_dataset, row, epsilon, chosen.approach)
        rows.append(
            {
                "setting": setting,
                "row": row,
                "epsilon": _none_to_nan(epsilon),
                "defense": defense,
                "approach": chosen.approach,
                "chosen_attack": chosen.attack,
                "chosen_label": chosen.label,
                "candidates": ";".join(sorted(candidates)),
                "n_selected": chosen.luring.get("n_selected"),
                **_rate_columns("ac_mop", ac_mop),
                **_rate_columns("ac_m", ac_m),
                **_rate_columns("dac", dac),
                "paper_ac_mop": _none_to_nan(paper[0]),
                "paper_ac_m": _none_to_nan(paper[1]),
                "paper_dac": _none_to_nan(paper[2]),
            }
        )
    return pd.DataFrame(rows, columns=column_names(DEFENSE_COLUMNS))


# --- Table 9 / Figure 3 (left) -----------------------------------------------------------

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
    wanted = {(cell.attack, _epsilon_key(cell.epsilon)) for cell in inputs.luring}
    rows: list[dict[str, Any]] = []
    for metrics in inputs.whitebox:
        attack = metrics.get("attack", {})
        name, epsilon = str(attack.get("name", "")), attack.get("epsilon")
        if (name, _epsilon_key(epsilon)) not in wanted:
            continue
        successful = _as_rate(metrics.get("rates", {}).get("target_asr"))
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
        "epsilon": _none_to_nan(epsilon),
        **{key: _none_to_nan(distortion.get(key)) for key in ("mean_l0", "mean_l2", "mean_linf")},
        "n": n,
        "paper_mean_l2": _none_to_nan(paper_l2),
        "paper_mean_linf": _none_to_nan(paper_linf),
    }


# --- Table 10 ----------------------------------------------------------------------------

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
                    **_rate_columns("rate", rate),
                    "paper_rate": _none_to_nan(paper_rate),
                    "note": note,
                }
            )
    return pd.DataFrame(rows, columns=column_names(LOGITS_COLUMNS))


# --- claims ------------------------------------------------------------------------------

CLAIMS_COLUMNS: tuple[str, ...] = ("key", "claim", "measured", "threshold", "holds", "detail")


def _approach_groups(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(Luring rows, {other approach: its rows}) of a frame with an `approach` column."""
    return frame[frame["approach"] == LURING], {
        approach: frame[frame["approach"] == approach] for approach in OTHER_APPROACHES
    }


def _missing(others: Mapping[str, pd.DataFrame]) -> list[str]:
    return [APPROACH_LABELS[name] for name, rows in others.items() if rows.empty]


def _above_others(
    *,
    key: str,
    claim: str,
    luring: pd.Series,
    others: Mapping[str, pd.DataFrame],
    column: str,
    context: str,
) -> dict[str, Any] | None:
    """One "Luring's `column` is above every other approach's" row: measured = Luring's value
    minus the highest other value, threshold 0, holds when strictly positive. None when no
    other approach has a row (nothing to compare with)."""
    present = {name: rows for name, rows in others.items() if not rows.empty}
    if not present:
        return None
    values = {
        f"{APPROACH_LABELS[name]} ({defense})": float(value)
        for name, rows in present.items()
        for defense, value in zip(rows["defense"], rows[column], strict=True)
    }
    ours = float(luring[column])
    margin = ours - max(values.values()) if values else math.nan
    known = not math.isnan(margin)
    parts = [f"Luring ({luring['defense']}) {_percent(ours)}"]
    parts += [f"{name} {_percent(value)}" for name, value in values.items()]
    missing = _missing(others)
    if missing:
        parts.append(f"not compared (no data): {', '.join(missing)}")
    if not known:
        parts.append("a value is undefined (empty X')")
    return {
        "key": key,
        "claim": claim,
        "measured": margin,
        "threshold": 0.0,
        "holds": bool(known and margin > 0),
        "detail": f"{context}: " + "; ".join(parts),
    }


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"


MEASURE_TITLES = {"iar": "IAR", "dr": "DR", "dac": "DAC", "ac_m": "AC_M"}


def _at_middle_epsilon(
    frame: pd.DataFrame, by: tuple[str, str]
) -> Iterator[tuple[tuple[str, str], float, str | None, pd.DataFrame]]:
    """((setting, attack or row), middle ε, config label or None, rows at that ε) per group
    of `frame` by `by`; the middle ε is `middle_epsilon` of the group's ε values. Figure 2's
    frame has one set of rows per config label (`attack_label`) at an ε; each is yielded."""
    if frame.empty:
        return
    for key, group in frame.groupby(list(by), sort=False):
        epsilons = group["epsilon"].dropna()
        if epsilons.empty:
            continue
        epsilon = middle_epsilon(epsilons)
        at_middle = group[np.isclose(group["epsilon"], epsilon, rtol=0.0, atol=1e-9)]
        if "attack_label" in at_middle:
            for label, rows in at_middle.groupby("attack_label", sort=False):
                yield (str(key[0]), str(key[1])), epsilon, str(label), rows
        else:
            yield (str(key[0]), str(key[1])), epsilon, None, at_middle


def claims_table(
    agreement: pd.DataFrame, characterization: pd.DataFrame, defense: pd.DataFrame
) -> pd.DataFrame:
    """The paper's claims, each against an explicit threshold (the paper states none):

    1. Sec. 3.1 / Table 8: Luring's AGREE (both correct) within `AGREEMENT_GAP` of C.E's
       (measured: |difference|; holds when ≤ the threshold).
    2. Sec. 3.3 / Figure 2: at the middle ε (`middle_epsilon`) of each Figure 2 attack,
       Luring's IAR over the common X' above Stack's, Auto's and C.E's (measured: Luring's
       minus the highest other; holds when > 0); the same for DR.
    3. Sec. 4.3 / Tables 1, 14: at the middle ε of each row (SPSA, ECO, MIM-W), Luring's DAC
       above the others'; 4. the same for AC_M.

    A row is left out only when its inputs are absent (no Luring row, or no other approach
    to compare with); approaches missing from a comparison are named in `detail`.
    """
    rows: list[dict[str, Any]] = []
    luring_rows, others = _approach_groups(agreement)
    ce = others["cross_entropy"]
    for _, luring in luring_rows.iterrows():
        for _, other in ce.iterrows():
            ours, theirs = (
                float(luring["agreement_both_correct"]),
                float(other["agreement_both_correct"]),
            )
            gap = abs(ours - theirs)
            rows.append(
                {
                    "key": f"agreement.{luring['defense']}.{other['defense']}",
                    "claim": "Table 8: Luring's agreement (both correct) within "
                    f"{100 * AGREEMENT_GAP:g} points of C.E's",
                    "measured": gap,
                    "threshold": AGREEMENT_GAP,
                    "holds": bool(not math.isnan(gap) and gap <= AGREEMENT_GAP + 1e-12),
                    "detail": f"Luring ({luring['defense']}) {_percent(ours)}, "
                    f"C.E ({other['defense']}) {_percent(theirs)}",
                }
            )
    for source, frame, by, measures in (
        ("Figure 2", characterization, ("setting", "attack"), ("iar", "dr")),
        ("Table 1/14", defense, ("setting", "row"), ("dac", "ac_m")),
    ):
        for (setting, name), epsilon, label, at_middle in _at_middle_epsilon(frame, by):
            luring_rows, others = _approach_groups(at_middle)
            what = name if label is None or label == name else f"{name} [{label}]"
            context = f"{source}, {what}, middle ε = {epsilon:g}, setting {setting}"
            if "n_common" in at_middle:
                context += f", common X' of {int(at_middle['n_common'].iloc[0])}"
            for measure in measures:
                title = MEASURE_TITLES[measure]
                for _, luring in luring_rows.iterrows():
                    row = _above_others(
                        key=".".join(
                            part
                            for part in (measure, setting, name, label, f"eps{epsilon:g}")
                            if part is not None
                        )
                        + f".{luring['defense']}",
                        claim=f"{source}: Luring's {title} above Stack's, Auto's and C.E's at "
                        f"the middle ε ({what})",
                        luring=luring,
                        others=others,
                        column=measure,
                        context=context,
                    )
                    if row is not None:
                        rows.append(row)
    return pd.DataFrame(rows, columns=list(CLAIMS_COLUMNS))


# --- assembling and writing --------------------------------------------------------------


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
    inputs = _load(cells, defenses)
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
    "luring_claims": MarkdownFormat(decimals=("measured", "threshold")),
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
    as 0/1 (`claim.{key}`, key characters outside [A-Za-z0-9_.-] replaced by "_")."""
    metrics: dict[str, float] = {
        f"rows.{name}": float(len(frame)) for name, frame in frames.items()
    }
    claims = frames.get("luring_claims")
    if claims is not None:
        for key, holds in zip(claims["key"], claims["holds"], strict=True):
            metrics[f"claim.{re.sub(r'[^A-Za-z0-9_.-]', '_', str(key))}"] = float(bool(holds))
        if len(claims):
            metrics["claims.holds_share"] = float(claims["holds"].astype(bool).mean())
    return metrics
