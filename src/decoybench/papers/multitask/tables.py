"""The multi-task paper's tables (Wang et al. 2019), built from cell metrics and the sidecar.

Inputs: the cell metrics JSONs (`decoybench.cells.score.evaluate_adversarial_set`;
a multitask cell also holds `multitask`, `decoybench.papers.multitask.cell`) and the
multitask defense sidecar (`defense.json`, with `table6` and `classmap`,
`decoybench.papers.multitask.build`). Every rate is one stored by those modules
(`decoybench.metrics.Rate.as_dict`), printed as stored, never recomputed; the
paper's numbers beside ours are in `decoybench.papers.multitask.paper_numbers`.

Cells are selected by setting kind, defense and registry attack (name and parameters: ε,
κ = `confidence`, target mode), never by config key; the key is shown in each row.

Tables (name: what it reproduces):

* ``multitask_blackbox``: Table III, accuracy of the bare and the defended oracle on
  non-targeted examples crafted on the substitute (kind ``transfer``);
* ``multitask_greybox``: Table IV, detection rate, recall, precision and benign
  mis-detection on examples crafted on the defended network without Z′ (kind ``greybox``);
* ``multitask_cw_sweep``: the data of Figures 3, 4 and 5, C&W L2 (`cw2`) over κ;
* ``multitask_near_whitebox``: Table V, generation rate of the combined-loss C&W
  (`cw2_combined`) on the bare oracle (``whitebox`` / ``undefended``) and on the defended
  model (``near_whitebox``), non-targeted and targeted, per κ;
* ``multitask_benign``: Table VI and Sec. IV-E, benign accuracy and mis-detection;
* ``multitask_classmap``: the training Classmap (Eq. 6, 8; Fig. 6's last panel);
* ``multitask_claims``: the paper's qualitative claims against explicit thresholds.

`decoybench.tables.paper` writes them: the CSV with each rate's value, 95% interval,
count and total; the Markdown with `format_rate` under a one-line caption.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from decoybench import defense_registry
from decoybench.io import read_json
from decoybench.papers.multitask.paper_numbers import (
    FIGURES_WITHOUT_NUMBERS,
    MULTITASK_TABLE_V,
    TABLE_III_FGSM_EPSILON,
    TABLE_IV_FGSM_EPSILON,
    paper_attack_column,
    paper_benign,
    paper_blackbox,
    paper_dataset_name,
    paper_greybox,
    paper_misdetection,
    paper_near_whitebox,
)
from decoybench.tables.paper import (
    MarkdownFormat,
    as_float,
    column_names,
    integer_counts,
    is_nan,
    markdown_table,
    percent_text,
    rate_columns,
    requested_outputs,
    write_tables,
)
from decoybench.tables.summary import format_rate

__all__ = [
    "BENIGN_ACCURACY_GAP",
    "GREYBOX_DETECTION_THRESHOLD",
    "MISDETECTION_THRESHOLD",
    "MULTITASK_TABLES",
    "build_multitask_tables",
    "headline_metrics",
    "is_multitask_defense",
    "markdown",
    "write_multitask_tables",
]

MULTITASK_TABLES: tuple[str, ...] = (
    "multitask_blackbox",
    "multitask_greybox",
    "multitask_cw_sweep",
    "multitask_near_whitebox",
    "multitask_benign",
    "multitask_classmap",
    "multitask_claims",
)
MULTITASK = "multitask"
UNDEFENDED = "undefended"
# Claim thresholds (the paper states none): (a) Table VI, "no decrease" (MNIST) / "decreases
# the accuracy by 2.1%" (CIFAR10) read as within 2 points; (b) Table IV "can tackle all the
# attacks very well" read as ≥ 90%; (e) Sec. IV-E "a very limited mis-detection rate" ≤ 1%.
BENIGN_ACCURACY_GAP = 0.02
GREYBOX_DETECTION_THRESHOLD = 0.90
MISDETECTION_THRESHOLD = 0.01
# Row order of the attack tables: the paper's columns first (Table III), then the rest.
ATTACK_ORDER: tuple[str, ...] = ("fgsm", "igs", "deepfool_linf", "deepfool", "cw2", "cw2_combined")
MODE_LABELS = {"none": "non-targeted"}  # any other target mode is "targeted" (Table V)

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

Cell = dict[str, Any]


def is_multitask_defense(name: str) -> bool:
    """Whether config name `name` is of the multitask type (decoybench.defense_registry):
    `multitask`, `multitask_<x>` or `multitask-<x>`."""
    entry = defense_registry.type_of(name)
    return entry is not None and entry.name == MULTITASK


# --- rates -------------------------------------------------------------------------------
# A stored rate (`Rate.as_dict`) becomes columns as stored (`paper_tables.rate_columns`).


def _value(rate: Mapping[str, Any] | None) -> float:
    return math.nan if rate is None else as_float(rate.get("value"))


def _shown(rate: Mapping[str, Any] | None) -> str:
    """A stored rate as `format_rate` prints it; "—" when absent."""
    if rate is None or is_nan(rate.get("total")):
        return "—"
    return format_rate(
        as_float(rate.get("value")),
        as_float(rate.get("ci_low")),
        as_float(rate.get("ci_high")),
        int(rate["count"]),
        int(rate["total"]),
    )


def _paper_percent(value: float | None) -> str:
    """A paper number as the paper prints it: "99.4%", "0.09%", "100%", "8%"."""
    if is_nan(value):
        return "—"
    return f"{100 * float(value):.2f}".rstrip("0").rstrip(".") + "%"


def _points(value: float) -> str:
    return "—" if is_nan(value) else f"{100 * value:+.1f} points"


# --- cells -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MultitaskCell:
    """One evaluation cell: identity, registry attack and parameters, and its metrics."""

    setting: str
    kind: str
    defense: str
    key: str  # config key of the attack
    attack: str  # registry name
    epsilon: float | None
    kappa: float | None  # C&W confidence κ (cw2, cw2_combined); None for other attacks
    target_mode: str
    metrics: Cell = field(repr=False)

    @classmethod
    def of(cls, metrics: Cell) -> MultitaskCell:
        identity = metrics["cell"]
        config = identity.get("attack_config") or {}
        attack = metrics.get("attack") or {}
        name = str(attack.get("name") or config.get("attack", ""))
        epsilon = attack.get("epsilon", config.get("epsilon"))
        kappa = config.get("confidence")
        if kappa is None and name in ("cw2", "cw2_combined"):
            kappa = 0.0  # the schema's default confidence
        target_mode = attack.get("target_mode") or config.get("target") or "none"
        return cls(
            setting=str(identity.get("setting", "")),
            kind=str(identity.get("kind", "")),
            defense=str(identity.get("defense", "")),
            key=str(identity.get("attack", "")),
            attack=name,
            epsilon=None if is_nan(epsilon) else float(epsilon),
            kappa=None if is_nan(kappa) else float(kappa),
            target_mode=str(target_mode),
            metrics=metrics,
        )

    @property
    def mode(self) -> str:
        """Table V's row: "non-targeted" (target mode none) or "targeted"."""
        return MODE_LABELS.get(self.target_mode, "targeted")

    def rate(self, name: str) -> dict[str, Any] | None:
        """A multitask rate (`multitask.rates`), None when the cell has none."""
        return ((self.metrics.get("multitask") or {}).get("rates") or {}).get(name)

    def cell_rate(self, name: str) -> dict[str, Any] | None:
        """A rate of every cell (`rates`: target_asr, source_asr, ...)."""
        return (self.metrics.get("rates") or {}).get(name)

    def count(self, name: str) -> Any:
        return ((self.metrics.get("multitask") or {}).get("counts") or {}).get(name)

    def sort_key(self) -> tuple[Any, ...]:
        rank = ATTACK_ORDER.index(self.attack) if self.attack in ATTACK_ORDER else len(ATTACK_ORDER)
        return (
            self.setting,
            rank,
            self.attack,
            self.target_mode != "none",
            self.target_mode,
            math.inf if self.epsilon is None else self.epsilon,
            math.inf if self.kappa is None else self.kappa,
            self.key,
        )


