"""The multi-task paper's own numbers (Wang, Li, Wen, Nepal & Xiang 2019), quoted, not measured.

"Defensive Collaborative Multi-task Training: Defending against Adversarial Attack towards
Deep Neural Networks" (arXiv:1803.05123), transcribed from
the paper as printed (percentages as fractions).

Keys: the paper data set ("mnist", "cifar10"), then the paper's column names: "FGSM", "IGS",
"Deepfool", "C&W L2" (Tables III, IV), the mode "non-targeted" / "targeted" and κ (Table V).
An entry the paper does not have is absent: Table IV has no C&W column, Table V is MNIST only.

The attacks behind the columns (Sec. IV-A, IV-B, IV-C): all non-targeted; FGSM at ε = 0.1 in
the black-box Table III and ε = 0.05 in the grey-box Table IV; IGS with no budget given;
Deepfool "the L∞ version"; C&W L2 at κ = 40 in Table III. Table II's set sizes: FGSM 10,000
images, IGS, Deepfool and C&W 1,000; Table V: 100 MNIST images per κ.

Not transcribable: Figures 3 (transferred C&W success rate against κ), 4 and 5 (precision and
recall of detecting black-box and grey-box C&W examples against κ) and 6 (misclassification
heat maps) are plots only, and the text gives none of their values ("Our black-box defence
decreased the success attack rate when κ is under 10", Fig. 3's caption, is the only
statement about them), so there are no paper numbers for `multitask_cw_sweep` or the
Classmap figure.

Inconsistencies and ambiguities of the paper itself, left as printed:

* Table VI's oracle accuracies (MNIST 99.4%, CIFAR10 78.6%) are the accuracies Sec. IV-B1
  gives for the substitutes S_MNIST and S_CIFAR10.
* Table VI's "Defended" is "the accuracy of the output classification label through Z, given
  the set of correctly identified normal examples" (Sec. IV-E), i.e. over the benign images
  the detector does not flag; the table's caption says only "classification accuracy".
* Table IV's detection rate is "the percentage of the detected adversarial examples in the
  whole adversarial test set" (Sec. IV-C), not over the examples that fool the model.
* The abstract's "detects up to 98.7% of the high confidence adversarial examples" is Table
  IV's grey-box FGSM MNIST cell, not a C&W (high-confidence) number.
* Table III's MNIST C&W L2 Original and Defended are both 12.6%.
"""

from __future__ import annotations

import math

from decoybench.papers.attractors.paper_numbers import PAPER_DATASET

__all__ = [
    "EPSILON_TOLERANCE",
    "FIGURES_WITHOUT_NUMBERS",
    "MULTITASK_MISDETECTION",
    "MULTITASK_TABLE_III",
    "MULTITASK_TABLE_IV",
    "MULTITASK_TABLE_V",
    "MULTITASK_TABLE_VI",
    "NEAR_WHITEBOX_MODES",
    "PAPER_COLUMNS",
    "PAPER_KAPPAS",
    "TABLE_III_CW_KAPPA",
    "TABLE_III_FGSM_EPSILON",
    "TABLE_IV_FGSM_EPSILON",
    "paper_attack_column",
    "paper_benign",
    "paper_blackbox",
    "paper_dataset_name",
    "paper_greybox",
    "paper_misdetection",
    "paper_near_whitebox",
]

PAPER_COLUMNS: tuple[str, ...] = ("FGSM", "IGS", "Deepfool", "C&W L2")  # Table III's order
NEAR_WHITEBOX_MODES: tuple[str, ...] = ("non-targeted", "targeted")  # Table V's rows
PAPER_KAPPAS: tuple[float, ...] = tuple(float(k) for k in range(0, 41, 5))  # Table V's κ
TABLE_III_FGSM_EPSILON = 0.1  # Sec. IV-B: "we set ε = 0.1 in FGSM"
TABLE_IV_FGSM_EPSILON = 0.05  # Sec. IV-C: "ε ... in FGSM is set to 0.05"
TABLE_III_CW_KAPPA = 40.0  # Sec. IV-B: "we set the parameter κ to 40"
EPSILON_TOLERANCE = 1e-6  # |ε_ours − ε_paper| (or |κ_ours − κ_paper|) below which they match
FIGURES_WITHOUT_NUMBERS = (
    "the paper prints no numbers for Figures 3-6 (plots only); only Fig. 3's caption says "
    "the black-box defence lowers the transfer success for κ under 10"
)

# Table III: (Original, Defended) classification accuracy on non-targeted black-box examples
# crafted on the substitute, of the bare oracle and of the defended oracle (label through Z*).
MULTITASK_TABLE_III: dict[str, dict[str, tuple[float, float]]] = {
    "mnist": {
        "FGSM": (0.343, 0.962),
        "IGS": (0.354, 0.958),
        "Deepfool": (0.341, 0.963),
        "C&W L2": (0.126, 0.126),
    },
    "cifar10": {
        "FGSM": (0.616, 0.686),
        "IGS": (0.502, 0.625),
        "Deepfool": (0.638, 0.713),
        "C&W L2": (0.089, 0.100),
    },
}

