"""The attack registry: `build(name, **params)` for every attack the suite knows."""

from __future__ import annotations

import inspect
from typing import Any

from decoybench.attacks import foolbox_attacks as fb
from decoybench.attacks.adaptive import (
    CombinedCarliniWagnerL2,
    CombinedLinfPGD,
    OrthogonalPGD,
    OrthogonalPGDL2,
)
from decoybench.attacks.apgd import APGDCrossEntropy, APGDTargetedDLR
from decoybench.attacks.base import Attack
from decoybench.attacks.blb import BoxConstrainedLBFGS
from decoybench.attacks.bpda import BPDA
from decoybench.attacks.cw2_combined import CombinedLossCarliniWagnerL2
from decoybench.attacks.decision import HopSkipJump
from decoybench.attacks.eco import ECO
from decoybench.attacks.iterative import DIM, DIMTI, MIMTI
from decoybench.attacks.jsma import JSMA
from decoybench.attacks.optmargin import OptMargin
from decoybench.attacks.rfgsm import RFGSM, RLLC
from decoybench.attacks.spsa import SPSA
from decoybench.attacks.uap import UAP

ATTACK_CLASSES: tuple[type[Attack], ...] = (
    fb.FGSM,
    fb.BIM,
    fb.IGS,
    fb.LinfPGD,
    fb.L2PGD,
    fb.LLC,
    fb.ILLC,
    fb.MIM,
    fb.MIML2,
    fb.UMIFGSM,
    fb.TMIFGSM,
    fb.DeepFool,
    fb.DeepFoolLinf,
    fb.CarliniWagnerL2,
    CombinedLossCarliniWagnerL2,
    fb.EAD,
    RFGSM,
    RLLC,
    DIM,
    MIMTI,
    DIMTI,
    UAP,
    BPDA,
    SPSA,
    ECO,
    HopSkipJump,
    JSMA,
    BoxConstrainedLBFGS,
    OptMargin,
    CombinedLinfPGD,
    CombinedCarliniWagnerL2,
    OrthogonalPGD,
    OrthogonalPGDL2,
    APGDCrossEntropy,
    APGDTargetedDLR,
)
ATTACKS: dict[str, type[Attack]] = {cls.name: cls for cls in ATTACK_CLASSES}


def attack_parameters(name: str) -> dict[str, inspect.Parameter]:
    """The constructor parameters of attack `name` (without `self`)."""
    signature = inspect.signature(_attack_class(name).__init__)
    return {key: value for key, value in signature.parameters.items() if key != "self"}


def _attack_class(name: str) -> type[Attack]:
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; allowed: {', '.join(sorted(ATTACKS))}")
    return ATTACKS[name]


def build(name: str, target: str | None = None, **params: Any) -> Attack:
    """Instantiate attack `name` with target mode `target` (None: the attack's default).

    Unknown names, parameters or target modes are rejected with the allowed ones.
    """
    allowed = attack_parameters(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"attack {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(allowed)}"
        )
    missing = [
        key
        for key, parameter in allowed.items()
        if parameter.default is inspect.Parameter.empty and key not in params
    ]
    if missing:
        raise ValueError(f"attack {name!r} needs parameter {', '.join(map(repr, missing))}")
    attack = _attack_class(name)(**params)
    attack.set_target_mode(target)
    return attack


def build_from_config(entry: dict[str, Any]) -> Attack:
    """Build from an `attacks.<name>` config entry: `{attack: <name>, target: <mode>, **params}`."""
    params = dict(entry)
    return build(params.pop("attack"), **params)
