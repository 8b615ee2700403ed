"""Workflow configuration: load, validate against the JSON schema, cross-check, hash.

Kept free of heavy imports: the Snakefile calls it at parse time, before any job runs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from decoybench import defense_registry
from decoybench.defenses.system import DEPLOY_OPTIONS

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA_PATH = REPOSITORY_ROOT / "config" / "schema.yaml"
PRESET_KEYS = ("description", "setting", "include", "attacks")


def defense_type(name: str) -> str:
    """The registered type (decoybench.defense_registry) of config defense name `name`:
    the type's name for it and, where the type has variants, for every `<type>_<x>` /
    `<type>-<x>` (one entry per variant compared, e.g. `luring_stack`)."""
    entry = defense_registry.type_of(name)
    if entry is None:
        raise ConfigError(
            f"invalid config: unknown defense {name!r}; allowed: {defense_registry.allowed_names()}"
        )
    return entry.name


class ConfigError(ValueError):
    """A configuration problem, described in one line that names the bad key or value."""


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, naming the file in any error."""
    path = Path(path)
    try:
        with path.open() as handle:
            loaded = yaml.safe_load(handle)
    except FileNotFoundError as error:
        raise ConfigError(f"config file {path} does not exist") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from error
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(loaded).__name__}")
    return loaded