# Table IV: detection rate against grey-box examples (crafted on the oracle without Z′).
MULTITASK_TABLE_IV: dict[str, dict[str, float]] = {
    "mnist": {"FGSM": 0.987, "IGS": 0.944, "Deepfool": 0.952},
    "cifar10": {"FGSM": 0.752, "IGS": 0.726, "Deepfool": 0.738},
}


def _by_kappa(values: tuple[float, ...]) -> dict[float, float]:
    return dict(zip(PAPER_KAPPAS, values, strict=True))


# Table V (MNIST only, 100 images per κ): successful generation rate of C&W in the
# near-white-box setting, {mode: {"original" | "defended": {κ: rate}}}.
MULTITASK_TABLE_V: dict[str, dict[str, dict[str, dict[float, float]]]] = {
    "mnist": {
        "non-targeted": {
            "original": _by_kappa((1.0,) * 9),
            "defended": _by_kappa((0.08,) + (0.0,) * 8),
        },
        "targeted": {
            "original": _by_kappa((1.0, 1.0, 1.0, 1.0, 1.0, 0.98, 0.96, 0.92, 0.90)),
            "defended": _by_kappa((0.0,) * 9),
        },
    },
}

# Table VI: (Oracle, Defended) accuracy on the 10,000 benign test images (Defended: over the
# images the detector accepts, Sec. IV-E).
MULTITASK_TABLE_VI: dict[str, tuple[float, float]] = {
    "mnist": (0.994, 0.994),
    "cifar10": (0.786, 0.765),
}

# Sec. IV-E: share of the 10,000 benign test images flagged as adversarial.
MULTITASK_MISDETECTION: dict[str, float] = {"mnist": 0.0009, "cifar10": 0.0392}


def paper_dataset_name(dataset: str | None) -> str | None:
    """The paper data set a suite data set is compared with ("mnist5k" → "mnist"); None for
    None or a data set the paper does not have (no paper numbers are printed then)."""
    if dataset is None:
        return None
    name = PAPER_DATASET.get(dataset, dataset)
    return name if name in MULTITASK_TABLE_III else None


def _close(value: float | None, reference: float) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return math.isclose(float(value), reference, rel_tol=0.0, abs_tol=EPSILON_TOLERANCE)


def paper_attack_column(
    attack: str,
    *,
    table: str,
    epsilon: float | None = None,
    kappa: float | None = None,
    target_mode: str | None = "none",
) -> str | None:
    """The Table III or IV column (`table` "III" or "IV") an attack run is compared with.

    Registry names: fgsm → "FGSM" at the table's ε (0.1 in III, 0.05 in IV); igs → "IGS";
    deepfool_linf or deepfool → "Deepfool"; cw2 at κ = 40 → "C&W L2" (Table III only). Only
    non-targeted runs match (both tables are non-targeted); None when nothing matches.
    """
    if table not in ("III", "IV"):
        raise ValueError(f"table must be 'III' or 'IV', got {table!r}")
    if target_mode not in (None, "none"):
        return None
    if attack == "fgsm":
        wanted = TABLE_III_FGSM_EPSILON if table == "III" else TABLE_IV_FGSM_EPSILON
        return "FGSM" if _close(epsilon, wanted) else None
    if attack == "igs":
        return "IGS"
    if attack in ("deepfool_linf", "deepfool"):
        return "Deepfool"
    if attack == "cw2" and table == "III" and _close(kappa, TABLE_III_CW_KAPPA):
        return "C&W L2"
    return None


def paper_blackbox(dataset: str | None, column: str | None) -> tuple[float | None, float | None]:
    """Table III (Original, Defended) accuracy of `column`; (None, None) if absent."""
    name = paper_dataset_name(dataset)
    if name is None or column is None:
        return None, None
    return MULTITASK_TABLE_III[name].get(column, (None, None))


def paper_greybox(dataset: str | None, column: str | None) -> float | None:
    """Table IV detection rate of `column`; None if absent (e.g. C&W, or another data set)."""
    name = paper_dataset_name(dataset)
    if name is None or column is None:
        return None
    return MULTITASK_TABLE_IV.get(name, {}).get(column)


def paper_near_whitebox(
    dataset: str | None, mode: str, kappa: float | None
) -> tuple[float | None, float | None]:
    """Table V (Original, Defended) generation rate for `mode` ("non-targeted" or
    "targeted") at κ (one of 0, 5, ..., 40); (None, None) for CIFAR10 (no Table V), another
    data set, mode or κ."""
    rows = MULTITASK_TABLE_V.get(paper_dataset_name(dataset) or "", {}).get(mode)
    if rows is None:
        return None, None
    for paper_kappa in PAPER_KAPPAS:
        if _close(kappa, paper_kappa):
            return rows["original"][paper_kappa], rows["defended"][paper_kappa]
    return None, None


def paper_benign(dataset: str | None) -> tuple[float | None, float | None]:
    """Table VI (Oracle, Defended) benign accuracy; (None, None) for another data set."""
    return MULTITASK_TABLE_VI.get(paper_dataset_name(dataset) or "", (None, None))


def paper_misdetection(dataset: str | None) -> float | None:
    """Sec. IV-E benign mis-detection rate (0.09% MNIST, 3.92% CIFAR10); None otherwise."""
    return MULTITASK_MISDETECTION.get(paper_dataset_name(dataset) or "")
