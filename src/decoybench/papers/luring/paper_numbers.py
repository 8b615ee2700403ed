"""The luring paper's own numbers (Bernhard, Moellic & Dutertre 2021), quoted, not measured.

"Luring of transferable adversarial perturbations in the black-box paradigm" (ICLR 2021 /
arXiv:2004.04919), transcribed from the paper as printed
(fractions; the paper's own rounding, e.g. 0.1 and 0.10, kept as the value it shows).

Keys: paper data set ("mnist", "svhn", "cifar10"), then the approach: "luring", "stack",
"auto", "cross_entropy" (the paper's C.E / C_E) and "target" (BASE in Table 8, TARGET in
Table 9: the target model M alone). An entry the paper does not have is absent: CIFAR10 has
no Auto model ("no autoencoder we tried reaches correct test set accuracy", Appendix C), BASE
has no AGREE (None), MNIST has no Table 10 row.

Not transcribable: Figure 2 (DR and IAR per attack and ε, Sec. 3.3) and Figure 3 (l0
distortion; saliency maps) are plots only, and the text gives none of their values, so
there are no paper numbers for `luring_characterization` or for the l0 column of
`luring_distortion`.

Inconsistencies of the paper itself, left as printed:

* Table 11 (MNIST kernel sizes) heads its ε columns 0.3, 0.4, 0.5, while Table 14 and Fig. 2
  use 0.2, 0.3, 0.4 for MNIST.
* Table 20's Luring CIFAR10 ε = 0.04 row reads AC_M 0.16, DAC 0.27, against 0.18, 0.28 for
  the same MIM-W cell in Table 1 (Table 20 also searches FGSM; Table 1 does not).
* Table 19's "Luring" column repeats Table 1 / Table 14's MIM-W cells (MNIST 0.3, SVHN 0.03,
  CIFAR10 0.03), which agree.
"""

from __future__ import annotations

import math

from decoybench.papers.attractors.paper_numbers import PAPER_DATASET

__all__ = [
    "APPROACHES",
    "DEFENSE_ROWS",
    "EPSILON_TOLERANCE",
    "LURING_DEFENSE_TABLE",
    "LURING_TABLE_1",
    "LURING_TABLE_8",
    "LURING_TABLE_9",
    "LURING_TABLE_10",
    "LURING_TABLE_14",
    "LURING_TABLE_19",
    "paper_agreement",
    "paper_dataset_name",
    "paper_defense",
    "paper_distortion",
    "paper_epsilons",
    "paper_logits",
]

APPROACHES: tuple[str, ...] = ("stack", "auto", "cross_entropy", "luring")  # paper's order
DEFENSE_ROWS: tuple[str, ...] = ("SPSA", "ECO", "MIM-W")  # Table 1 / Table 14 rows
EPSILON_TOLERANCE = 1e-6  # |ε_ours − ε_paper| below which an ε is the paper's

# Table 8 (Appendix C): (TEST, AGREE) per model: test-set accuracy of the model, and the
# share of test images on which the augmented model and M both give the ground-truth label.
LURING_TABLE_8: dict[str, dict[str, tuple[float, float | None]]] = {
    "mnist": {
        "target": (0.991, None),
        "stack": (0.98, 0.976),
        "auto": (0.971, 0.969),
        "cross_entropy": (0.982, 0.977),
        "luring": (0.974, 0.969),
    },
    "svhn": {
        "target": (0.961, None),
        "stack": (0.925, 0.913),
        "auto": (0.95, 0.943),
        "cross_entropy": (0.919, 0.907),
        "luring": (0.920, 0.917),
    },
    "cifar10": {
        "target": (0.893, None),
        "stack": (0.902, 0.842),
        "cross_entropy": (0.860, 0.834),
        "luring": (0.853, 0.822),
    },
}

