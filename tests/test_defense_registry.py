"""The defense-type registry: discovery, names, the derived schema, the attacker interface."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from decoybench import defense_registry
from decoybench.config import ConfigError, defense_type, load_yaml, validate_config
from decoybench.defense_registry import DefenseType, Detector
from decoybench.papers.luring.tables.inputs import is_luring_defense
from decoybench.papers.multitask.tables.inputs import is_multitask_defense

ROOT = Path(__file__).resolve().parents[1]


def test_every_paper_package_registers_its_types_in_order() -> None:
    names = [entry.name for entry in defense_registry.defense_types()]
    assert names == [
        "undefended", "attractor", "lid", "feature_squeezing", "magnet", "trapdoor",
        "luring", "multitask",
    ]  # fmt: skip
    papers = {entry.name: entry.paper for entry in defense_registry.defense_types()}
    assert papers["luring"] == "luring" and papers["magnet"] == "baselines"
    assert defense_registry.types_where(detection_only=True) == (
        "lid", "feature_squeezing", "magnet",
    )  # fmt: skip
    assert defense_registry.types_where(publishes_model=True) == ("trapdoor", "luring")
    assert defense_registry.types_where(compared=True) == (
        "attractor", "lid", "feature_squeezing", "magnet", "trapdoor",
    )  # fmt: skip


@pytest.mark.parametrize("entry", defense_registry.defense_types()[1:], ids=lambda e: e.name)
def test_every_type_has_a_schema_a_builder_and_a_deployment(entry: DefenseType) -> None:
    schema = load_yaml(entry.schema_path())
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert callable(entry.build_function()) and callable(entry.deploy_function())
    assert entry.build_rule and entry.build_outputs["defense"] == "defense.json"
    assert set(entry.artifacts) <= set(entry.build_outputs)
    assert entry.detector is not None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("undefended", "undefended"),
        ("attractor", "attractor"),
        ("luring_stack", "luring"),
        ("luring-stack", "luring"),
        ("feature_squeezing", "feature_squeezing"),
        ("feature_squeezing_5bit", "feature_squeezing"),
        ("multitask-nolock", "multitask"),
        ("attractor_b", None),
        ("undefended_x", None),
        ("feature", None),
        ("lidar", None),
    ],
)
def test_a_config_name_has_one_type_or_none(name: str, expected: str | None) -> None:
    entry = defense_registry.type_of(name)
    assert (entry and entry.name) == expected
    if expected is None:
        with pytest.raises(ConfigError, match=rf"unknown defense '{name}'; allowed: undefended"):
            defense_type(name)


def test_tables_and_schema_agree_on_variant_names() -> None:
    """The drift the registry removed: the schema took `luring-x`, the tables only `luring_`."""
    for name in ("luring", "luring_x", "luring-x"):
        assert is_luring_defense(name)
    assert not is_luring_defense("lurings")
    assert is_multitask_defense("multitask-x") and not is_multitask_defense("luring")
    config = load_yaml(ROOT / "config" / "config.yaml")
    config = copy.deepcopy(config)
    config["defenses"]["luring-x"] = config["defenses"]["luring"]
    validate_config(config)


def test_the_defenses_schema_is_derived_from_the_registry() -> None:
    schema = defense_registry.defenses_schema({"type": "object"})
    assert set(schema["properties"]) == {"attractor"}
    assert "^luring([_-][A-Za-z0-9_-]+)?$" in schema["patternProperties"]
    assert len(schema["patternProperties"]) == 6
    config = copy.deepcopy(load_yaml(ROOT / "config" / "config.yaml"))
    config["defenses"]["magnet"]["bogus"] = 1
    with pytest.raises(ConfigError, match=r"unknown key 'bogus' in defenses\.magnet"):
        validate_config(config)


def test_a_settings_key_naming_an_attack_is_cross_checked() -> None:
    config = copy.deepcopy(load_yaml(ROOT / "config" / "config.yaml"))
    config["defenses"]["lid"]["training_attack"] = "no_such_attack"
    with pytest.raises(ConfigError, match=r"defenses\.lid\.training_attack = 'no_such_attack'"):
        validate_config(config)


def test_overlapping_or_repeated_names_are_refused() -> None:
    feature = DefenseType(name="feature", title="F", summary="", kinds=("forensic",))
    squeezing = defense_registry.get("feature_squeezing")
    with pytest.raises(ValueError, match="'feature' and 'feature_squeezing' overlap"):
        defense_registry.check_disjoint((feature, squeezing))
    with pytest.raises(ValueError, match="'feature' is registered twice"):
        defense_registry.check_disjoint((feature, feature))
    exact = DefenseType(name="feature", title="F", summary="", kinds=("forensic",), variants=False)
    assert defense_registry.check_disjoint((exact, squeezing))


def test_an_entry_is_checked_when_declared() -> None:
    with pytest.raises(ValueError, match=r"kinds .* must be a non-empty subset"):
        DefenseType(name="x", title="X", summary="", kinds=("sideways",))
    with pytest.raises(ValueError, match="expected"):
        DefenseType(name="X-1", title="X", summary="", kinds=("forensic",))
    with pytest.raises(ValueError, match="surrogate"):
        Detector("thresholded", gradient="surrogate")
    with pytest.raises(ValueError, match="allowed values"):
        Detector("x", gradient="magic")
    entry = DefenseType(name="x", title="X", summary="", kinds=("forensic",), builder="m:f")
    assert entry.build_rule == "build_x_defense"
    with pytest.raises(ValueError, match="unknown defense type 'nothing'; known: undefended"):
        defense_registry.get("nothing")


def test_the_registry_describes_itself() -> None:
    table = defense_registry.describe()
    for entry in defense_registry.defense_types():
        assert f"| {entry.name} |" in table
    assert "surrogate (straight-through squeezers" in table


def test_each_type_knows_the_tables_that_report_it() -> None:
    assert "luring_defense" in defense_registry.get("luring").tables()
    assert "baseline_comparison" not in defense_registry.get("luring").tables()
    attractor = defense_registry.get("attractor").tables()
    assert attractor[0] == "attractor_clean_accuracy" and "baseline_comparison" in attractor
    assert defense_registry.get("magnet").tables() == ("baseline_comparison", "baseline_luring")
    assert defense_registry.get("undefended").tables() == ()