@dataclass
class Inputs:
    """The loaded inputs: the defense's cells by kind, the bare oracle's white-box cells."""

    defense: str
    transfer: list[MultitaskCell]
    greybox: list[MultitaskCell]
    near_whitebox: list[MultitaskCell]
    undefended_whitebox: list[MultitaskCell]
    sidecar: dict[str, Any]


def _read_cell(cell: str | Path | Mapping[str, Any]) -> Cell:
    return dict(cell) if isinstance(cell, Mapping) else read_json(cell)


def load_inputs(
    cells: Iterable[str | Path | Mapping[str, Any]] | str | Path,
    defense: str,
    defense_json: str | Path | Mapping[str, Any] | None,
) -> Inputs:
    """Read the cells (paths or already-loaded dicts) and the sidecar; keep `defense`'s
    transfer, greybox and near_whitebox cells and the white-box cells on `undefended`.
    ValueError when no cell belongs to `defense`."""
    items = [cells] if isinstance(cells, (str, Path)) else list(cells)
    loaded = [MultitaskCell.of(_read_cell(item)) for item in items]
    own = [cell for cell in loaded if cell.defense == defense]
    if not own:
        defenses = sorted({cell.defense for cell in loaded})
        raise ValueError(
            f"no cell of the multitask defense {defense!r} among {len(loaded)} cells "
            f"(defenses present: {', '.join(defenses) or 'none'})"
        )

    def of_kind(kind: str, name: str) -> list[MultitaskCell]:
        chosen = [cell for cell in loaded if cell.kind == kind and cell.defense == name]
        return sorted(chosen, key=MultitaskCell.sort_key)

    if defense_json is None:
        sidecar: dict[str, Any] = {}
    elif isinstance(defense_json, Mapping):
        sidecar = dict(defense_json)
    else:
        sidecar = read_json(defense_json)
    return Inputs(
        defense=defense,
        transfer=of_kind("transfer", defense),
        greybox=of_kind("greybox", defense),
        near_whitebox=of_kind("near_whitebox", defense),
        undefended_whitebox=of_kind("whitebox", UNDEFENDED),
        sidecar=sidecar,
    )


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


