"""Config validation, wildcard constraints and input functions shared by all rules."""

import re
import sys
from pathlib import Path

# Jobs import decoybench from this checkout (see decoybench.environment.export_for_jobs).
_SOURCE = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SOURCE)

from decoybench.environment import export_for_jobs

export_for_jobs(_SOURCE)

from decoybench import dag, defense_registry
from decoybench.config import (
    ConfigError,
    defense_type,
    prepare_config,
    validate_config,
    whitebox_setting,
)
from decoybench.papers.attractors import workflow as attractors
from decoybench.papers.baselines import workflow as baselines
from decoybench.papers.luring import workflow as luring
from decoybench.papers.multitask import workflow as multitask
from decoybench.leaderboard import workflow as leaderboard_workflow
from decoybench.fidelity import workflow as fidelity


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
    """A wildcard constraint matching exactly `names`; nothing at all when there are none
    (an empty constraint would leave the wildcard unconstrained)."""
    if not names:
        return "(?!)"
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
    return dag.defense_file(dataset, defense)


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
    return dag.defenses_of_type(config, kind)


def setting_kind(wildcards):
    return config["settings"][wildcards.setting]["kind"]


def evaluation_cells(dataset):
    """(setting, defense, attack) triples listed in config `evaluation.cells`."""
    return dag.evaluation_cells(config)


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
    adaptive = leaderboard_workflow.adaptive_settings(config)
    return [
        f"results/{wildcards.dataset}/eval/{setting}/{defense}/{attack}.json"
        for setting, defense, attack in evaluation_cells(wildcards.dataset)
        if not is_detection_only(defense) and setting not in adaptive
    ]


def crafting_defenses():
    """Defenses whose cells craft their own adversarial sets (attack_cell): all but the
    detection-only baselines, which score the victim's white-box sets."""
    names = ["undefended", *(config.get("defenses") or {})]
    return [name for name in names if not is_detection_only(name)]


def detection_only_defenses():
    return [name for name in config.get("defenses") or {} if is_detection_only(name)]


def detection_cells(defense):
    """(setting, attack) of each configured cell of a detection-only defense."""
    adaptive = leaderboard_workflow.adaptive_settings(config)
    return [
        (setting, attack)
        for setting, name, attack in evaluation_cells(None)
        if name == defense and setting not in adaptive
    ]


def whitebox_set(dataset, attack):
    """The white-box adversarial set of `attack` on the undefended victim."""
    return dag.adversarial_set_file(dataset, whitebox_setting(config), "undefended", attack)


def leaderboard_row_inputs(wildcards):
    """The victim, the defense's build outputs, and every set of its cells."""
    files = model_files(wildcards.dataset, config["victim"])
    sets = leaderboard_workflow.row_sets(config, wildcards.dataset, wildcards.defense)
    return {
        "victim": files["weights"],
        "sidecar": files["sidecar"],
        **dag.build_files(wildcards.dataset, wildcards.defense),
        "sets": [entry["path"] for entry in sets],
    }


def sweep_inputs(wildcards):
    """The victim and the defense's build outputs."""
    files = model_files(wildcards.dataset, config["victim"])
    return {
        "victim": files["weights"],
        "sidecar": files["sidecar"],
        **dag.build_files(wildcards.dataset, wildcards.defense),
    }


def non_adaptive_settings():
    adaptive = leaderboard_workflow.adaptive_settings(config)
    return [name for name in config["settings"] if name not in adaptive]


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
        + attractors.outputs(config)
        + luring.outputs(config)
        + multitask.outputs(config)
        + baselines.outputs(config)
        + leaderboard_workflow.outputs(config)
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