# Table 9 (Appendix D.2): (MEAN l2, MEAN l∞) of CWL2 adversarial examples, crafted on M
# ("target") or on each M∘P, over 1,000 test images correct for M and every M∘P.
LURING_TABLE_9: dict[str, dict[str, tuple[float, float]]] = {
    "mnist": {
        "target": (0.96, 0.27),
        "stack": (0.87, 0.25),
        "auto": (0.94, 0.35),
        "cross_entropy": (0.92, 0.34),
        "luring": (0.94, 0.31),
    },
    "svhn": {
        "target": (0.32, 0.04),
        "stack": (0.34, 0.05),
        "auto": (0.29, 0.04),
        "cross_entropy": (0.29, 0.04),
        "luring": (0.31, 0.04),
    },
    "cifar10": {
        "target": (0.42, 0.04),
        "stack": (0.4, 0.03),
        "cross_entropy": (0.41, 0.04),
        "luring": (0.39, 0.04),
    },
}

# Table 10 (Appendix D.3): per class (the paper's columns 1..10, here positions 0..9), the
# rate of the 1000 examples on which Ω_c (Eq. 5) is higher for Luring than for the other
# approaches. The paper has SVHN and CIFAR ("CIFAR" = CIFAR10) rows only.
LURING_TABLE_10: dict[str, tuple[float, ...]] = {
    "svhn": (0.81, 0.85, 0.86, 0.89, 0.86, 0.82, 0.83, 0.84, 0.83, 0.82),
    "cifar10": (0.86, 0.88, 0.88, 0.87, 0.88, 0.87, 0.89, 0.86, 0.88, 0.85),
}

Triple = tuple[float, float, float]  # (AC_MoP, AC_M, DAC)

# Table 1 (Sec. 4.3): (AC_MoP, AC_M, DAC) per attack row, ε and approach, on X' crafted on
# M∘P. MIM-W is the best of MIM, DIM, MIM-TI, DIM-TI from the adversary's point of view.
LURING_TABLE_1: dict[str, dict[str, dict[float, dict[str, Triple]]]] = {
    "svhn": {
        "SPSA": {
            0.03: {
                "stack": (0.10, 0.54, 0.56),
                "auto": (0.06, 0.37, 0.38),
                "cross_entropy": (0.06, 0.67, 0.68),
                "luring": (0.0, 0.96, 0.97),
            },
            0.06: {
                "stack": (0.01, 0.21, 0.24),
                "auto": (0.0, 0.10, 0.11),
                "cross_entropy": (0.0, 0.37, 0.42),
                "luring": (0.0, 0.96, 0.96),
            },
            0.08: {
                "stack": (0.0, 0.13, 0.15),
                "auto": (0.0, 0.06, 0.06),
                "cross_entropy": (0.0, 0.23, 0.28),
                "luring": (0.0, 0.94, 0.96),
            },
        },
        "ECO": {
            0.03: {
                "stack": (0.06, 0.42, 0.44),
                "auto": (0.14, 0.48, 0.49),
                "cross_entropy": (0.18, 0.66, 0.68),
                "luring": (0.20, 0.97, 0.98),
            },
            0.06: {
                "stack": (0.0, 0.11, 0.12),
                "auto": (0.06, 0.09, 0.11),
                "cross_entropy": (0.1, 0.35, 0.39),
                "luring": (0.1, 0.86, 0.88),
            },
            0.08: {
                "stack": (0.0, 0.03, 0.07),
                "auto": (0.06, 0.09, 0.09),
                "cross_entropy": (0.08, 0.29, 0.32),
                "luring": (0.09, 0.84, 0.86),
            },
        },
        "MIM-W": {
            0.03: {
                "stack": (0.04, 0.32, 0.35),
                "auto": (0.01, 0.20, 0.21),
                "cross_entropy": (0.03, 0.41, 0.45),
                "luring": (0.11, 0.81, 0.87),
            },
            0.06: {
                "stack": (0.0, 0.06, 0.09),
                "auto": (0.0, 0.03, 0.05),
                "cross_entropy": (0.0, 0.10, 0.18),
                "luring": (0.0, 0.58, 0.71),
            },
            0.08: {
                "stack": (0.0, 0.03, 0.06),
                "auto": (0.0, 0.01, 0.02),
                "cross_entropy": (0.0, 0.06, 0.13),
                "luring": (0.0, 0.48, 0.67),
            },
        },
    },
    "cifar10": {
        "SPSA": {
            0.02: {
                "stack": (0.01, 0.75, 0.78),
                "cross_entropy": (0.06, 0.68, 0.71),
                "luring": (0.12, 0.78, 0.82),
            },
            0.03: {
                "stack": (0.0, 0.57, 0.62),
                "cross_entropy": (0.01, 0.45, 0.49),
                "luring": (0.02, 0.59, 0.64),
            },
            0.04: {
                "stack": (0.0, 0.38, 0.42),
                "cross_entropy": (0.0, 0.22, 0.24),
                "luring": (0.01, 0.42, 0.50),
            },
        },
        "ECO": {
            0.02: {
                "stack": (0.15, 0.7, 0.71),
                "cross_entropy": (0.14, 0.6, 0.63),
                "luring": (0.16, 0.81, 0.87),
            },
            0.03: {
                "stack": (0.09, 0.44, 0.59),
                "cross_entropy": (0.09, 0.36, 0.42),
                "luring": (0.2, 0.65, 0.67),
            },
            0.04: {
                "stack": (0.05, 0.29, 0.29),
                "cross_entropy": (0.04, 0.28, 0.34),
                "luring": (0.09, 0.35, 0.44),
            },
        },
        "MIM-W": {
            0.02: {
                "stack": (0.0, 0.49, 0.52),
                "cross_entropy": (0.02, 0.4, 0.43),
                "luring": (0.03, 0.58, 0.64),
            },
            0.03: {
                "stack": (0.0, 0.24, 0.28),
                "cross_entropy": (0.0, 0.15, 0.19),
                "luring": (0.0, 0.30, 0.39),
            },
            0.04: {
                "stack": (0.0, 0.13, 0.16),
                "cross_entropy": (0.0, 0.05, 0.1),
                "luring": (0.0, 0.18, 0.28),
            },
        },
    },
}

