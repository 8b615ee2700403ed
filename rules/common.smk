"""Config validation, wildcard constraints and input functions shared by all rules."""

import re
import sys
from pathlib import Path

# Jobs import decoybench from this checkout (see decoybench.environment.export_for_jobs).
_SOURCE = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SOURCE)

from decoybench.environment import export_for_jobs

export_for_jobs(_SOURCE)

from decoybench import defense_registry
from decoybench.config import (
    ConfigError,
    defense_type,
    prepare_config,
    validate_config,
    whitebox_setting,
)


try:
    prepared = prepare_config(config, Path(workflow.basedir) / "config" / "attacks")
    config.clear()
    config.update(prepared)
    validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml")
except ConfigError as error:
    sys.exit(f"decoybench: {error}")


if workflow.is_main_process:
    # Before the DAG is built: `dvc pull` of a pinned run rewrites its timestamps.
    from decoybench.pinning import PinError, restore_pinned_order

    try:
        _message = restore_pinned_order(Path.cwd()).describe()
    except PinError as error:
        sys.exit(f"decoybench: {error}")
    if _message:
        print(_message, file=sys.stderr)


def _alternatives(names):
    return "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))


wildcard_constraints:
    dataset=_alternatives(config["datasets"]),
    model=_alternatives(config["models"]),
    setting=_alternatives(config["settings"]),
    defense=_alternatives(["undefended", *(config.get("defenses") or {})]),
    attack=_alternatives(config["attacks"]),
    split="train|val|test",


def dataset_files(wildcards):
    """The canonical store of a dataset. Not ancient(): a rebuilt dataset must retrain every
    model (ancient() also stops Snakemake from re-running the jobs downstream of a job that
    re-runs). The timestamps `dvc pull` rewrites are put back in order by
    decoybench.pinning.restore_pinned_order (above)."""
    return {
        "manifest": f"data/{wildcards.dataset}/manifest.json",
        **{split: f"data/{wildcards.dataset}/{split}.npz" for split in ("train", "val", "test")},
    }


def model_files(dataset, model):
    return {
        "weights": f"results/{dataset}/models/{model}.safetensors",
        "sidecar": f"results/{dataset}/models/{model}.json",
    }


def defense_file(dataset, defense):
    return f"results/{dataset}/defenses/{defense}/defense.json"


def target_inputs(wildcards):
    """Checkpoint (and defense file) of the system a cell evaluates: the victim, wrapped by
    the cell's defense unless it is `undefended`."""
    files = model_files(wildcards.dataset, config["victim"])
    inputs = {"model": files["weights"], "sidecar": files["sidecar"]}
    if wildcards.defense != "undefended":
        inputs["defense"] = defense_file(wildcards.dataset, wildcards.defense)
    return inputs


def cell_inputs(wildcards):
    """What one attack cell reads: the target system (`target_inputs`) and, in a transfer
    setting with a `source`, the source checkpoint the set is crafted on (source_model,
    source_sidecar). Without a source, the set is crafted on the system itself, or, for a
    transfer setting, on the model the defense publishes (luring: T = M∘P)."""
    inputs = target_inputs(wildcards)
    setting = config["settings"][wildcards.setting]
    if setting["kind"] == "transfer" and "source" in setting:
        files = model_files(wildcards.dataset, setting["source"])
        inputs.update(source_model=files["weights"], source_sidecar=files["sidecar"])
    return inputs


def is_detection_only(name):
    """Whether defense `name`'s type leaves the victim unchanged (its cells score the
    victim's white-box sets)."""
    return defense_registry.get(defense_type(name)).detection_only


def build_rules():
    """{build rule: configured defense names} from the types' `build_rule`, in config order."""
    rules = {}
    for name in config.get("defenses") or {}:
        rule_name = defense_registry.get(defense_type(name)).build_rule
        if rule_name is not None:
            rules.setdefault(rule_name, []).append(name)
    return rules


def named_attacks(wildcards):
    """The attack configs a defense's settings name (its type's `attack_settings`, e.g.
    LID's training attack)."""
    settings = config["defenses"][wildcards.defense]
    keys = defense_registry.get(defense_type(wildcards.defense)).attack_settings
    return {settings[key]: config["attacks"][settings[key]] for key in keys if settings.get(key)}


def defenses_of_type(kind):
    """Names in config `defenses` of one defense type (decoybench.config.defense_type)."""
    return [name for name in config.get("defenses") or {} if defense_type(name) == kind]


def setting_kind(wildcards):
    return config["settings"][wildcards.setting]["kind"]


def evaluation_cells(dataset):
    """(setting, defense, attack) triples listed in config `evaluation.cells`."""
    return [
        (cell["setting"], cell["defense"], attack)
        for cell in config["evaluation"]["cells"]
        for attack in cell["attacks"]
    ]