def _location(path: Any) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """Turn a jsonschema error into one line naming the key, the value and what is allowed."""
    where = _location(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        unknown = sorted(
            key
            for key in set(error.instance) - set(allowed)
            if not any(re.search(pattern, key) for pattern in patterns)
        )
        names = ", ".join(map(repr, unknown))
        keys = ", ".join([*allowed, *(f"names matching {pattern}" for pattern in patterns)])
        return f"unknown key {names} in {where}; allowed keys: {keys}"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{where} = {error.instance!r} is not allowed; allowed values: {allowed}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator == "type":
        return f"{where} = {error.instance!r} has the wrong type; expected {error.validator_value}"
    return f"{where}: {error.message}"


def _most_specific(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    """The deepest error, descending into oneOf/anyOf branches other than the `null` one."""
    error = max(errors, key=lambda e: len(e.absolute_path))
    while error.validator in ("oneOf", "anyOf") and error.context:
        branches = [e for e in error.context if e.schema != {"type": "null"}]
        error = max(branches or error.context, key=lambda e: len(e.absolute_path))
    return error


def _sibling_schemas(schema_path: Path) -> Registry:
    """Register the `*.schema.yaml` files beside the main schema for its relative `$ref`s."""
    resources = [
        (path.name, Resource.from_contents(load_yaml(path), default_specification=DRAFT202012))
        for path in sorted(schema_path.parent.glob("*.schema.yaml"))
    ]
    return Registry().with_resources(resources)


def validate_schema(config: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA_PATH) -> None:
    """Validate `config` against the JSON schema; raise ConfigError with a one-line reason."""
    schema_path = Path(schema_path)
    schema = load_yaml(schema_path)
    properties = schema.get("properties", {})
    if "defenses" in properties:
        properties["defenses"] = defense_registry.defenses_schema(properties["defenses"])
    validator = jsonschema.Draft202012Validator(schema, registry=_sibling_schemas(schema_path))
    errors = list(validator.iter_errors(config))
    if not errors:
        return
    error = _most_specific(errors)
    if error.validator == "enum" and "propertyNames" in error.absolute_schema_path:
        allowed = ", ".join(map(str, error.validator_value))
        message = (
            f"unknown name {error.instance!r} in {_location(error.absolute_path)}; "
            f"allowed names: {allowed}"
        )
    else:
        message = _describe(error)
    raise ConfigError(f"invalid config: {message}")


def _require_known(kind: str, name: str, known: dict[str, Any], where: str) -> None:
    if name not in known:
        raise ConfigError(
            f"invalid config: {where} = {name!r} is not a known {kind}; "
            f"allowed values: {', '.join(sorted(known))}"
        )


def cross_check(config: dict[str, Any]) -> None:
    """Check the references between keys that JSON Schema cannot express."""
    for index, dataset in enumerate(config["targets"]):
        _require_known("dataset", dataset, config["datasets"], f"targets.{index}")
    for name, entry in config["datasets"].items():
        total = sum(entry["split"].values())
        if abs(total - 1.0) > 1e-9:
            raise ConfigError(
                f"invalid config: datasets.{name}.split fractions sum to {total:g}; expected 1"
            )
    _require_known("model", config["victim"], config["models"], "victim")
    for name, setting in config["settings"].items():
        if "source" in setting:
            _require_known("model", setting["source"], config["models"], f"settings.{name}.source")
        if setting.get("ensemble_with_public") and (
            setting["kind"] != "transfer" or "source" not in setting
        ):
            raise ConfigError(
                f"invalid config: settings.{name}.ensemble_with_public needs kind transfer and "
                "a `source` model (the substitute averaged with the public model)"
            )
        for key in DEPLOY_OPTIONS:
            if key in setting and setting["kind"] != "adaptive":
                raise ConfigError(
                    f"invalid config: settings.{name}.{key} is an option of adaptive settings; "
                    f"setting {name!r} is of kind {setting['kind']!r}"
                )
    sizes: dict[tuple[str, str, str], Any] = {}
    for index, cell in enumerate(config["evaluation"]["cells"]):
        where = f"evaluation.cells.{index}"
        for attack in cell["attacks"]:
            key = (cell["setting"], cell["defense"], attack)
            size = cell.get("n_samples", config["evaluation"].get("n_samples"))
            if sizes.setdefault(key, size) != size:
                raise ConfigError(
                    f"invalid config: {where} attacks {attack!r} in {cell['setting']}/"
                    f"{cell['defense']} with n_samples {size}, but an earlier cell uses "
                    f"{sizes[key]}; one adversarial set has one size"
                )
        _require_known("setting", cell["setting"], config["settings"], f"{where}.setting")
        defense, kind = cell["defense"], config["settings"][cell["setting"]]["kind"]
        if defense != "undefended" and defense not in (config.get("defenses") or {}):
            raise ConfigError(
                f"invalid config: {where}.defense = {defense!r} is not configured in "
                f"`defenses`; configured: {', '.join(config.get('defenses') or {}) or 'none'}"
            )
        entry = defense_registry.get(defense_type(defense))
        if kind not in entry.kinds:
            raise ConfigError(
                f"invalid config: {where}: setting {cell['setting']!r} is of kind {kind!r}, "
                f"which defense {defense!r} has no meaning in; allowed kinds: "
                f"{', '.join(entry.kinds)}"
            )
        setting = config["settings"][cell["setting"]]
        if kind == "transfer" and "source" not in setting and not entry.publishes_model:
            raise ConfigError(
                f"invalid config: {where}: transfer setting {cell['setting']!r} has no `source` "
                f"model, and defense {defense!r} publishes no model to craft on; give "
                f"settings.{cell['setting']}.source (a key of `models`)"
            )
        if setting.get("ensemble_with_public") and not entry.publishes_model:
            raise ConfigError(
                f"invalid config: {where}: setting {cell['setting']!r} averages the source "
                f"with the public model, and defense {defense!r} publishes none"
            )
        _check_deploy_options(cell, setting, entry, where)
        for position, attack in enumerate(cell["attacks"]):
            _require_known("attack", attack, config["attacks"], f"{where}.attacks.{position}")
        if entry.detection_only and kind != "adaptive":  # adaptive cells craft their own
            _check_detection_only_cell(config, cell, where)
    for name, entry in (config.get("defenses") or {}).items():
        for key in defense_registry.get(defense_type(name)).attack_settings:
            if key in entry:
                _require_known("attack", entry[key], config["attacks"], f"defenses.{name}.{key}")


def whitebox_setting(config: dict[str, Any]) -> str | None:
    """The first setting of kind whitebox: whose undefended adversarial sets the cells of a
    detection-only defense (DefenseType.detection_only) score."""
    for name, setting in config["settings"].items():
        if setting["kind"] == "whitebox":
            return name
    return None


def _check_deploy_options(
    cell: Mapping[str, Any], setting: Mapping[str, Any], entry: Any, where: str
) -> None:
    """An adaptive setting's `gradient` / `deployed` must be ones the cell's defense type
    deploys (`DefenseType.gradients`, `.deployments`): no exact attack standing in for BPDA."""
    for key, allowed in (("gradient", entry.gradients), ("deployed", entry.deployments)):
        value = setting.get(key)
        if value is not None and value not in allowed:
            raise ConfigError(
                f"invalid config: {where}: setting {cell['setting']!r} has `{key}: {value}`, "
                f"which defense {cell['defense']!r} (type {entry.name!r}) has no deployment "
                f"for; its {key} values: {', '.join(allowed)}"
            )


def _check_detection_only_cell(config: dict[str, Any], cell: dict[str, Any], where: str) -> None:
    if whitebox_setting(config) is None:
        raise ConfigError(
            f"invalid config: {where}: defense {cell['defense']!r} scores the white-box sets "
            "of the undefended victim, but no setting has kind whitebox; add one to `settings`"
        )
    if "n_samples" in cell:
        raise ConfigError(
            f"invalid config: {where}.n_samples: defense {cell['defense']!r} scores the "
            f"white-box sets of the undefended victim, whose size their own cells set; remove "
            "n_samples here (set it on the whitebox/undefended cell)"
        )


def preset_names(presets_dir: str | Path) -> list[str]:
    """Names of the attack presets: the YAML files of config/attacks/."""
    return sorted(path.stem for path in Path(presets_dir).glob("*.yaml"))


def load_preset(
    name: str, presets_dir: str | Path, _including: tuple[str, ...] = ()
) -> tuple[dict[str, Any], str]:
    """Attack entries of preset `name` (labels prefixed `name.`, included presets first)
    and the setting its cell uses."""
    presets_dir = Path(presets_dir)
    path = presets_dir / f"{name}.yaml"
    if not path.exists():
        allowed = ", ".join(preset_names(presets_dir))
        raise ConfigError(f"invalid config: unknown attack preset {name!r}; allowed: {allowed}")
    if name in _including:
        raise ConfigError(f"invalid config: attack preset {name!r} includes itself")
    preset = load_yaml(path)
    unknown = sorted(set(preset) - set(PRESET_KEYS))
    if unknown:
        raise ConfigError(
            f"invalid attack preset {path}: unknown key {', '.join(map(repr, unknown))}; "
            f"allowed keys: {', '.join(PRESET_KEYS)}"
        )
    attacks: dict[str, Any] = {}
    for included in preset.get("include") or []:
        attacks.update(load_preset(included, presets_dir, (*_including, name))[0])
    for label, entry in (preset.get("attacks") or {}).items():
        attacks[f"{name}.{label}"] = entry
    return attacks, preset.get("setting", "whitebox")


def expand_presets(config: dict[str, Any], presets_dir: str | Path) -> dict[str, Any]:
    """Expand attack presets. A cell's `presets` join its `attacks` (labels `preset.attack`);
    a cell may also name single preset attacks as `preset.attack`; every preset named in
    `attack_presets` (a list, or a comma-separated string from `--config
    attack_presets=a,b`) adds one cell attacking the undefended victim in the preset's
    setting. Preset attacks used are added to `attacks`."""
    names = config.get("attack_presets") or []
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",") if name.strip()]
    expanded = copy.deepcopy(config)
    expanded["attack_presets"] = list(names)
    for cell in expanded["evaluation"]["cells"]:
        for name in cell.pop("presets", None) or []:
            attacks, _ = load_preset(name, presets_dir)
            expanded["attacks"].update(attacks)
            cell["attacks"] = [*cell.get("attacks", []), *attacks]
    known_presets = set(preset_names(presets_dir))
    for cell in expanded["evaluation"]["cells"]:
        for label in cell.get("attacks", []):
            preset, _, _ = label.partition(".")
            if label not in expanded["attacks"] and preset in known_presets:
                attacks, _ = load_preset(preset, presets_dir)
                if label in attacks:
                    expanded["attacks"][label] = attacks[label]
    for name in names:
        attacks, setting = load_preset(name, presets_dir)
        expanded["attacks"].update(attacks)
        expanded["evaluation"]["cells"].append(
            {"setting": setting, "defense": "undefended", "attacks": list(attacks)}
        )
    return expanded


def drop_disabled_defenses(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of `config` without the defenses set to null: a config merged over the default
    (`--configfile`, mappings merge key by key) switches a default defense off that way,
    e.g. `defenses: {attractor: null}`."""
    pruned = copy.deepcopy(config)
    defenses = pruned.get("defenses")
    if isinstance(defenses, dict):
        pruned["defenses"] = {name: entry for name, entry in defenses.items() if entry is not None}
    return pruned


def prepare_config(config: dict[str, Any], presets_dir: str | Path) -> dict[str, Any]:
    """The config jobs see, before validation: defenses set to null dropped, then attack
    presets expanded (what the Snakefile does to the merged config)."""
    return expand_presets(drop_disabled_defenses(config), presets_dir)


def validate_config(config: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA_PATH) -> None:
    """Schema validation, then cross-references. Raises ConfigError naming the bad key."""
    validate_schema(config, schema_path)
    cross_check(config)


def config_hash(value: Any) -> str:
    """SHA-256 of the canonical JSON of `value` (sorted keys): equal configs, equal hashes."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