# --- claims ------------------------------------------------------------------------------

CLAIMS_COLUMNS: tuple[str, ...] = (
    "key",
    "claim",
    "measured",
    "threshold",
    "holds",
    "ours",
    "paper",
    "paper_holds",
    "detail",
)


def _closest(cells: Iterable[MultitaskCell], attack: str, epsilon: float) -> MultitaskCell | None:
    """The non-targeted `attack` cell whose ε is closest to `epsilon` (first in row order)."""
    candidates = [
        cell
        for cell in cells
        if cell.attack == attack and cell.target_mode == "none" and cell.epsilon is not None
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda cell: abs(cell.epsilon - epsilon))  # type: ignore[operator]


def _claim(
    key: str,
    claim: str,
    *,
    measured: float = math.nan,
    threshold: float,
    holds: bool | None,
    ours: str = "—",
    paper: str = "—",
    paper_holds: bool | None = None,
    detail: str = "",
) -> dict[str, Any]:
    return {
        "key": key,
        "claim": claim,
        "measured": measured,
        "threshold": threshold,
        "holds": holds,
        "ours": ours,
        "paper": paper,
        "paper_holds": paper_holds,
        "detail": detail,
    }


def _benign_claim(table6: Mapping[str, Any], paper_dataset: str | None) -> dict[str, Any]:
    claim = (
        "Table VI: the defended model's benign accuracy within "
        f"{100 * BENIGN_ACCURACY_GAP:g} points of the oracle's"
    )
    oracle, defended = table6.get("accuracy_oracle"), table6.get("accuracy_defended")
    paper_oracle, paper_defended = paper_benign(paper_dataset)
    paper_text, paper_holds = "—", None
    if paper_oracle is not None and paper_defended is not None:
        paper_gap = paper_defended - paper_oracle
        paper_text = (
            f"{_paper_percent(paper_defended)} vs {_paper_percent(paper_oracle)} "
            f"({_points(paper_gap)})"
        )
        paper_holds = abs(paper_gap) <= BENIGN_ACCURACY_GAP + 1e-12
    common = {"threshold": BENIGN_ACCURACY_GAP, "paper": paper_text, "paper_holds": paper_holds}
    if oracle is None or defended is None:
        return _claim(
            "benign_accuracy_gap",
            claim,
            holds=None,
            detail="missing: the sidecar's table6 accuracy_oracle / accuracy_defended",
            **common,
        )
    gap = _value(defended) - _value(oracle)
    known = not math.isnan(gap)
    undetected = table6.get("accuracy_defended_undetected")
    return _claim(
        "benign_accuracy_gap",
        claim,
        measured=abs(gap),
        holds=bool(abs(gap) <= BENIGN_ACCURACY_GAP + 1e-12) if known else None,
        ours=f"defended {_shown(defended)} vs oracle {_shown(oracle)} ({_points(gap)})",
        detail="measured: |defended − oracle| over every benign test image; over the accepted "
        f"images only (the paper's Defended) the defended accuracy is {_shown(undetected)}",
        **common,
    )