def cell_samples(wildcards):
    """Test images attacked for this cell: the cell's n_samples, else evaluation.n_samples."""
    for cell in config["evaluation"]["cells"]:
        if (cell["setting"], cell["defense"]) == (wildcards.setting, wildcards.defense):
            if wildcards.attack in cell["attacks"] and "n_samples" in cell:
                return cell["n_samples"]
    return config["evaluation"].get("n_samples")


def cell_metrics(wildcards):
    """Every cell but those of the detection-only baselines, whose ASR is the white-box
    cell's on the same set (their detection is in the baseline comparison tables)."""
    return [
        f"results/{wildcards.dataset}/eval/{setting}/{defense}/{attack}.json"
        for setting, defense, attack in evaluation_cells(wildcards.dataset)
        if not is_detection_only(defense)
    ]


ATTRACTOR_TABLES = (
    "attractor_clean_accuracy",
    "attractor_forensic",
    "attractor_detection",
    "attractor_low_fpr",
    "attractor_integrated",
    "attractor_distortion",
    "attractor_claims",
)
ATTRACTOR_FIGURES = ("attractor_strength", "attractor_cosines", "attractor_trapdoor")


def attractor_outputs():
    """Everything of the attractors paper per target: Tables I-VI, the claim checks and
    Figures 5-7."""
    if "attractor" not in config.get("defenses", {}):
        return []
    return [
        f"results/{dataset}/{folder}/{name}.{extension}"
        for dataset in config["targets"]
        for folder, names, extensions in (
            ("tables", ATTRACTOR_TABLES, ("csv", "md")),
            ("figures", ATTRACTOR_FIGURES, ("png", "pdf")),
        )
        for name in names
        for extension in extensions
    ]


LURING_TABLES = (
    "luring_agreement",
    "luring_characterization",
    "luring_defense",
    "luring_distortion",
    "luring_logits",
    "luring_claims",
)
LURING_FIGURES = ("luring_rates", "luring_distortion", "luring_saliency")


def luring_defenses():
    """The configured luring defenses (one per approach compared), in config order."""
    return defenses_of_type("luring")


def luring_paper_dataset():
    """The paper data set whose numbers the luring tables print beside ours: the first
    luring defense's `paper_dataset`, else its component's."""
    first = config["defenses"][luring_defenses()[0]]
    return first.get("paper_dataset") or first["component"]


def luring_defense_files(wildcards):
    return [defense_file(wildcards.dataset, name) for name in luring_defenses()]


def luring_outputs():
    """Everything of the luring paper per target: Tables 8, 1/14, 9, 10, Figure 2's data,
    the claim checks and Figures 2 and 3."""
    if not luring_defenses():
        return []
    return [
        f"results/{dataset}/{folder}/{name}.{extension}"
        for dataset in config["targets"]
        for folder, names, extensions in (
            ("tables", LURING_TABLES, ("csv", "md")),
            ("figures", LURING_FIGURES, ("png", "pdf")),
        )
        for name in names
        for extension in extensions
    ]


MULTITASK_TABLES = (
    "multitask_blackbox",
    "multitask_greybox",
    "multitask_cw_sweep",
    "multitask_near_whitebox",
    "multitask_benign",
    "multitask_classmap",
    "multitask_claims",
)
MULTITASK_FIGURES = ("multitask_cw_transfer", "multitask_cw_detection", "multitask_classmaps")


def multitask_defense():
    """The configured multi-task defense the paper's tables report (the first one)."""
    names = defenses_of_type("multitask")
    return names[0] if names else None


def multitask_paper_dataset():
    """The paper data set whose numbers the multitask tables print beside ours."""
    name = multitask_defense()
    return (config["defenses"][name] or {}).get("paper_dataset") if name else None


# Registry attacks of the multitask paper's white-box cells on the bare victim: Table V's
# Original row (cw2_combined) and Fig. 6's maps (FGSM, IGS/BIM, DeepFool, C&W).
MULTITASK_REFERENCE_ATTACKS = (
    "fgsm",
    "igs",
    "bim",
    "deepfool",
    "deepfool_linf",
    "cw2",
    "cw2_combined",
)


def multitask_cell_metrics(wildcards):
    """The cells the multitask tables and figures read: every multitask cell, and the
    white-box cells on the bare victim of MULTITASK_REFERENCE_ATTACKS."""
    paths = []
    for setting, defense, attack in evaluation_cells(wildcards.dataset):
        reference = (
            defense == "undefended"
            and config["settings"][setting]["kind"] == "whitebox"
            and config["attacks"][attack]["attack"] in MULTITASK_REFERENCE_ATTACKS
        )
        if reference or defense_type(defense) == "multitask":
            paths.append(f"results/{wildcards.dataset}/eval/{setting}/{defense}/{attack}.json")
    return paths