# Table 14 (Appendix G): the same for MNIST.
LURING_TABLE_14: dict[str, dict[float, dict[str, Triple]]] = {
    "SPSA": {
        0.2: {
            "stack": (0.0, 0.96, 0.97),
            "auto": (0.03, 0.95, 0.95),
            "cross_entropy": (0.0, 0.97, 0.98),
            "luring": (0.14, 0.99, 0.99),
        },
        0.3: {
            "stack": (0.0, 0.86, 0.89),
            "auto": (0.03, 0.90, 0.92),
            "cross_entropy": (0.0, 0.94, 0.95),
            "luring": (0.05, 0.96, 0.97),
        },
        0.4: {
            "stack": (0.0, 0.72, 0.77),
            "auto": (0.0, 0.85, 0.87),
            "cross_entropy": (0.0, 0.88, 0.91),
            "luring": (0.02, 0.95, 0.96),
        },
    },
    "ECO": {
        0.2: {
            "stack": (0.03, 0.86, 0.92),
            "auto": (0.03, 0.86, 0.88),
            "cross_entropy": (0.01, 0.91, 0.93),
            "luring": (0.05, 0.99, 1.0),
        },
        0.3: {
            "stack": (0.02, 0.56, 0.65),
            "auto": (0.03, 0.68, 0.7),
            "cross_entropy": (0.01, 0.8, 0.87),
            "luring": (0.02, 0.91, 0.96),
        },
        0.4: {
            "stack": (0.01, 0.35, 0.54),
            "auto": (0.03, 0.36, 0.46),
            "cross_entropy": (0.01, 0.45, 0.48),
            "luring": (0.03, 0.77, 0.79),
        },
    },
    "MIM-W": {
        0.2: {
            "stack": (0.0, 0.79, 0.82),
            "auto": (0.0, 0.81, 0.82),
            "cross_entropy": (0.0, 0.85, 0.88),
            "luring": (0.19, 0.92, 0.93),
        },
        0.3: {
            "stack": (0.0, 0.31, 0.45),
            "auto": (0.0, 0.35, 0.45),
            "cross_entropy": (0.0, 0.43, 0.57),
            "luring": (0.13, 0.69, 0.75),
        },
        0.4: {
            "stack": (0.0, 0.07, 0.24),
            "auto": (0.0, 0.07, 0.17),
            "cross_entropy": (0.0, 0.13, 0.31),
            "luring": (0.07, 0.34, 0.45),
        },
    },
}