def _greybox_claim(inputs: Inputs, paper_dataset: str | None) -> dict[str, Any]:
    claim = (
        f"Table IV: grey-box FGSM detection rate high (≥ {100 * GREYBOX_DETECTION_THRESHOLD:g}%)"
    )
    paper = paper_greybox(paper_dataset, "FGSM")
    common = {
        "threshold": GREYBOX_DETECTION_THRESHOLD,
        "paper": _paper_percent(paper),
        "paper_holds": None if paper is None else paper >= GREYBOX_DETECTION_THRESHOLD,
    }
    cell = _closest(inputs.greybox, "fgsm", TABLE_IV_FGSM_EPSILON)
    if cell is None or cell.rate("detection_rate") is None:
        return _claim(
            "greybox_fgsm_detection",
            claim,
            holds=None,
            detail="missing: no non-targeted grey-box FGSM cell of the defense with a "
            "multitask detection rate",
            **common,
        )
    rate = cell.rate("detection_rate")
    value = _value(rate)
    return _claim(
        "greybox_fgsm_detection",
        claim,
        measured=value,
        holds=None if math.isnan(value) else bool(value >= GREYBOX_DETECTION_THRESHOLD),
        ours=_shown(rate),
        detail=f"{cell.setting}/{cell.key} (ε = {cell.epsilon:g}; the paper's 0.05): detection "
        "rate over the examples that fool Z*; over all attacked images "
        f"{_shown(cell.rate('detection_rate_all'))}",
        **common,
    )


def _blackbox_claim(inputs: Inputs, paper_dataset: str | None) -> dict[str, Any]:
    claim = "Table III: black-box FGSM accuracy of the defended oracle above the original's"
    paper_original, paper_defended = paper_blackbox(paper_dataset, "FGSM")
    paper_text, paper_holds = "—", None
    if paper_original is not None and paper_defended is not None:
        paper_text = (
            f"defended {_paper_percent(paper_defended)} vs original "
            f"{_paper_percent(paper_original)}"
        )
        paper_holds = paper_defended > paper_original
    common = {"threshold": 0.0, "paper": paper_text, "paper_holds": paper_holds}
    cell = _closest(inputs.transfer, "fgsm", TABLE_III_FGSM_EPSILON)
    original = None if cell is None else cell.rate("accuracy_original")
    defended = None if cell is None else cell.rate("accuracy_defended")
    if cell is None or original is None or defended is None:
        return _claim(
            "blackbox_fgsm_accuracy",
            claim,
            holds=None,
            detail="missing: no non-targeted black-box FGSM cell of the defense with "
            "multitask accuracies",
            **common,
        )
    margin = _value(defended) - _value(original)
    return _claim(
        "blackbox_fgsm_accuracy",
        claim,
        measured=margin,
        holds=None if math.isnan(margin) else bool(margin > 0),
        ours=f"defended {_shown(defended)} vs original {_shown(original)} ({_points(margin)})",
        detail=f"{cell.setting}/{cell.key} (ε = {cell.epsilon:g}; the paper's 0.1), both "
        "models scored on the same transferred set; measured: defended − original",
        **common,
    )


def _near_whitebox_claim(near_whitebox: pd.DataFrame, paper_dataset: str | None) -> dict[str, Any]:
    claim = (
        "Table V: near-white-box generation rate of the defended model below the "
        "original's at every κ"
    )
    paper_rows = MULTITASK_TABLE_V.get(paper_dataset_name(paper_dataset) or "")
    paper_text, paper_holds = "—", None
    if paper_rows is not None:
        margins = [
            rows["defended"][kappa] - rows["original"][kappa]
            for rows in paper_rows.values()
            for kappa in rows["original"]
        ]
        paper_holds = max(margins) < 0
        paper_text = f"largest defended − original {_points(max(margins))} ({len(margins)} rows)"
    common = {"threshold": 0.0, "paper": paper_text, "paper_holds": paper_holds}
    both = near_whitebox.dropna(subset=["original_generation_rate", "defended_generation_rate"])
    skipped = [
        f"{row.mode} κ={row.kappa:g} ({row.attack_key})"
        for row in near_whitebox.itertuples()
        if row.Index not in both.index
    ]
    if both.empty:
        return _claim(
            "near_whitebox_generation",
            claim,
            holds=None,
            detail="missing: no κ with both a near-white-box cell of the defense and a "
            "white-box cell on the undefended oracle"
            + (f" (incomplete: {', '.join(skipped)})" if skipped else ""),
            **common,
        )
    margins = both["defended_generation_rate"] - both["original_generation_rate"]
    worst = both.loc[margins.idxmax()]
    parts = [
        f"{row.mode} κ={row.kappa:g}: {percent_text(row.defended_generation_rate)} vs "
        f"{percent_text(row.original_generation_rate)}"
        for row in both.itertuples()
    ]
    detail = "measured: the largest defended − original; " + "; ".join(parts)
    if skipped:
        detail += f"; not compared (a cell missing): {', '.join(skipped)}"
    return _claim(
        "near_whitebox_generation",
        claim,
        measured=float(margins.max()),
        holds=bool((margins < 0).all()),
        ours=f"worst {worst['mode']} κ={worst['kappa']:g}: defended "
        f"{percent_text(worst['defended_generation_rate'])} vs original "
        f"{percent_text(worst['original_generation_rate'])} ({len(both)} rows compared)",
        detail=detail,
        **common,
    )


