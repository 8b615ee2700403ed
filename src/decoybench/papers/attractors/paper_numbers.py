"""The papers' own numbers, printed beside ours in every table (quoted, not measured).

Keys are the suite's dataset names; `mnist5k` is compared with the paper's full-MNIST figures
(the subset is smaller, so expect a gap in accuracy).
"""

from __future__ import annotations

# Attractors paper (Zhang et al. 2020), Table II: clean accuracy on 10,000 test images.
ATTRACTORS_TABLE_II: dict[str, dict[str, float]] = {
    "mnist": {"victim": 0.981, "defended": 0.980},
    "cifar10": {"victim": 0.901, "defended": 0.900},
}
PAPER_DATASET = {"mnist5k": "mnist", "mnist": "mnist", "cifar10": "cifar10", "svhn": "svhn"}

# Attractors paper, MNIST and CIFAR-10 columns of Tables I, III, IV and V, and Table VI
# (CIFAR-10 only), as fractions. None: the paper reports "No Adversarial Found" (LLC, RLLC,
# ILLC) or the value is not legible in the paper's table (some AUCs of Table III). Rows are
# the paper's attack names;
# `*` marks the rows run with the Trapdoor paper's settings (PGD*, CW2*, EAD*).
ATTRACTORS_ROWS = (
    "FGSM", "RFGSM", "BIM", "PGD", "PGD*", "UMIFGSM", "UAP", "DeepFool", "OM", "BPDA", "SPSA",
    "LLC", "RLLC", "ILLC", "TMIFGSM", "JSMA", "BLB", "CW2", "CW2*", "EAD", "EAD*",
)  # fmt: skip
# Table I (MNIST): ASR on C, ASR on M, detection on misclassified input, recovery on detected
# input, overall attack success rate.
_ATTRACTORS_TABLE_I_MNIST: dict[str, tuple[float, float, float | None, float | None, float]] = {
    "FGSM": (0.904, 0.003, 1.000, 1.000, 0.000),
    "RFGSM": (0.656, 0.001, 1.000, 1.000, 0.000),
    "BIM": (1.000, 0.042, 1.000, 1.000, 0.000),
    "PGD": (1.000, 0.071, 1.000, 1.000, 0.000),
    "UMIFGSM": (1.000, 0.034, 1.000, 1.000, 0.000),
    "UAP": (0.242, 0.003, 0.667, 1.000, 0.001),
    "DeepFool": (1.000, 0.255, 1.000, 1.000, 0.000),
    "OM": (1.000, 0.970, 0.876, 1.000, 0.120),
    "BPDA": (1.000, 0.070, 1.000, 1.000, 0.000),
    "SPSA": (0.968, 0.201, 1.000, 0.924, 0.000),
    "LLC": (0.077, 0.000, None, None, 0.000),
    "RLLC": (0.016, 0.000, None, None, 0.000),
    "ILLC": (0.775, 0.000, None, None, 0.000),
    "TMIFGSM": (0.916, 0.010, 1.000, 1.000, 0.000),
    "JSMA": (0.741, 0.051, 0.902, 0.935, 0.005),
    "BLB": (1.000, 0.064, 1.000, 1.000, 0.000),
    "CW2": (1.000, 0.116, 1.000, 1.000, 0.000),
    "EAD": (0.989, 0.062, 0.984, 1.000, 0.001),
}
# Table III, attractor-embedded columns (MNIST): TPR, FPR, AUC, overall attack success rate.
_ATTRACTORS_TABLE_III_MNIST: dict[str, tuple[float | None, float | None, float | None, float]] = {
    "FGSM": (1.000, 0.050, 1.000, 0.000),
    "RFGSM": (1.000, 0.050, 1.000, 0.000),
    "BIM": (1.000, 0.050, 1.000, 0.000),
    "PGD": (1.000, 0.050, 1.000, 0.000),
    "PGD*": (1.000, 0.050, 1.000, 0.000),
    "UMIFGSM": (1.000, 0.050, None, 0.000),
    "UAP": (0.667, 0.050, None, 0.001),
    "DeepFool": (1.000, 0.050, None, 0.000),
    "OM": (0.876, 0.050, None, 0.120),
    "BPDA": (1.000, 0.050, 1.000, 0.000),
    "SPSA": (1.000, 0.050, 1.000, 0.000),
    "LLC": (None, None, None, 0.000),
    "RLLC": (None, None, None, 0.000),
    "ILLC": (None, None, None, 0.000),
    "TMIFGSM": (1.000, 0.050, 1.000, 0.000),
    "JSMA": (0.902, 0.050, 0.932, 0.005),
    "BLB": (1.000, 0.050, 1.000, 0.000),
    "CW2": (1.000, 0.050, 1.000, 0.000),
    "CW2*": (1.000, 0.050, 1.000, 0.000),
    "EAD": (0.984, 0.050, 0.993, 0.001),
    "EAD*": (1.000, 0.050, 1.000, 0.000),
}
# Table IV (MNIST): TPR and overall attack success rate at 5% FPR, then at 0.5% FPR.
_ATTRACTORS_TABLE_IV_MNIST: dict[str, tuple[float | None, float, float | None, float]] = {
    "FGSM": (1.000, 0.000, 1.000, 0.000),
    "RFGSM": (1.000, 0.000, 1.000, 0.000),
    "BIM": (1.000, 0.000, 1.000, 0.000),
    "PGD": (1.000, 0.000, 1.000, 0.000),
    "UMIFGSM": (1.000, 0.000, 1.000, 0.000),
    "UAP": (0.667, 0.001, 0.667, 0.001),
    "DeepFool": (1.000, 0.000, 1.000, 0.000),
    "OM": (0.876, 0.120, 0.856, 0.140),
    "BPDA": (1.000, 0.000, 1.000, 0.000),
    "SPSA": (1.000, 0.000, 1.000, 0.000),
    "LLC": (None, 0.000, None, 0.000),
    "RLLC": (None, 0.000, None, 0.000),
    "ILLC": (None, 0.000, None, 0.000),
    "TMIFGSM": (1.000, 0.000, 1.000, 0.000),
    "JSMA": (0.902, 0.005, 0.882, 0.006),
    "BLB": (1.000, 0.000, 1.000, 0.000),
    "CW2": (1.000, 0.000, 1.000, 0.000),
    "EAD": (0.984, 0.001, 0.984, 0.001),
}
# Table V (MNIST): ASR on C, ASR on the integrated model M_(d,r).
_ATTRACTORS_TABLE_V_MNIST: dict[str, tuple[float, float]] = {
    "FGSM": (0.904, 0.007),
    "RFGSM": (0.656, 0.000),
    "BIM": (1.000, 0.007),
    "PGD": (1.000, 0.000),
    "UMIFGSM": (1.000, 0.007),
    "UAP": (0.242, 0.156),
    "DeepFool": (1.000, 0.019),
    "OM": (1.000, 0.175),
    "BPDA": (1.000, 0.000),
    "SPSA": (0.968, 0.008),
    "LLC": (0.077, 0.000),
    "RLLC": (0.016, 0.000),
    "ILLC": (0.775, 0.000),
    "TMIFGSM": (0.916, 0.011),
    "JSMA": (0.741, 0.031),
    "BLB": (1.000, 0.006),
    "CW2": (1.000, 0.019),
    "EAD": (0.989, 0.032),
}
# CIFAR-10 columns of the same tables.
_ATTRACTORS_TABLE_I_CIFAR10: dict[str, tuple[float, float, float | None, float | None, float]] = {
    "FGSM": (0.887, 0.535, 1.000, 0.998, 0.000),
    "RFGSM": (0.996, 0.627, 1.000, 1.000, 0.000),
    "BIM": (1.000, 0.868, 0.999, 0.998, 0.000),
    "PGD": (1.000, 0.946, 1.000, 1.000, 0.000),
    "UMIFGSM": (1.000, 1.000, 0.917, 0.981, 0.083),
    "UAP": (0.931, 0.870, 0.944, 0.109, 0.049),
    "DeepFool": (1.000, 0.995, 0.981, 0.991, 0.019),
    "OM": (1.000, 1.000, 0.819, 0.938, 0.181),
    "BPDA": (1.000, 0.921, 1.000, 1.000, 0.000),
    "SPSA": (0.902, 0.777, 1.000, 0.810, 0.000),
    "LLC": (0.132, 0.054, 0.981, 0.302, 0.001),
    "RLLC": (0.276, 0.160, 1.000, 0.277, 0.000),
    "ILLC": (1.000, 0.937, 0.970, 0.557, 0.028),
    "TMIFGSM": (1.000, 1.000, 0.896, 0.227, 0.104),
    "JSMA": (1.000, 1.000, 0.929, 0.109, 0.071),
    "BLB": (1.000, 1.000, 0.998, 0.616, 0.002),
    "CW2": (1.000, 1.000, 0.997, 0.978, 0.003),
    "EAD": (1.000, 0.775, 0.972, 0.954, 0.022),
}
_ATTRACTORS_TABLE_III_CIFAR10: dict[str, tuple[float | None, float | None, float | None, float]] = {
    "FGSM": (1.000, 0.050, 0.999, 0.000),
    "RFGSM": (1.000, 0.050, 1.000, 0.000),
    "BIM": (0.999, 0.050, 1.000, 0.000),
    "PGD": (1.000, 0.050, 1.000, 0.000),
    "PGD*": (1.000, 0.050, 1.000, 0.000),
    "UMIFGSM": (0.917, 0.050, 0.977, 0.083),
    "UAP": (0.944, 0.050, 0.972, 0.049),
    "DeepFool": (0.981, 0.050, 0.986, 0.019),
    "OM": (0.819, 0.050, 0.883, 0.181),
    "BPDA": (1.000, 0.050, 1.000, 0.000),
    "SPSA": (1.000, 0.050, 1.000, 0.000),
    "LLC": (0.981, 0.050, 0.999, 0.001),
    "RLLC": (1.000, 0.050, 1.000, 0.000),
    "ILLC": (0.970, 0.050, 0.978, 0.028),
    "TMIFGSM": (0.896, 0.050, 0.952, 0.104),
    "JSMA": (0.929, 0.050, 0.972, 0.071),
    "BLB": (0.998, 0.050, 0.999, 0.002),
    "CW2": (0.997, 0.050, 0.998, 0.003),
    "CW2*": (1.000, 0.050, 1.000, 0.000),
    "EAD": (0.972, 0.050, 0.983, 0.022),
    "EAD*": (1.000, 0.050, 1.000, 0.000),
}
_ATTRACTORS_TABLE_IV_CIFAR10: dict[str, tuple[float | None, float, float | None, float]] = {
    "FGSM": (1.000, 0.000, 1.000, 0.000),
    "RFGSM": (1.000, 0.000, 1.000, 0.000),
    "BIM": (0.999, 0.000, 0.999, 0.001),
    "PGD": (1.000, 0.000, 0.999, 0.001),
    "UMIFGSM": (0.917, 0.083, 0.863, 0.137),
    "UAP": (0.944, 0.049, 0.936, 0.056),
    "DeepFool": (0.981, 0.019, 0.980, 0.020),
    "OM": (0.819, 0.181, 0.811, 0.189),
    "BPDA": (1.000, 0.000, 0.999, 0.001),
    "SPSA": (1.000, 0.000, 1.000, 0.000),
    "LLC": (0.981, 0.001, 0.981, 0.001),
    "RLLC": (1.000, 0.000, 0.981, 0.003),
    "ILLC": (0.970, 0.028, 0.907, 0.087),
    "TMIFGSM": (0.896, 0.104, 0.811, 0.189),
    "JSMA": (0.929, 0.071, 0.901, 0.099),
    "BLB": (0.998, 0.002, 0.996, 0.004),
    "CW2": (0.997, 0.003, 0.997, 0.003),
    "EAD": (0.972, 0.022, 0.972, 0.022),
}
_ATTRACTORS_TABLE_V_CIFAR10: dict[str, tuple[float, float]] = {
    "FGSM": (0.887, 0.056),
    "RFGSM": (0.996, 0.065),
    "BIM": (1.000, 0.057),
    "PGD": (1.000, 0.071),
    "UMIFGSM": (1.000, 0.060),
    "UAP": (0.931, 0.393),
    "DeepFool": (1.000, 0.017),
    "OM": (1.000, 0.249),
    "BPDA": (1.000, 0.070),
    "SPSA": (0.902, 0.101),
    "LLC": (0.132, 0.022),
    "RLLC": (0.276, 0.040),
    "ILLC": (1.000, 0.076),
    "TMIFGSM": (1.000, 0.296),
    "JSMA": (1.000, 0.150),
    "BLB": (1.000, 0.071),
    "CW2": (1.000, 0.108),
    "EAD": (1.000, 0.096),
}
# By the paper's dataset name (PAPER_DATASET maps ours to it).
ATTRACTORS_TABLE_I = {"mnist": _ATTRACTORS_TABLE_I_MNIST, "cifar10": _ATTRACTORS_TABLE_I_CIFAR10}
ATTRACTORS_TABLE_III = {
    "mnist": _ATTRACTORS_TABLE_III_MNIST,
    "cifar10": _ATTRACTORS_TABLE_III_CIFAR10,
}
ATTRACTORS_TABLE_IV = {"mnist": _ATTRACTORS_TABLE_IV_MNIST, "cifar10": _ATTRACTORS_TABLE_IV_CIFAR10}
ATTRACTORS_TABLE_V = {"mnist": _ATTRACTORS_TABLE_V_MNIST, "cifar10": _ATTRACTORS_TABLE_V_CIFAR10}
# Table VI (CIFAR-10; the paper gives no MNIST row): mean L2 distortion of successful samples
# on C and on the integrated model M_(d,r).
ATTRACTORS_TABLE_VI: dict[str, tuple[float, float]] = {
    "BLB": (0.11, 4.81),
    "CW2": (0.11, 0.39),
    "EAD": (0.14, 0.27),
}
# Registry attack -> the paper's row name (untargeted / targeted variants where they differ).
ATTRACTORS_ATTACK_ROWS: dict[str, str] = {
    "fgsm": "FGSM",
    "rfgsm": "RFGSM",
    "bim": "BIM",
    "linf_pgd": "PGD",
    "umifgsm": "UMIFGSM",
    "mim": "UMIFGSM",
    "uap": "UAP",
    "deepfool": "DeepFool",
    "optmargin": "OM",
    "bpda": "BPDA",
    "spsa": "SPSA",
    "llc": "LLC",
    "rllc": "RLLC",
    "illc": "ILLC",
    "tmifgsm": "TMIFGSM",
    "jsma": "JSMA",
    "blb": "BLB",
    "cw2": "CW2",
    "ead": "EAD",
}
# The paper's targeted rows (Sec. VI-A: LLC, RLLC, ILLC, TMIFGSM, BLB, JSMA, CW, EAD; a
# random target, or the least likely class for the LLC family); the other ten are untargeted.
# A configured attack is compared with a row only when both are targeted or both are not.
ATTRACTORS_TARGETED_ROWS = frozenset(
    {"LLC", "RLLC", "ILLC", "TMIFGSM", "JSMA", "BLB", "CW2", "CW2*", "EAD", "EAD*"}
)
# Attack-preset prefix whose attacks are the paper's starred (Trapdoor-setting) rows.
ATTRACTORS_STARRED_PRESET = "trapdoor"


def attractors_row(label: str, attack: str, target_mode: str) -> str | None:
    """The attractors paper's row for a configured attack (`label`, registry `attack`): e.g.
    `deepsec-mnist.pgd` -> PGD, `trapdoor.pgd` -> PGD*, a targeted `mim` -> TMIFGSM; None
    when the paper has no such row, or has it only in the other target mode (an untargeted
    `cw2` is not the paper's targeted CW2: ATTRACTORS_TARGETED_ROWS)."""
    row = ATTRACTORS_ATTACK_ROWS.get(attack)
    if attack == "mim" and target_mode != "none":
        row = "TMIFGSM"
    if row is None or (row in ATTRACTORS_TARGETED_ROWS) != (target_mode != "none"):
        return None
    if label.split(".", 1)[0] == ATTRACTORS_STARRED_PRESET and f"{row}*" in ATTRACTORS_ROWS:
        return f"{row}*"
    return row
