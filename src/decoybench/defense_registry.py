"""The defense-type registry: what a type of defense is, declared once.

Each paper package (`decoybench.papers.<paper>`) declares its defense types in a light
`defense_type.py` module (no torch at import: the Snakefile reads the registry at parse
time) holding `DEFENSE_TYPES`, a tuple of `DefenseType`. The registry finds them by
scanning the subpackages of `decoybench.papers`, so adding a type is its package folder
with that module; the config schema, the build rules, the deployment of a cell and the
detector comparison table all derive from the entries.

A config names a defense `<type>` or, for a type with variants, `<type>_<x>` / `<type>-<x>`
(one entry per variant compared, e.g. `luring_stack`). `undefended`, the bare victim, is
the one built-in type.

The attacker's interface of a deployed defense is `DeployedSystem`
(decoybench.defenses.system): the classifier it deploys (`model`, logits convention), what
a white-box attacker differentiates (`crafting_model`), the model it publishes (`public`),
its detectors by calibrated FPR (`detectors`, each with a continuous `score(x)` and
`is_adversarial(x)`) and recovery (`recover`). `DefenseType.detector` says what kind of
detector score a type has, and whether it is differentiable or needs a surrogate.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

# Setting kinds (docs/design.md): who crafts the attack on what, and what is scored.
SETTING_KINDS: tuple[str, ...] = (
    "whitebox",
    "forensic",
    "integrated",
    "transfer",
    "greybox",
    "near_whitebox",
    "decision",
    "adaptive",
)
# How a detector's score can be attacked: differentiable end to end, piecewise constant
# (needs a straight-through / BPDA surrogate), or no continuous score at all (a label check).
DETECTOR_GRADIENTS: tuple[str, ...] = ("differentiable", "surrogate", "label_check")
# What an adaptive attacker differentiates (a setting's `gradient`): the deployed system
# itself, or a type's BPDA surrogate of it (Athalye et al., ICML 2018).
ADAPTIVE_GRADIENTS: tuple[str, ...] = ("exact", "bpda")
_VARIANT_SUFFIX = r"([_-][A-Za-z0-9_-]+)?"


@dataclass(frozen=True)
class Detector:
    """What a type's detector gives an attacker: `gradient` (DETECTOR_GRADIENTS) and, for a
    surrogate, what stands in for the non-differentiable part."""

    description: str
    gradient: str = "differentiable"
    surrogate: str | None = None

    def __post_init__(self) -> None:
        if self.gradient not in DETECTOR_GRADIENTS:
            raise ValueError(
                f"detector gradient {self.gradient!r} is not allowed; allowed values: "
                f"{', '.join(DETECTOR_GRADIENTS)}"
            )
        if (self.gradient == "surrogate") != (self.surrogate is not None):
            raise ValueError("a detector names a surrogate exactly when its gradient is one")


@dataclass(frozen=True)
class DefenseType:
    """One type of defense.

    - `name`, `title` (its column label in tables), `paper` (its package under
      decoybench.papers, filled in by discovery), `summary` (one line).
    - `kinds`: the setting kinds a cell of this type may have.
    - `schema`: file name, in the package folder, of the JSON schema (YAML) of its entry
      under config `defenses`; it may use the main schema's `#/$defs/...`.
    - `builder`: "module:function" building it around the victim, called by the build rule
      with a `decoybench.defenses.system.BuildJob`; returns the measurements to log.
      `build_rule` names that rule (types may share one); `build_outputs`: output key ->
      file name under results/{dataset}/defenses/{defense}/ (`defense` is the sidecar
      every type writes); `artifacts`: the output keys logged to MLflow.
    - `deploy`: "module:function" returning the `DeployedSystem` a cell attacks and scores.
    - `detection_only`: leaves the victim unchanged, so its cells score the victim's
      white-box sets instead of crafting their own; `publishes_model`: a transfer attacker
      crafts on the model it publishes (luring's T = M∘P); `compared`: a column group of
      the detector comparison table (the attractors paper's Table III).
    - `attack_settings`: keys of its settings that name an attack of config `attacks`.
    - `variants`: names `<name>_<x>` / `<name>-<x>` allowed besides `<name>`.
    - `gradients`: the `gradient` values (ADAPTIVE_GRADIENTS) its adaptive settings may
      have (`bpda`: its `deploy` attacks a surrogate); `deployments`: the `deployed` values
      (`default` is the type's adaptive deployment; attractor: also `integrated`).

    Its tables (`tables()`) come from its paper package's `workflow` module.
    """

    name: str
    title: str
    summary: str
    kinds: tuple[str, ...]
    schema: str | None = None
    builder: str | None = None
    build_rule: str | None = None
    build_outputs: Mapping[str, str] = field(default_factory=lambda: {"defense": "defense.json"})
    artifacts: tuple[str, ...] = ("defense",)
    deploy: str | None = None
    detector: Detector | None = None
    detection_only: bool = False
    publishes_model: bool = False
    compared: bool = False
    attack_settings: tuple[str, ...] = ()
    variants: bool = True
    gpu: bool = True
    paper: str = ""
    gradients: tuple[str, ...] = ("exact",)
    deployments: tuple[str, ...] = ("default",)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"defense type name {self.name!r}: expected [a-z][a-z0-9_]*")
        unknown = sorted(set(self.kinds) - set(SETTING_KINDS))
        if not self.kinds or unknown:
            raise ValueError(
                f"defense type {self.name!r}: kinds {list(self.kinds)} must be a non-empty "
                f"subset of {', '.join(SETTING_KINDS)}"
            )
        if "exact" not in self.gradients or set(self.gradients) - set(ADAPTIVE_GRADIENTS):
            raise ValueError(
                f"defense type {self.name!r}: gradients {list(self.gradients)} must hold "
                f"'exact' and be a subset of {', '.join(ADAPTIVE_GRADIENTS)}"
            )
        if "defense" not in self.build_outputs:
            raise ValueError(f"defense type {self.name!r}: build_outputs must hold `defense`")
        if self.builder is not None and self.build_rule is None:
            object.__setattr__(self, "build_rule", f"build_{self.name}_defense")

    @property
    def pattern(self) -> str:
        """The regular expression of the config names of this type."""
        name = re.escape(self.name)
        return f"^{name}{_VARIANT_SUFFIX}$" if self.variants else f"^{name}$"

    def names(self, name: str) -> bool:
        """Whether config name `name` is of this type."""
        return re.fullmatch(self.pattern[1:-1], name) is not None

    def schema_path(self) -> Path | None:
        if self.schema is None:
            return None
        return Path(importlib.import_module(f"decoybench.papers.{self.paper}").__file__).parent / (
            self.schema
        )

    def tables(self) -> tuple[str, ...]:
        """The tables that report this type: its paper's (`TABLES` of
        decoybench.papers.<paper>.workflow, when the package has one) and, for a `compared`
        type, the detector comparison's (decoybench.papers.baselines.workflow)."""
        names: list[str] = []
        papers = [self.paper] if self.paper else []
        if self.compared:
            papers.append("baselines")
        for paper in dict.fromkeys(papers):
            try:
                workflow = importlib.import_module(f"decoybench.papers.{paper}.workflow")
            except ModuleNotFoundError as error:
                if error.name != f"decoybench.papers.{paper}.workflow":
                    raise
                continue
            names += [name for name in getattr(workflow, "TABLES", ()) if name not in names]
        return tuple(names)

    def build_function(self) -> Callable[..., dict[str, Any]]:
        return _resolve(self.builder, f"{self.name}.builder")

    def deploy_function(self) -> Callable[..., Any]:
        return _resolve(self.deploy, f"{self.name}.deploy")


UNDEFENDED = DefenseType(
    name="undefended",
    title="undefended",
    summary="the bare victim",
    kinds=("whitebox", "transfer", "adaptive"),
    variants=False,
)


def _resolve(reference: str | None, what: str) -> Callable[..., Any]:
    if reference is None:
        raise ValueError(f"defense type {what} is not set")
    module, _, function = reference.partition(":")
    return getattr(importlib.import_module(module), function)


def _discover() -> tuple[DefenseType, ...]:
    import decoybench.papers as papers

    found: list[DefenseType] = []
    for package in sorted(pkgutil.iter_modules(papers.__path__), key=lambda info: info.name):
        if not package.ispkg:
            continue
        try:
            module = importlib.import_module(f"decoybench.papers.{package.name}.defense_type")
        except ModuleNotFoundError as error:
            if error.name != f"decoybench.papers.{package.name}.defense_type":
                raise
            continue
        for entry in getattr(module, "DEFENSE_TYPES", ()):
            found.append(_in_paper(entry, package.name))
    return tuple(found)


def _in_paper(entry: DefenseType, paper: str) -> DefenseType:
    values = {name: getattr(entry, name) for name in entry.__dataclass_fields__}
    return DefenseType(**{**values, "paper": paper})


@cache
def defense_types() -> tuple[DefenseType, ...]:
    """Every registered type: `undefended`, then each paper package's, packages by name."""
    return check_disjoint((UNDEFENDED, *_discover()))


def check_disjoint(types: tuple[DefenseType, ...]) -> tuple[DefenseType, ...]:
    """`types`, once no name is registered twice and no type's name is a variant name of
    another's (a config name must have one type, and one schema)."""
    for index, entry in enumerate(types):
        for other in types[:index]:
            if entry.name == other.name:
                raise ValueError(f"defense type {entry.name!r} is registered twice")
            if other.names(entry.name) or entry.names(other.name):
                raise ValueError(
                    f"defense types {other.name!r} and {entry.name!r} overlap: one's name is "
                    "a variant name of the other"
                )
    return types


def get(name: str) -> DefenseType:
    """The registered type called `name` (ValueError naming the known types)."""
    for entry in defense_types():
        if entry.name == name:
            return entry
    known = ", ".join(entry.name for entry in defense_types())
    raise ValueError(f"unknown defense type {name!r}; known: {known}")


def type_of(name: str) -> DefenseType | None:
    """The type of config defense name `name`, or None."""
    for entry in defense_types():
        if entry.names(name):
            return entry
    return None


def allowed_names() -> str:
    """The config names a defense may have, for error messages."""
    return ", ".join(
        f"{entry.name}, {entry.name}_<name>" if entry.variants else entry.name
        for entry in defense_types()
    )


def types_where(**flags: bool) -> tuple[str, ...]:
    """Names of the types whose boolean fields equal `flags`, e.g. detection_only=True."""
    return tuple(
        entry.name
        for entry in defense_types()
        if all(getattr(entry, key) == value for key, value in flags.items())
    )


def defenses_schema(base: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON schema of config `defenses`: `base` (description, type) with one property
    (a type without variants) or pattern property per registered type, read from its file."""
    from decoybench.config import load_yaml

    schema = {**base, "additionalProperties": False, "properties": {}, "patternProperties": {}}
    for entry in defense_types():
        path = entry.schema_path()
        if path is None:
            continue
        if entry.variants:
            schema["patternProperties"][entry.pattern] = load_yaml(path)
        else:
            schema["properties"][entry.name] = load_yaml(path)
    return schema


def describe() -> str:
    """A Markdown table of the registered types (`python -m decoybench.defense_registry`)."""
    header = (
        "| type | paper | setting kinds | build rule | detector | detection-only "
        "| publishes a model | compared | tables |"
    )
    lines = [header, "|" + "---|" * 9]
    for entry in defense_types():
        detector = "—" if entry.detector is None else entry.detector.gradient
        if entry.detector is not None and entry.detector.surrogate:
            detector += f" ({entry.detector.surrogate})"
        lines.append(
            f"| {entry.name} | {entry.paper or '—'} | {', '.join(entry.kinds)} | "
            f"{entry.build_rule or '—'} | {detector} | {_yes(entry.detection_only)} | "
            f"{_yes(entry.publishes_model)} | {_yes(entry.compared)} | "
            f"{', '.join(entry.tables()) or '—'} |"
        )
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


if __name__ == "__main__":
    print(describe())