def multitask_outputs():
    """Everything of the multitask paper per target: Tables III-VI, the Classmap, the data
    of Figures 3-5, the claim checks and Figures 3-6."""
    if multitask_defense() is None:
        return []
    return [
        f"results/{dataset}/{folder}/{name}.{extension}"
        for dataset in config["targets"]
        for folder, names, extensions in (
            ("tables", MULTITASK_TABLES, ("csv", "md")),
            ("figures", MULTITASK_FIGURES, ("png", "pdf")),
        )
        for name in names
        for extension in extensions
    ]


# Column groups of the comparison table (the attractors paper's Table III), in registry
# order: the attractor, then the detectors compared with it (the baselines).
COMPARISON_GROUPS = defense_registry.types_where(compared=True)
BASELINE_TYPES = tuple(group for group in COMPARISON_GROUPS if group != "attractor")
BASELINE_TABLES = ("baseline_comparison", "baseline_luring")
BASELINE_FIGURES = ("baseline_asr",)


def crafting_defenses():
    """Defenses whose cells craft their own adversarial sets (attack_cell): all but the
    detection-only baselines, which score the victim's white-box sets."""
    names = ["undefended", *(config.get("defenses") or {})]
    return [name for name in names if not is_detection_only(name)]


def detection_only_defenses():
    return [name for name in config.get("defenses") or {} if is_detection_only(name)]


def detection_cells(defense):
    """(setting, attack) of each configured cell of a detection-only defense."""
    return [
        (setting, attack)
        for setting, name, attack in evaluation_cells(None)
        if name == defense
    ]


def whitebox_set(dataset, attack):
    """The white-box adversarial set of `attack` on the undefended victim."""
    return f"results/{dataset}/adv/{whitebox_setting(config)}/undefended/{attack}.npz"


def comparison_defenses():
    """{column group: defense} of the comparison table: the first configured defense of each
    group (the attractor and every baseline type)."""
    chosen = {}
    for group in COMPARISON_GROUPS:
        names = defenses_of_type(group)
        if names:
            chosen[group] = names[0]
    return chosen


def table20_luring_defense():
    """The luring defense of the luring paper's Table 20: the first with approach luring."""
    for name in luring_defenses():
        if config["defenses"][name].get("approach") == "luring":
            return name
    return None


def baseline_cell_metrics(wildcards):
    """The cells the comparison tables and figure read: forensic cells of the comparison
    defenses, transfer cells of the Table 20 luring and trapdoor defenses, and the white-box
    cells on the undefended victim (the ASR beside each detector)."""
    compared = set(comparison_defenses().values())
    table20 = {table20_luring_defense(), comparison_defenses().get("trapdoor")} - {None}
    paths = []
    for setting, defense, attack in evaluation_cells(wildcards.dataset):
        kind = config["settings"][setting]["kind"]
        if (
            (defense in compared and kind == "forensic")
            or (defense in table20 and kind == "transfer")
            or (defense == "undefended" and kind == "whitebox")
        ):
            paths.append(f"results/{wildcards.dataset}/eval/{setting}/{defense}/{attack}.json")
    return paths


def baseline_outputs():
    """The comparison of the deception defenses with the baselines per target: the
    attractors paper's Table III, the luring paper's Table 20 and the heat map."""
    if not any(defenses_of_type(kind) for kind in BASELINE_TYPES):
        return []
    return [
        f"results/{dataset}/{folder}/{name}.{extension}"
        for dataset in config["targets"]
        for folder, names, extensions in (
            ("tables", BASELINE_TABLES, ("csv", "md")),
            ("figures", BASELINE_FIGURES, ("png", "pdf")),
        )
        for name in names
        for extension in extensions
    ]


def all_outputs():
    outputs = []
    for dataset in config["targets"]:
        outputs += [
            f"results/{dataset}/tables/attack_success.csv",
            f"results/{dataset}/tables/attack_success.md",
            f"results/{dataset}/figures/attack_success.png",
            f"results/{dataset}/figures/attack_success.pdf",
        ]
    return (
        outputs
        + attractor_outputs()
        + luring_outputs()
        + multitask_outputs()
        + baseline_outputs()
    )


def prepare_tracking():
    """Create the MLflow sqlite database once, before parallel jobs (schema race)."""
    from decoybench.tracking import artifact_root, ensure_backend, resolve_tracking_uri

    uri = resolve_tracking_uri((config.get("mlflow") or {}).get("tracking_uri"))
    ensure_backend(uri, config["name"], artifact_root())


def flush_tracking(leftovers=False):
    """Write the runs jobs spooled (results/mlflow-spool), each to the backend its job
    resolved; print one line. `leftovers`: an earlier, killed run's (silent if none)."""
    from decoybench.tracking import default_spool_dir, describe_flush, flush_spool

    spool = default_spool_dir()
    summary = flush_spool(spool)
    if leftovers and not (summary["written"] or summary["failed"] or summary["corrupt"]):
        return
    label = " (left over from an earlier run)" if leftovers else ""
    print(describe_flush(summary, spool) + label, file=sys.stderr)
