"""Config validation: the default config is valid; bad input gets one line naming it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from decoybench.config import ConfigError, config_hash, load_yaml, validate_config


@pytest.fixture(scope="module")
def default_config(repository_root) -> dict[str, Any]:
    return load_yaml(repository_root / "config" / "config.yaml")


# The default config's first cell on the attractor defense (forensic setting).
FORENSIC_CELL = 7
# The default config's first cell on a luring defense.
LURING_CELL = 16


def test_default_config_is_valid(default_config: dict[str, Any]) -> None:
    validate_config(default_config)


CASES: list[tuple[Callable[[dict], None], str]] = [
    (lambda c: c.update(colour="red"), "unknown key 'colour' in <top level>; allowed keys:"),
    (
        lambda c: c["models"]["victim"].update(architecture="vgg19"),
        "models.victim.architecture = 'vgg19' is not allowed; allowed values: deepsec_mnist_cnn",
    ),
    (lambda c: c.update(seed="zero"), "seed = 'zero' has the wrong type; expected integer"),
    (
        lambda c: c["datasets"].update(imagenet=c["datasets"]["mnist5k"]),
        "unknown name 'imagenet' in datasets; allowed names: mnist5k, mnist, cifar10, svhn",
    ),
    (
        lambda c: c["attacks"]["fgsm_0.1"].update(steps=3),
        "unknown key 'steps' in attacks.fgsm_0.1; allowed keys: attack, epsilon, random_start",
    ),
    (
        lambda c: c["attacks"]["fgsm_0.1"].update(attack="zoo"),
        "attacks.fgsm_0.1.attack = 'zoo' is not allowed; allowed values: apgd_ce, "
        "apgd_dlr_targeted, bim, blb, bpda",
    ),
    (
        lambda c: c["settings"]["transfer_s_mnist"].update(source="ghost"),
        "settings.transfer_s_mnist.source = 'ghost' is not a known model; allowed values:",
    ),
    (lambda c: c.update(targets=["cifar10"]), "targets.0 = 'cifar10' is not a known dataset"),
    (lambda c: c["models"]["victim"].update(epochs=0), "models.victim.epochs: 0 is less than"),
    (
        lambda c: c["datasets"]["mnist5k"].update(max_images="all"),
        "datasets.mnist5k.max_images = 'all' has the wrong type; expected integer",
    ),
    (
        lambda c: c["datasets"]["mnist5k"]["split"].update(test=0.3),
        "datasets.mnist5k.split fractions sum to 1.2; expected 1",
    ),
    (
        lambda c: c.update(device="tpu"),
        "device = 'tpu' is not allowed; allowed values: auto, cpu, cuda",
    ),
    (
        lambda c: c["evaluation"]["cells"][0].update(attacks=["nope"]),
        "evaluation.cells.0.attacks.0 = 'nope' is not a known attack",
    ),
    (
        lambda c: c["evaluation"]["cells"][FORENSIC_CELL].update(defense="honeypot"),
        f"evaluation.cells.{FORENSIC_CELL}.defense = 'honeypot' is not configured in `defenses`; "
        "configured: attractor, luring, luring_stack, luring_auto, luring_ce",
    ),
    (
        lambda c: c["defenses"].update(honeypot={"approach": "luring"}),
        "unknown key 'honeypot' in defenses; allowed keys: attractor",
    ),
    (
        lambda c: c["defenses"]["luring"].update(approach="mimic"),
        "defenses.luring.approach = 'mimic' is not allowed; allowed values: luring, stack, auto",
    ),
    (
        lambda c: c["defenses"]["luring_ce"].update(lr=0.1),
        "unknown key 'lr' in defenses.luring_ce; allowed keys: approach, b_class, batch_size,",
    ),
    (
        lambda c: c["evaluation"]["cells"][LURING_CELL].update(setting="whitebox"),
        f"evaluation.cells.{LURING_CELL}: setting 'whitebox' is of kind 'whitebox', which defense "
        "'luring' has no meaning in; allowed kinds: transfer",
    ),
    (
        lambda c: c["evaluation"]["cells"][5].update(setting="transfer_public"),
        "evaluation.cells.5: transfer setting 'transfer_public' has no `source` model, and "
        "defense 'undefended' publishes no model to craft on; give settings.transfer_public.source",
    ),
    (
        lambda c: c["evaluation"]["cells"][0].update(defense="attractor"),
        "evaluation.cells.0: setting 'whitebox' is of kind 'whitebox', which defense "
        "'attractor' has no meaning in; allowed kinds: forensic, integrated, transfer",
    ),
    (
        lambda c: c["evaluation"]["cells"][FORENSIC_CELL].update(defense="undefended"),
        f"evaluation.cells.{FORENSIC_CELL}: setting 'forensic' is of kind 'forensic', which "
        "defense 'undefended' has no meaning in; allowed kinds: whitebox, transfer",
    ),
    (
        lambda c: c.pop("defenses"),
        f"evaluation.cells.{FORENSIC_CELL}.defense = 'attractor' is not configured in "
        "`defenses`; configured: none",
    ),
    (
        lambda c: c["evaluation"]["attractor_analysis"].update(density_radius=0),
        "evaluation.attractor_analysis.density_radius: 0 is less than or equal to the minimum",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), CASES)
def test_bad_config_gets_one_line_naming_it(default_config, mutate, expected) -> None:
    config = copy.deepcopy(default_config)
    mutate(config)
    with pytest.raises(ConfigError) as raised:
        validate_config(config)
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message


def test_committed_attack_schema_matches_the_registry(repository_root) -> None:
    from decoybench.attacks.schema import render

    committed = (repository_root / "config" / "attacks.schema.yaml").read_text()
    assert committed == render(), "stale: run python -m decoybench.attacks.schema"


def test_attack_parameters_are_typed_by_the_schema(default_config) -> None:
    config = copy.deepcopy(default_config)
    config["attacks"]["pgd_linf_0.3"]["steps"] = "forty"
    with pytest.raises(
        ConfigError, match=r"attacks\.pgd_linf_0\.3\.steps = 'forty' has the wrong type"
    ):
        validate_config(config)
    config["attacks"]["pgd_linf_0.3"].update(steps=40, target="sideways")
    with pytest.raises(
        ConfigError, match="target = 'sideways' is not allowed; allowed values: none"
    ):
        validate_config(config)


def test_config_hash_is_order_independent_and_content_sensitive() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_missing_or_malformed_config_file_is_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml is not valid YAML"):
        load_yaml(broken)


def test_one_adversarial_set_has_one_size(default_config) -> None:
    config = copy.deepcopy(default_config)
    cell = config["evaluation"]["cells"][0]
    config["evaluation"]["cells"].append({**cell, "n_samples": 7})
    with pytest.raises(ConfigError, match="one adversarial set has one size"):
        validate_config(config)


def test_every_attack_preset_expands_into_a_valid_config(repository_root, default_config) -> None:
    from decoybench.config import expand_presets, preset_names

    presets = repository_root / "config" / "attacks"
    names = preset_names(presets)
    assert {"deepsec-mnist", "deepsec-cifar10", "trapdoor", "paper"} <= set(names)
    for name in names:
        expanded = expand_presets({**default_config, "attack_presets": name}, presets)
        validate_config(expanded)
    everything = expand_presets({**default_config, "attack_presets": "paper"}, presets)
    # paper = every paper's attacks; the adaptive presets are decoybench's (issue 16).
    others = [n for n in names if n != "paper" and not n.startswith("adaptive-")]
    together = expand_presets({**default_config, "attack_presets": ",".join(others)}, presets)
    assert set(everything["attacks"]) == set(together["attacks"])  # paper = all the others


def test_unknown_preset_is_named(repository_root, default_config) -> None:
    from decoybench.config import expand_presets

    allowed = r"unknown attack preset 'nope'; allowed: adaptive-cifar10, .*deepsec-cifar10"
    with pytest.raises(ConfigError, match=allowed):
        expand_presets(
            {**default_config, "attack_presets": ["nope"]}, repository_root / "config" / "attacks"
        )


def test_cell_presets_join_the_cell(repository_root, default_config) -> None:
    from decoybench.config import expand_presets

    config = copy.deepcopy(default_config)
    config["evaluation"]["cells"] = [
        {"setting": "forensic", "defense": "attractor", "presets": ["trapdoor"]},
        {"setting": "whitebox", "defense": "undefended", "attacks": ["fgsm_0.1"],
         "presets": ["trapdoor"]},
    ]  # fmt: skip
    expanded = expand_presets(config, repository_root / "config" / "attacks")
    validate_config(expanded)
    trapdoor = load_yaml(repository_root / "config" / "attacks" / "trapdoor.yaml")["attacks"]
    labels = [f"trapdoor.{name}" for name in trapdoor]
    forensic, whitebox = expanded["evaluation"]["cells"]
    assert forensic["attacks"] == labels and "presets" not in forensic
    assert whitebox["attacks"] == ["fgsm_0.1", *labels]
    assert expanded["attacks"]["trapdoor.pgd"] == trapdoor["pgd"]
    assert "presets" in config["evaluation"]["cells"][0], "the input config is not modified"


# The baseline detectors of the default config (attractors Table III, luring Table 20).
BASELINES = ("lid", "feature_squeezing", "magnet", "trapdoor")
PAPER_CONFIGS = [
    "attractors-mnist",
    "attractors-cifar10",
    "luring-mnist",
    "luring-svhn",
    "luring-cifar10",
    "multitask-mnist",
    "multitask-cifar10",
]
# (in_channels, image_size) of each paper data set.
IMAGE_SHAPES = {"mnist": (1, 28), "svhn": (3, 32), "cifar10": (3, 32)}


def _merged_paper_config(repository_root, default_config, name: str) -> dict[str, Any]:
    """config/paper/<name>.yaml merged over the default as `--configfile` does, then
    prepared (null defenses dropped, presets expanded) as the Snakefile does."""
    from snakemake.utils import update_config

    from decoybench.config import prepare_config

    config = copy.deepcopy(default_config)
    update_config(config, load_yaml(repository_root / "config" / "paper" / f"{name}.yaml"))
    return prepare_config(config, repository_root / "config" / "attacks")


def test_paper_config_list_is_complete(repository_root) -> None:
    found = {path.stem for path in (repository_root / "config" / "paper").glob("*.yaml")}
    assert found == set(PAPER_CONFIGS)


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_every_paper_config_validates_with_its_baselines(
    repository_root, default_config, name
) -> None:
    """Each paper config validates merged over the default, keeps the baselines its paper
    compares with (attractors: all four; luring: Trapdoor; multitask: none) and gives each
    a trapdoor signature layer that exists in its victim: null (`features`) or the pooled
    output of the last convolutional block, as the default's 9 on DEEPSEC's MNIST CNN."""
    from torch import nn

    from decoybench.models.architectures import build_model

    expanded = _merged_paper_config(repository_root, default_config, name)
    validate_config(expanded)
    paper, dataset = name.split("-")
    expected = {"attractors": set(BASELINES), "luring": {"trapdoor"}, "multitask": set()}[paper]
    assert set(BASELINES) & set(expanded["defenses"]) == expected
    for baseline in expected:
        assert expanded["defenses"][baseline]["fprs"] == [0.05, 0.005]
    if "trapdoor" not in expected:
        return
    trapdoor = expanded["defenses"]["trapdoor"]
    assert (trapdoor["mask_size"], trapdoor["injection_ratio"]) == (6, 0.1)
    assert trapdoor["mask_ratio"] == (1.0 if dataset == "mnist" else 0.1)
    assert trapdoor["initialize"] == "victim" and trapdoor["epochs"] > 6  # the default's 6
    layer = trapdoor["signature_layer"]
    if layer is not None:
        in_channels, image_size = IMAGE_SHAPES[dataset]
        architecture = expanded["models"][expanded["victim"]]["architecture"]
        trunk = list(
            build_model(
                architecture, in_channels=in_channels, image_size=image_size, num_classes=10
            ).trunk.children()
        )
        assert 0 <= layer < len(trunk), (architecture, layer)
        assert isinstance(trunk[layer], nn.MaxPool2d), (architecture, trunk[layer])
        assert not any(isinstance(module, nn.Conv2d) for module in trunk[layer:])


@pytest.mark.parametrize("name", ["attractors-mnist", "attractors-cifar10"])
def test_attractors_baseline_cells(repository_root, default_config, name) -> None:
    """Table III: LID, FS and MagNet have one forensic cell each, scoring exactly the attacks
    of the whitebox/undefended cell (so every white-box set they score is crafted, at that
    cell's size); Trapdoor's forensic cell holds the Trapdoor paper's settings. The data set's
    papers' settings: LID k = 20 on minibatches of 100, trained on a preset attack; FS's
    squeezers; MagNet's detectors and the authors' schedule."""
    expanded = _merged_paper_config(repository_root, default_config, name)
    dataset = name.split("-")[1]
    cells = _papers_cells(expanded)
    (whitebox,) = [c for c in cells if (c["setting"], c["defense"]) == ("whitebox", "undefended")]
    trapdoor_preset = load_yaml(repository_root / "config" / "attacks" / "trapdoor.yaml")
    trapdoor_labels = [f"trapdoor.{label}" for label in trapdoor_preset["attacks"]]
    assert set(trapdoor_labels) <= set(whitebox["attacks"])
    for defense in ("lid", "feature_squeezing", "magnet"):
        (cell,) = [c for c in cells if c["defense"] == defense]
        assert expanded["settings"][cell["setting"]]["kind"] == "forensic"
        assert "n_samples" not in cell
        assert cell["attacks"] == whitebox["attacks"]
    (trapdoor,) = [c for c in cells if c["defense"] == "trapdoor"]
    assert expanded["settings"][trapdoor["setting"]]["kind"] == "forensic"
    assert trapdoor["attacks"] == trapdoor_labels

    defenses = expanded["defenses"]
    lid = defenses["lid"]
    assert (lid["k"], lid["batch_size"]) == (20, 100)
    assert lid["training_attack"] == f"deepsec-{dataset}.pgd"
    assert lid["training_attack"] in whitebox["attacks"] and lid["training_samples"] >= 1000
    bits = {"mnist": 1, "cifar10": 5}[dataset]
    assert defenses["feature_squeezing"]["squeezers"] == [
        {"squeezer": "bit_depth", "bits": bits},
        {"squeezer": "median", "size": 2},
    ]
    magnet = defenses["magnet"]
    detectors = {
        "mnist": [
            {"autoencoder": "mnist_i", "score": "reconstruction", "p": 2},
            {"autoencoder": "mnist_ii", "score": "reconstruction", "p": 1},
        ],
        "cifar10": [
            {"autoencoder": "cifar10", "score": "reconstruction", "p": 1},
            {"autoencoder": "cifar10", "score": "divergence", "temperature": 10.0},
            {"autoencoder": "cifar10", "score": "divergence", "temperature": 40.0},
        ],
    }[dataset]
    assert magnet["detectors"] == detectors
    assert magnet["reformer"] == {"mnist": "mnist_i", "cifar10": "cifar10"}[dataset]
    schedule = ("epochs", "batch_size", "learning_rate", "noise", "regularization")
    assert tuple(magnet[key] for key in schedule) == (100, 256, 1e-3, 0.1, 1e-9)


def _papers_cells(expanded: dict) -> list[dict]:
    """The cells of the paper's own evaluation: all but the adaptive (leaderboard) cells."""
    cells = expanded["evaluation"]["cells"]
    return [c for c in cells if expanded["settings"][c["setting"]]["kind"] != "adaptive"]


def test_paper_configs_have_full_budget_adaptive_cells(repository_root, default_config) -> None:
    """Issue 16: every paper config ranks its defenses (and the undefended victim) under the
    adaptive attacks at full budget, on its data set's threat models."""
    for path in sorted((repository_root / "config" / "paper").glob("*.yaml")):
        expanded = _merged_paper_config(repository_root, default_config, path.stem)
        adaptive = [
            c for c in expanded["evaluation"]["cells"]
            if expanded["settings"][c["setting"]]["kind"] == "adaptive"
        ]  # fmt: skip
        dataset = "mnist" if path.stem.endswith("mnist") else "cifar10"
        defenses = {c["defense"] for c in adaptive}
        assert {"undefended"} < defenses <= {"undefended", *expanded["defenses"]}, path.stem
        for cell in adaptive:
            assert all(label.startswith(f"adaptive-{dataset}.") for label in cell["attacks"])
            steps = [expanded["attacks"][label].get("steps", 0) for label in cell["attacks"]]
            assert min(steps) >= 100, (path.stem, steps)
        board = expanded["evaluation"]["leaderboard"]
        models = {k: v for k, v in board["threat_models"].items() if v is not None}
        epsilon = {"mnist": 0.3, "cifar10": 8 / 255}[dataset]
        assert any(abs(m["epsilon"] - epsilon) < 1e-6 for m in models.values()), path.stem
        assert board["epsilon_sweep"]["attack"] == f"adaptive-{dataset}.gx_pgd"


@pytest.mark.parametrize("name", ["luring-mnist", "luring-svhn", "luring-cifar10"])
def test_luring_configs_have_a_table_20_trapdoor_cell(repository_root, default_config, name):
    """Table 20: one transfer cell crafted on the trapdoored model (no `source`: the public
    model) with FGSM, MIM, DIM, MIM-TI and DIM-TI at each of the preset's three ε, on as
    many images as the luring cells."""
    expanded = _merged_paper_config(repository_root, default_config, name)
    cells = _papers_cells(expanded)
    (trapdoor,) = [c for c in cells if c["defense"] == "trapdoor"]
    setting = expanded["settings"][trapdoor["setting"]]
    assert setting["kind"] == "transfer" and "source" not in setting
    (luring,) = [c for c in cells if c["defense"] == "luring"]
    assert trapdoor["setting"] == luring["setting"]
    assert trapdoor.get("n_samples") == luring.get("n_samples")
    found = {}
    for label in trapdoor["attacks"]:
        entry = expanded["attacks"][label]
        found.setdefault(entry["attack"], set()).add(entry["epsilon"])
        assert label in luring["attacks"], label  # the luring cell's very attack
    assert set(found) == {"fgsm", "mim", "dim", "mim_ti", "dim_ti"}
    epsilons = {eps for values in found.values() for eps in values}
    assert len(epsilons) == 3 and all(values == epsilons for values in found.values())
    assert len(trapdoor["attacks"]) == 15


@pytest.mark.parametrize("name", ["attractors-mnist", "attractors-cifar10"])
def test_paper_configs_cover_all_eighteen_attacks(repository_root, default_config, name) -> None:
    """Merged over the default as `--configfile` does, each paper config validates and its
    forensic and integrated cells hold every row of the attractors paper's Table I."""
    from snakemake.utils import update_config

    from decoybench.attacks.registry import build_from_config
    from decoybench.config import prepare_config
    from decoybench.papers.attractors.paper_numbers import ATTRACTORS_TABLE_I, attractors_row

    config = copy.deepcopy(default_config)
    update_config(config, load_yaml(repository_root / "config" / "paper" / f"{name}.yaml"))
    expanded = prepare_config(config, repository_root / "config" / "attacks")
    assert set(expanded["defenses"]) == {"attractor", *BASELINES}
    validate_config(expanded)
    for cell in _papers_cells(expanded):
        if cell["defense"] == "trapdoor":
            continue  # the Trapdoor paper's attacks only (test_attractors_baseline_cells)
        rows = set()
        for label in cell["attacks"]:
            attack = build_from_config(expanded["attacks"][label])
            rows.add(attractors_row(label, attack.name, attack.target_mode))
        assert set(ATTRACTORS_TABLE_I["mnist"]) <= rows, (cell["setting"], rows)
        assert {"PGD*", "CW2*", "EAD*"} <= rows


def test_null_drops_a_merged_in_default_defense(default_config) -> None:
    from decoybench.config import drop_disabled_defenses

    merged = {**default_config, "defenses": {**default_config["defenses"], "luring_auto": None}}
    pruned = drop_disabled_defenses(merged)
    assert "luring_auto" not in pruned["defenses"] and "luring" in pruned["defenses"]
    assert merged["defenses"]["luring_auto"] is None, "the input config is not modified"


@pytest.mark.parametrize("name", ["luring-mnist", "luring-svhn", "luring-cifar10"])
def test_luring_paper_configs_have_the_paper_schedules(repository_root, default_config, name):
    """Merged over the default, each luring paper config validates, keeps only the luring
    defenses (no Auto on CIFAR10) with Appendix B's epochs, and attacks each public model
    with every attack of its preset, including the MIM-W family, SPSA and ECO."""
    from snakemake.utils import update_config

    from decoybench.config import prepare_config
    from decoybench.papers.luring.build import component_recipe

    dataset = name.split("-")[1]
    config = copy.deepcopy(default_config)
    update_config(config, load_yaml(repository_root / "config" / "paper" / f"{name}.yaml"))
    expanded = prepare_config(config, repository_root / "config" / "attacks")
    validate_config(expanded)
    expected = {"luring", "luring_stack", "luring_ce"} | (
        {"luring_auto"} if dataset != "cifar10" else set()
    )
    assert set(expanded["defenses"]) == expected | {"trapdoor"}  # Table 20's baseline
    paper_epochs = {"mnist": 64, "svhn": 210, "cifar10": 216}[dataset]
    for defense in ("luring", "luring_ce"):
        settings = {k: v for k, v in expanded["defenses"][defense].items() if k != "approach"}
        recipe = component_recipe(settings, expanded["defenses"][defense]["approach"])
        assert recipe.epochs == paper_epochs and len(recipe.lr_milestones) == 2
    luring_cells = [c for c in expanded["evaluation"]["cells"] if c["defense"] in expected]
    assert {c["defense"] for c in luring_cells} == expected
    names = {expanded["attacks"][label]["attack"] for label in luring_cells[0]["attacks"]}
    assert {"fgsm", "linf_pgd", "mim", "mim_l2", "dim", "mim_ti", "dim_ti", "spsa", "eco"} <= names


@pytest.mark.parametrize("name", ["multitask-mnist", "multitask-cifar10"])
def test_multitask_paper_configs_sweep_the_full_kappa_grid(repository_root, default_config, name):
    """Merged over the default, each multitask paper config validates, keeps only the
    multitask defense on the Table I oracle, and runs the paper's attacks in its three
    settings with κ = 0, 5, ..., 40 at Carlini's budget; cells may name single preset
    attacks (`multitask.cw2_k40`)."""
    from snakemake.utils import update_config

    from decoybench.config import prepare_config

    dataset = name.split("-")[1]
    config = copy.deepcopy(default_config)
    update_config(config, load_yaml(repository_root / "config" / "paper" / f"{name}.yaml"))
    expanded = prepare_config(config, repository_root / "config" / "attacks")
    validate_config(expanded)
    assert set(expanded["defenses"]) == {"multitask"}
    assert expanded["defenses"]["multitask"]["paper_dataset"] == dataset
    assert expanded["models"][expanded["victim"]]["architecture"] == "multitask_oracle"
    by_setting: dict[str, set[tuple[str, float, str]]] = {}
    for cell in expanded["evaluation"]["cells"]:
        for label in cell["attacks"]:
            entry = expanded["attacks"][label]
            key = (entry["attack"], entry.get("confidence", -1), entry.get("target", "none"))
            by_setting.setdefault(cell["setting"], set()).add(key)
    kappas = set(range(0, 41, 5))
    for setting in (f"transfer_s_{dataset}", "greybox"):
        assert {k for attack, k, _ in by_setting[setting] if attack == "cw2"} == kappas
        assert {"fgsm", "igs", "deepfool_linf"} <= {attack for attack, _, _ in by_setting[setting]}
    for setting in ("near_whitebox", "whitebox"):
        for mode in ("none", "random"):
            found = {
                k for attack, k, t in by_setting[setting] if attack == "cw2_combined" and t == mode
            }
            assert found == kappas, (setting, mode)
    cw = expanded["attacks"]["multitask.cw2_k40"]
    assert (cw["binary_search_steps"], cw["steps"]) == (9, 1000)


def test_a_cell_may_name_a_single_preset_attack(repository_root, default_config) -> None:
    from decoybench.config import prepare_config

    config = copy.deepcopy(default_config)
    config["evaluation"]["cells"] = [
        {"setting": "whitebox", "defense": "undefended", "attacks": ["multitask.igs"]}
    ]
    expanded = prepare_config(config, repository_root / "config" / "attacks")
    assert expanded["attacks"]["multitask.igs"]["attack"] == "igs"
    assert "multitask.fgsm_0.05" not in expanded["attacks"]  # only what a cell names
    config["evaluation"]["cells"][0]["attacks"] = ["multitask.nope"]
    with pytest.raises(ConfigError, match=r"'multitask\.nope' is not a known attack"):
        validate_config(prepare_config(config, repository_root / "config" / "attacks"))
