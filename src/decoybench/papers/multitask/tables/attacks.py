"""The multitask attack tables: Table III (black-box), Table IV (grey-box), the C&W sweep
(the data of Figures 3-5) and Table V (near-white-box)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from decoybench.papers.multitask.paper_numbers import (
    paper_attack_column,
    paper_blackbox,
    paper_greybox,
    paper_near_whitebox,
)
from decoybench.papers.multitask.tables.inputs import Inputs, MultitaskCell
from decoybench.tables.paper import as_float, column_names, rate_columns

__all__ = [
    "COUNT_NAMES",
    "GREYBOX_RATES",
    "SWEEP_RATES",
    "blackbox_table",
    "cw_sweep_table",
    "greybox_table",
    "near_whitebox_table",
]

# A cell's identity columns (`_identity`), first in the attack tables.
IDENTITY_COLUMNS: tuple[str, ...] = (
    "setting",
    "attack_key",
    "attack",
    "epsilon",
    "kappa",
    "target_mode",
)


def _identity(cell: MultitaskCell) -> dict[str, Any]:
    return {
        "setting": cell.setting,
        "attack_key": cell.key,
        "attack": cell.attack,
        "epsilon": as_float(cell.epsilon),
        "kappa": as_float(cell.kappa),
        "target_mode": cell.target_mode,
    }


def _note_if_no_multitask(cell: MultitaskCell) -> str:
    return "" if "multitask" in cell.metrics else "the cell has no multitask entry"


# --- Table III ---------------------------------------------------------------------------

BLACKBOX_COLUMNS: tuple[str, ...] = (
    *IDENTITY_COLUMNS,
    "n",
    "accuracy_original*",
    "accuracy_defended*",
    "accuracy_original_vs_benign*",
    "accuracy_defended_vs_benign*",
    "source_asr*",
    "paper_attack",
    "paper_original",
    "paper_defended",
    "note",
)


def blackbox_table(inputs: Inputs, paper_dataset: str | None) -> pd.DataFrame:
    """Table III: one row per transfer cell of the defense: accuracy of the bare oracle
    (Original) and of the defended one (label through Z*) on the transferred x', against y
    and against each model's own benign prediction (the paper's CIFAR10 remark), and the
    attack's success on the substitute; the paper's Original/Defended where the attack is one
    of its columns (`paper_attack_column`, table "III": FGSM at ε = 0.1, C&W at κ = 40)."""
    rows: list[dict[str, Any]] = []
    for cell in inputs.transfer:
        column = paper_attack_column(
            cell.attack,
            table="III",
            epsilon=cell.epsilon,
            kappa=cell.kappa,
            target_mode=cell.target_mode,
        )
        original, defended = paper_blackbox(paper_dataset, column)
        rows.append(
            {
                **_identity(cell),
                "n": cell.count("n"),
                **{
                    name: value
                    for prefix in (
                        "accuracy_original",
                        "accuracy_defended",
                        "accuracy_original_vs_benign",
                        "accuracy_defended_vs_benign",
                    )
                    for name, value in rate_columns(prefix, cell.rate(prefix)).items()
                },
                **rate_columns("source_asr", cell.cell_rate("source_asr")),
                "paper_attack": column if original is not None else None,
                "paper_original": as_float(original),
                "paper_defended": as_float(defended),
                "note": _note_if_no_multitask(cell),
            }
        )
    return pd.DataFrame(rows, columns=column_names(BLACKBOX_COLUMNS))


# --- Table IV ----------------------------------------------------------------------------

COUNT_NAMES: tuple[str, ...] = (
    "n",
    "crafted",
    "successful",
    "detected_adversarial",
    "detected_crafted",
    "detected_clean",
)
GREYBOX_COLUMNS: tuple[str, ...] = (
    *IDENTITY_COLUMNS,
    "detection_rate*",
    "detection_rate_all*",
    "recall*",
    "precision*",
    "benign_misdetection*",
    *COUNT_NAMES,
    "paper_attack",
    "paper_detection_rate",
    "note",
)
GREYBOX_RATES: tuple[str, ...] = (
    "detection_rate",
    "detection_rate_all",
    "recall",
    "precision",
    "benign_misdetection",
)


def greybox_table(inputs: Inputs, paper_dataset: str | None) -> pd.DataFrame:
    """Table IV: one row per greybox cell: the detection rate over the examples that fool Z*
    (the population of docs/design.md's detection_rate) and over all attacked images (the
    paper's "whole adversarial test set"), recall over the crafted examples, precision with
    the clean images as benign, the benign mis-detection rate and the counts; the paper's
    detection rate where the attack is one of its columns (`paper_attack_column`, table
    "IV": FGSM at ε = 0.05)."""
    rows: list[dict[str, Any]] = []
    for cell in inputs.greybox:
        column = paper_attack_column(
            cell.attack,
            table="IV",
            epsilon=cell.epsilon,
            kappa=cell.kappa,
            target_mode=cell.target_mode,
        )
        paper = paper_greybox(paper_dataset, column)
        row: dict[str, Any] = _identity(cell)
        for prefix in GREYBOX_RATES:
            row.update(rate_columns(prefix, cell.rate(prefix)))
        row.update({name: cell.count(name) for name in COUNT_NAMES})
        row.update(
            paper_attack=column if paper is not None else None,
            paper_detection_rate=as_float(paper),
            note=_note_if_no_multitask(cell),
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=column_names(GREYBOX_COLUMNS))


# --- Figures 3-5 -------------------------------------------------------------------------

SWEEP_RATES: dict[str, tuple[str, str]] = {  # column prefix: (setting kind, multitask rate)
    "blackbox_transfer_success_original": ("transfer", "transfer_success_original"),
    "blackbox_transfer_success_defended": ("transfer", "transfer_success_defended"),
    "blackbox_precision": ("transfer", "precision"),
    "blackbox_recall": ("transfer", "recall"),
    "greybox_precision": ("greybox", "precision"),
    "greybox_recall": ("greybox", "recall"),
}
CW_SWEEP_COLUMNS: tuple[str, ...] = (
    "kappa",
    "blackbox_setting",
    "blackbox_attack_key",
    "greybox_setting",
    "greybox_attack_key",
    *(f"{prefix}*" for prefix in SWEEP_RATES),
    "note",
)


def _cw_by_kappa(cells: Iterable[MultitaskCell]) -> dict[float, list[MultitaskCell]]:
    """Non-targeted `cw2` cells grouped by κ, each group in row order."""
    groups: dict[float, list[MultitaskCell]] = {}
    for cell in cells:
        if cell.attack == "cw2" and cell.target_mode == "none" and cell.kappa is not None:
            groups.setdefault(round(cell.kappa, 9), []).append(cell)
    return groups


def cw_sweep_table(inputs: Inputs) -> pd.DataFrame:
    """Figures 3, 4, 5: one row per κ of the defense's non-targeted `cw2` cells, sorted by κ:
    black-box transfer success on the original and the defended oracle (Fig. 3), black-box
    precision and recall (Fig. 4), grey-box precision and recall (Fig. 5). A setting kind
    without a cell at that κ leaves its columns NaN; when several cells of a kind share a κ
    (several transfer settings) the first in row order is used and the rest named in `note`."""
    by_kind = {"transfer": _cw_by_kappa(inputs.transfer), "greybox": _cw_by_kappa(inputs.greybox)}
    rows: list[dict[str, Any]] = []
    for kappa in sorted(set(by_kind["transfer"]) | set(by_kind["greybox"])):
        chosen = {kind: groups.get(kappa, [None])[0] for kind, groups in by_kind.items()}
        notes = [
            f"{kind} also: " + ", ".join(f"{c.setting}/{c.key}" for c in groups[kappa][1:])
            for kind, groups in by_kind.items()
            if len(groups.get(kappa, [])) > 1
        ]
        notes += [
            f"no {'black-box' if kind == 'transfer' else 'grey-box'} cell"
            for kind, cell in chosen.items()
            if cell is None
        ]
        row: dict[str, Any] = {"kappa": kappa}
        for prefix, kind in (("blackbox", "transfer"), ("greybox", "greybox")):
            cell = chosen[kind]
            row[f"{prefix}_setting"] = None if cell is None else cell.setting
            row[f"{prefix}_attack_key"] = None if cell is None else cell.key
        for prefix, (kind, name) in SWEEP_RATES.items():
            cell = chosen[kind]
            row.update(rate_columns(prefix, None if cell is None else cell.rate(name)))
        row["note"] = "; ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows, columns=column_names(CW_SWEEP_COLUMNS))


# --- Table V -----------------------------------------------------------------------------

NEAR_WHITEBOX_COLUMNS: tuple[str, ...] = (
    "mode",
    "kappa",
    "attack_key",
    "original_setting",
    "defended_setting",
    "original_generation_rate*",
    "defended_generation_rate*",
    "paper_original",
    "paper_defended",
    "note",
)


def near_whitebox_table(inputs: Inputs, paper_dataset: str | None) -> pd.DataFrame:
    """Table V: one row per (mode, κ, attack key) of the `cw2_combined` cells: Original =
    `target_asr` of the white-box cell on the bare oracle (`undefended`) with the same attack
    key (on an undefended model the generation rate is the attack success rate), Defended =
    `multitask.rates.generation_rate` of the defense's near_whitebox cell (fooled Z* and not
    detected, blank images failing); the paper's MNIST row beside. A key with only one of the
    two cells keeps the other side NaN, with a note; rows sorted by mode (non-targeted
    first), κ, key."""
    defended: dict[str, MultitaskCell] = {}
    original: dict[str, MultitaskCell] = {}
    notes: dict[str, list[str]] = {}
    for store, cells, label in (
        (defended, inputs.near_whitebox, "near-white-box"),
        (original, inputs.undefended_whitebox, "white-box undefended"),
    ):
        for cell in cells:
            if cell.attack != "cw2_combined":
                continue
            if cell.key in store:
                notes.setdefault(cell.key, []).append(
                    f"{label} also in setting {cell.setting} (not used)"
                )
                continue
            store[cell.key] = cell
    rows: list[dict[str, Any]] = []
    for key in set(defended) | set(original):
        mine, bare = defended.get(key), original.get(key)
        reference = mine or bare
        assert reference is not None
        note = list(notes.get(key, []))
        if mine is None:
            note.append("no near-white-box cell of the defense")
        if bare is None:
            note.append("no white-box cell on the undefended oracle")
        paper = paper_near_whitebox(paper_dataset, reference.mode, reference.kappa)
        rows.append(
            {
                "mode": reference.mode,
                "kappa": as_float(reference.kappa),
                "attack_key": key,
                "original_setting": None if bare is None else bare.setting,
                "defended_setting": None if mine is None else mine.setting,
                **rate_columns(
                    "original_generation_rate",
                    None if bare is None else bare.cell_rate("target_asr"),
                ),
                **rate_columns(
                    "defended_generation_rate",
                    None if mine is None else mine.rate("generation_rate"),
                ),
                "paper_original": as_float(paper[0]),
                "paper_defended": as_float(paper[1]),
                "note": "; ".join(note),
            }
        )
    frame = pd.DataFrame(rows, columns=column_names(NEAR_WHITEBOX_COLUMNS))
    if frame.empty:
        return frame
    order = frame.assign(
        _mode=(frame["mode"] != "non-targeted"), _kappa=frame["kappa"].fillna(math.inf)
    )
    order = order.sort_values(["_mode", "_kappa", "attack_key"], kind="stable")
    return order.drop(columns=["_mode", "_kappa"]).reset_index(drop=True)