def _misdetection_claim(table6: Mapping[str, Any], paper_dataset: str | None) -> dict[str, Any]:
    claim = f"Sec. IV-E: benign mis-detection rate ≤ {100 * MISDETECTION_THRESHOLD:g}%"
    paper = paper_misdetection(paper_dataset)
    common = {
        "threshold": MISDETECTION_THRESHOLD,
        "paper": _paper_percent(paper),
        "paper_holds": None if paper is None else paper <= MISDETECTION_THRESHOLD,
    }
    rate = table6.get("misdetection_rate")
    if rate is None:
        return _claim(
            "benign_misdetection",
            claim,
            holds=None,
            detail="missing: the sidecar's table6 misdetection_rate",
            **common,
        )
    value = _value(rate)
    return _claim(
        "benign_misdetection",
        claim,
        measured=value,
        holds=None if math.isnan(value) else bool(value <= MISDETECTION_THRESHOLD + 1e-12),
        ours=_shown(rate),
        detail="over the benign test split (the sidecar's table6)",
        **common,
    )


def claims_table(
    inputs: Inputs, near_whitebox: pd.DataFrame, paper_dataset: str | None
) -> pd.DataFrame:
    """The paper's claims, each against an explicit threshold (the paper states none):

    (a) Table VI: |defended − oracle| benign accuracy ≤ `BENIGN_ACCURACY_GAP`;
    (b) Table IV: grey-box FGSM (ε closest to 0.05) detection rate ≥
        `GREYBOX_DETECTION_THRESHOLD`;
    (c) Table III: black-box FGSM (ε closest to 0.1) accuracy, defended − original > 0;
    (d) Table V: defended generation rate below the original's in every row with both
        (measured: the largest difference; holds when < 0);
    (e) Sec. IV-E: benign mis-detection ≤ `MISDETECTION_THRESHOLD`.

    A claim whose inputs are missing keeps its row with `holds` None and says what is
    missing; `paper_holds` says whether the paper's own numbers meet the threshold.
    """
    table6 = inputs.sidecar.get("table6") or {}
    rows = [
        _benign_claim(table6, paper_dataset),
        _greybox_claim(inputs, paper_dataset),
        _blackbox_claim(inputs, paper_dataset),
        _near_whitebox_claim(near_whitebox, paper_dataset),
        _misdetection_claim(table6, paper_dataset),
    ]
    frame = pd.DataFrame(rows, columns=list(CLAIMS_COLUMNS))
    for column in ("holds", "paper_holds"):
        frame[column] = frame[column].astype(object)
    return frame


# --- assembling and writing --------------------------------------------------------------


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
# them, `_paper_percent`) and plain decimals; the Classmap's p_<j> to 3 decimals.
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
    "multitask_claims": MarkdownFormat(decimals=("measured", "threshold")),
}


def markdown(name: str, frame: pd.DataFrame) -> str:
    """Markdown of one table (`markdown_table`): its caption line, then the rows with each
    rate formatted by `format_rate` (value, interval, counts), paper rates as percents as
    the paper prints them, ε, κ, p_i and claim numbers as decimals, absent values as "—"."""
    return markdown_table(
        frame,
        CAPTIONS.get(name, name),
        _MARKDOWN_FORMATS.get(name, MarkdownFormat()),
        percent=_paper_percent,
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
    (`benign.{measure}`) and each claim's verdict as 0/1 (`claim.{key}`; undecided claims
    left out), with the share that holds among the decided ones."""
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
        decided = [
            (key, holds)
            for key, holds in zip(claims["key"], claims["holds"], strict=True)
            if not is_nan(holds)
        ]
        for key, holds in decided:
            metrics[f"claim.{re.sub(r'[^A-Za-z0-9_.-]', '_', str(key))}"] = float(bool(holds))
        if decided:
            metrics["claims.holds_share"] = sum(bool(h) for _, h in decided) / len(decided)
    return metrics