# Tables 1 and 14 together, keyed by paper data set: what `luring_defense` prints beside ours.
LURING_DEFENSE_TABLE: dict[str, dict[str, dict[float, dict[str, Triple]]]] = {
    "mnist": LURING_TABLE_14,
    **LURING_TABLE_1,
}

# Table 19 (Appendix H.2): MIM-W (AC_{M,wb}, AC_M, DAC) for Luring on a classically trained M
# ("luring") and on an adversarially trained M ("advtrain_luring"), at one ε per data set.
# AC_{M,wb} is M's accuracy under white-box PGD (40 iterations, step 0.01).
LURING_TABLE_19: dict[str, dict[str, float | Triple]] = {
    "mnist": {"epsilon": 0.3, "luring": (0.0, 0.69, 0.75), "advtrain_luring": (0.82, 0.97, 0.98)},
    "svhn": {
        "epsilon": 0.03,
        "luring": (0.0, 0.81, 0.87),
        "advtrain_luring": (0.45, 0.898, 0.911),
    },
    "cifar10": {
        "epsilon": 0.03,
        "luring": (0.0, 0.30, 0.39),
        "advtrain_luring": (0.41, 0.85, 0.88),
    },
}


def paper_dataset_name(dataset: str | None) -> str | None:
    """The paper data set a suite data set is compared with ("mnist5k" → "mnist"); None for
    None or a data set the paper does not have (no paper numbers are printed then)."""
    if dataset is None:
        return None
    name = PAPER_DATASET.get(dataset, dataset)
    return name if name in LURING_TABLE_8 else None


def paper_agreement(dataset: str | None, approach: str) -> tuple[float | None, float | None]:
    """Table 8 (TEST, AGREE) of `approach` ("target" for BASE); (None, None) if absent."""
    name = paper_dataset_name(dataset)
    return LURING_TABLE_8.get(name or "", {}).get(approach, (None, None))


def paper_distortion(dataset: str | None, approach: str) -> tuple[float | None, float | None]:
    """Table 9 (mean l2, mean l∞) of CWL2 on `approach` ("target": M); (None, None) if absent."""
    name = paper_dataset_name(dataset)
    return LURING_TABLE_9.get(name or "", {}).get(approach, (None, None))


def paper_logits(dataset: str | None) -> tuple[float, ...] | None:
    """Table 10's row of `dataset` (10 per-class rates), None for MNIST or another data set."""
    return LURING_TABLE_10.get(paper_dataset_name(dataset) or "")


def paper_epsilons(dataset: str | None, row: str) -> tuple[float, ...]:
    """The ε values Table 1 / Table 14 has for `row` (SPSA, ECO, MIM-W) on `dataset`."""
    name = paper_dataset_name(dataset)
    return tuple(LURING_DEFENSE_TABLE.get(name or "", {}).get(row, {}))


def paper_defense(
    dataset: str | None, row: str, epsilon: float | None, approach: str
) -> tuple[float | None, float | None, float | None]:
    """Table 1 / Table 14 (AC_MoP, AC_M, DAC) of `row` at `epsilon` for `approach`.

    ε matches a paper ε within `EPSILON_TOLERANCE`; (None, None, None) where the paper has
    no such data set, row, ε or approach (e.g. Auto on CIFAR10, ε = 0.1 on MNIST).
    """
    name = paper_dataset_name(dataset)
    if epsilon is None or (isinstance(epsilon, float) and math.isnan(epsilon)):
        return None, None, None
    by_epsilon = LURING_DEFENSE_TABLE.get(name or "", {}).get(row, {})
    for paper_epsilon, by_approach in by_epsilon.items():
        if math.isclose(paper_epsilon, float(epsilon), rel_tol=0.0, abs_tol=EPSILON_TOLERANCE):
            return by_approach.get(approach, (None, None, None))
    return None, None, None
