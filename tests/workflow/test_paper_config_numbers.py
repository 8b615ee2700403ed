"""Every paper config's tables are printed beside the paper's own numbers.

For each config/paper/*.yaml, merged over config/config.yaml as `--configfile` does and
prepared as the Snakefile does, this works out which table families the workflow builds
(rules/common.smk's `*_outputs`), the paper data set each family's table builder looks its
numbers up under (the rules' `paper_dataset` params, evaluated from rules/*.smk, then the
builders' own mapping functions), and checks the quoted numbers exist for that data set and
for the configured attacks. Offline and without Snakemake: the plain-Python top-level
functions and constants of rules/common.smk are executed against the prepared config.

Where a paper prints no numbers for a data set, the check says so (and asserts the absence,
so a new transcription shows up here): the attractors paper's Table VI is CIFAR-10 only, the
luring paper's Table 10 has no MNIST row, the multitask paper's Table V is MNIST only, and
the starred (Trapdoor-setting) rows appear in the attractors paper's Table III only.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from decoybench import config as config_module
from decoybench import dag, defense_registry
from decoybench.config import load_yaml, prepare_config, validate_config
from decoybench.papers.attractors import workflow as attractors
from decoybench.papers.baselines import workflow as baselines
from decoybench.papers.luring import workflow as luring
from decoybench.papers.multitask import workflow as multitask

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
PAPER_DIR = REPOSITORY_ROOT / "config" / "paper"
PAPER_CONFIGS = sorted(path.stem for path in PAPER_DIR.glob("*.yaml"))
# Table families each paper's config must build (rules/common.smk's *_outputs).
EXPECTED_FAMILIES = {
    "attractors": {"attractor", "baseline"},
    "luring": {"luring", "baseline"},
    "multitask": {"multitask"},
}


# --- rules/*.smk, without Snakemake ------------------------------------------------------


@functools.cache
def _common_code() -> Any:
    """rules/common.smk's top-level `def`s and UPPERCASE constants, compiled. The rest of the
    file (imports, `wildcard_constraints:`, the config preparation) is Snakemake-only."""
    chunks: list[list[str]] = []
    for line in (REPOSITORY_ROOT / "rules" / "common.smk").read_text().splitlines(True):
        if not line.strip() or line[0] in " \t)]}":
            if chunks:
                chunks[-1].append(line)
        else:
            chunks.append([line])
    kept = [
        "".join(chunk) for chunk in chunks if re.match(r"(def \w+\(|[A-Z][A-Z0-9_]* = )", chunk[0])
    ]
    return compile("".join(kept), "rules/common.smk", "exec")


def _rule_param(rule: str, param: str) -> str:
    """The source expression of `rule`'s `param=` in rules/*.smk (one line)."""
    for path in sorted((REPOSITORY_ROOT / "rules").glob("*.smk")):
        block = re.search(rf"^rule {rule}:\n(.*?)(?=^\S|\Z)", path.read_text(), re.M | re.S)
        if block:
            found = re.search(rf"^\s+{param}=(.+?),\s*(#.*)?$", block.group(1), re.M)
            assert found, f"rule {rule} has no {param}= param"
            return found.group(1)
    raise AssertionError(f"no rule {rule} in rules/*.smk")


@functools.cache
def _workflow(name: str) -> SimpleNamespace:
    """The paper config `name` as the workflow sees it, with rules/common.smk's functions."""
    from snakemake.utils import update_config

    config = copy.deepcopy(load_yaml(REPOSITORY_ROOT / "config" / "config.yaml"))
    update_config(config, load_yaml(PAPER_DIR / f"{name}.yaml"))
    config = prepare_config(config, REPOSITORY_ROOT / "config" / "attacks")
    validate_config(config, REPOSITORY_ROOT / "config" / "schema.yaml")
    namespace: dict[str, Any] = {
        "config": config,
        "defense_type": config_module.defense_type,
        "defense_registry": defense_registry,
        "dag": dag,
        "attractors": attractors,
        "baselines": baselines,
        "luring": luring,
        "multitask": multitask,
        "whitebox_setting": config_module.whitebox_setting,
    }
    exec(_common_code(), namespace)
    return SimpleNamespace(config=config, **{k: v for k, v in namespace.items() if k != "config"})


def _param(flow: SimpleNamespace, rule: str, param: str, dataset: str) -> Any:
    """`rule`'s `param` as Snakemake would pass it for target `dataset`."""
    value = eval(_rule_param(rule, param), vars(flow).copy())
    return value(SimpleNamespace(dataset=dataset)) if callable(value) else value


def _families(flow: SimpleNamespace) -> set[str]:
    outputs = {
        "attractor": attractors.outputs(flow.config),
        "luring": luring.outputs(flow.config),
        "multitask": multitask.outputs(flow.config),
        "baseline": baselines.outputs(flow.config),
    }
    return {family for family, paths in outputs.items() if paths}


def _cells(flow: SimpleNamespace, defense: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(label, attack config entry) of `defense`'s cells in settings of `kind`."""
    config = flow.config
    return [
        (attack, config["attacks"][attack])
        for setting, name, attack in flow.evaluation_cells(None)
        if name == defense and config["settings"][setting]["kind"] == kind
    ]


def _present(values: Any) -> bool:
    """A paper value or tuple of them that is not all None/NaN."""
    items = values if isinstance(values, tuple) else (values,)
    return any(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in items)


def _targets(name: str, family: str) -> list[tuple[SimpleNamespace, str]]:
    flow = _workflow(name)
    assert family in _families(flow), f"{name} builds no {family} tables"
    return [(flow, dataset) for dataset in flow.config["targets"]]


def _configs_with(family: str) -> list[str]:
    """The paper configs whose paper has tables of `family`."""
    return [name for name in PAPER_CONFIGS if family in EXPECTED_FAMILIES[name.split("-")[0]]]


# --- the configs and their table families ------------------------------------------------


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_config_builds_its_papers_tables(name: str) -> None:
    flow = _workflow(name)
    paper, dataset = name.split("-")
    assert flow.config["targets"] == [dataset]
    assert _families(flow) == EXPECTED_FAMILIES[paper]


# --- attractors paper: Tables I-VI -------------------------------------------------------


def _attractor_rows(flow: SimpleNamespace, defense: str, kind: str) -> set[str]:
    from decoybench.attacks.registry import build_from_config
    from decoybench.papers.attractors.paper_numbers import attractors_row

    rows = set()
    for label, entry in _cells(flow, defense, kind):
        attack = build_from_config(entry)
        rows.add(attractors_row(label, attack.name, attack.target_mode))
    return rows - {None}


@pytest.mark.parametrize("name", _configs_with("attractor"))
def test_attractor_tables_have_the_papers_numbers(name: str) -> None:
    from decoybench.papers.attractors.paper_numbers import (
        ATTRACTORS_TABLE_I,
        ATTRACTORS_TABLE_II,
        ATTRACTORS_TABLE_III,
        ATTRACTORS_TABLE_IV,
        ATTRACTORS_TABLE_V,
        ATTRACTORS_TABLE_VI,
        PAPER_DATASET,
    )
    from decoybench.papers.attractors.tables import DISTORTION_ROWS

    for flow, dataset in _targets(name, "attractor"):
        # attractor_tables.attractor_tables and tables.clean_accuracy_rows: the dataset
        # wildcard, mapped by PAPER_DATASET.
        paper = PAPER_DATASET.get(dataset, dataset)
        assert {"victim", "defended"} <= set(ATTRACTORS_TABLE_II.get(paper, {})), paper
        forensic = _attractor_rows(flow, "attractor", "forensic")
        integrated = _attractor_rows(flow, "attractor", "integrated")
        assert forensic and integrated
        # Starred rows (the Trapdoor paper's settings) are in Table III only.
        plain = {row for row in forensic if not row.endswith("*")}
        for table in (ATTRACTORS_TABLE_I, ATTRACTORS_TABLE_IV):
            assert plain <= set(table.get(paper, {})), (paper, plain - set(table.get(paper, {})))
        assert forensic <= set(ATTRACTORS_TABLE_III.get(paper, {}))
        unstarred = {row for row in integrated if not row.endswith("*")}
        assert unstarred <= set(ATTRACTORS_TABLE_V.get(paper, {}))
        # Table VI: the paper gives CIFAR-10 only; it is printed (so labelled) for any target.
        distortion = integrated & set(DISTORTION_ROWS)
        assert distortion and distortion <= set(ATTRACTORS_TABLE_VI)


# --- baselines: attractors Table III, luring Table 20 ------------------------------------


@pytest.mark.parametrize("name", _configs_with("baseline"))
def test_baseline_tables_have_the_papers_numbers(name: str) -> None:
    from decoybench.papers.baselines.paper_numbers import (
        BASELINE_TABLE_III,
        LURING_TABLE_20,
        paper_dataset_name,
        paper_table_20,
        paper_table_iii,
    )
    from decoybench.papers.baselines.table20 import EPSILON_DIGITS, TABLE_20_ATTACKS

    paper_name = name.split("-")[0]
    for flow, dataset in _targets(name, "baseline"):
        paper_dataset = _param(flow, "make_baseline_tables", "paper_dataset", dataset)
        paper = paper_dataset_name(paper_dataset)
        compared = baselines.comparison_defenses(flow.config)
        table_iii_groups = {
            group for group, defense in compared.items() if _cells(flow, defense, "forensic")
        }
        if paper_name == "attractors":
            # Table III: every detector column, each with the paper's numbers on its rows.
            assert table_iii_groups == {"attractor", *baselines.BASELINE_TYPES}
            for group in table_iii_groups:
                if group != "attractor":
                    assert BASELINE_TABLE_III.get(paper, {}).get(group), (paper, group)
                rows = _attractor_rows(flow, compared[group], "forensic")
                quoted = [row for row in rows if _present(paper_table_iii(paper, group, row))]
                assert quoted, (paper, group, rows)
        else:
            assert not table_iii_groups  # Table III is the attractors paper's
        # Table 20: the trapdoored model and Luring as the public model, per ε.
        table20 = {
            "trapdoor": compared.get("trapdoor"),
            "luring": luring.table20_defense(flow.config),
        }
        epsilons = {
            group: {
                round(float(entry["epsilon"]), EPSILON_DIGITS)
                for _, entry in _cells(flow, defense, "transfer")
                if entry["attack"] in TABLE_20_ATTACKS
            }
            for group, defense in table20.items()
            if defense
        }
        if paper_name != "luring":
            assert not any(epsilons.values())  # Table 20 is the luring paper's
            continue
        paper_epsilons = set(LURING_TABLE_20.get(paper or "", {}))
        assert paper_epsilons, paper
        for group in ("trapdoor", "luring"):
            assert paper_epsilons <= epsilons[group], (group, paper_epsilons, epsilons[group])
            for epsilon in paper_epsilons:
                assert _present(paper_table_20(paper_dataset, epsilon, group)), (group, epsilon)


# --- luring paper: Tables 8, 1/14, 9, 10 -------------------------------------------------


@pytest.mark.parametrize("name", _configs_with("luring"))
def test_luring_tables_have_the_papers_numbers(name: str) -> None:
    from decoybench.papers.luring.paper_numbers import (
        DEFENSE_ROWS,
        paper_agreement,
        paper_dataset_name,
        paper_defense,
        paper_distortion,
        paper_epsilons,
        paper_logits,
    )
    from decoybench.papers.luring.tables.defense import DEFENSE_ROW_ATTACKS
    from decoybench.papers.luring.tables.inputs import TARGET

    for flow, dataset in _targets(name, "luring"):
        paper_dataset = _param(flow, "make_luring_tables", "paper_dataset", dataset)
        paper = paper_dataset_name(paper_dataset)
        assert paper == name.split("-")[1], (paper_dataset, paper)
        defenses = luring.defenses(flow.config)
        approaches = {defense: flow.config["defenses"][defense]["approach"] for defense in defenses}
        # Table 8 (TEST; AGREE but for BASE) and Table 9 (CWL2 on M and on each M∘P).
        for approach in [TARGET, *approaches.values()]:
            test, agree = paper_agreement(paper_dataset, approach)
            assert test is not None and (agree is not None or approach == TARGET), approach
            assert _present(paper_distortion(paper_dataset, approach)), approach
        whitebox = {entry["attack"] for _, entry in _cells(flow, "undefended", "whitebox")}
        for defense in defenses:
            transfer = _cells(flow, defense, "transfer")
            assert "cw2" in whitebox and "cw2" in {entry["attack"] for _, entry in transfer}
            # Tables 1 / 14: each row at every ε the paper has, for this approach.
            for row in DEFENSE_ROWS:
                wanted = paper_epsilons(paper_dataset, row)
                assert wanted, (paper, row)
                configured = [
                    float(entry["epsilon"])
                    for _, entry in transfer
                    if entry["attack"] in DEFENSE_ROW_ATTACKS[row]
                ]
                for epsilon in wanted:
                    assert any(math.isclose(epsilon, e, abs_tol=1e-6) for e in configured), (
                        defense,
                        row,
                        epsilon,
                    )
                    quoted = paper_defense(paper_dataset, row, epsilon, approaches[defense])
                    assert _present(quoted), (defense, row, epsilon)
        # Table 10: SVHN and CIFAR10 rows only (the paper has no MNIST row).
        logits = paper_logits(paper_dataset)
        if paper == "mnist":
            assert logits is None
        else:
            assert logits is not None and len(logits) == 10


# --- multitask paper: Tables III-VI ------------------------------------------------------


def _multitask_cells(flow: SimpleNamespace, defense: str, kind: str) -> list[Any]:
    """`defense`'s cells of `kind` as multitask_tables reads them (attack, ε, κ, mode from
    the cell's attack config)."""
    from decoybench.papers.multitask.tables.inputs import MultitaskCell

    return [
        MultitaskCell.of({"cell": {"attack": label, "kind": kind, "attack_config": entry}})
        for label, entry in _cells(flow, defense, kind)
    ]


def _multitask_columns(flow: SimpleNamespace, defense: str, kind: str, table: str) -> set[str]:
    """The paper columns of Table `table` ("III", "IV") that `defense`'s `kind` cells fill."""
    from decoybench.papers.multitask.paper_numbers import paper_attack_column

    columns = {
        paper_attack_column(
            cell.attack,
            table=table,
            epsilon=cell.epsilon,
            kappa=cell.kappa,
            target_mode=cell.target_mode,
        )
        for cell in _multitask_cells(flow, defense, kind)
    }
    return columns - {None}


@pytest.mark.parametrize("name", _configs_with("multitask"))
def test_multitask_tables_have_the_papers_numbers(name: str) -> None:
    from decoybench.papers.multitask.paper_numbers import (
        MULTITASK_TABLE_IV,
        PAPER_COLUMNS,
        PAPER_KAPPAS,
        paper_benign,
        paper_blackbox,
        paper_dataset_name,
        paper_greybox,
        paper_misdetection,
        paper_near_whitebox,
    )

    for flow, dataset in _targets(name, "multitask"):
        # workflow_scripts/make_multitask_tables.py: the param, else the dataset wildcard.
        paper_dataset = _param(flow, "make_multitask_tables", "paper_dataset", dataset) or dataset
        paper = paper_dataset_name(paper_dataset)
        assert paper == name.split("-")[1], (paper_dataset, paper)
        defense = multitask.defense(flow.config)

        # Table III (black-box transfer) and Table IV (grey-box detection): every column.
        blackbox = _multitask_columns(flow, defense, "transfer", "III")
        assert blackbox == set(PAPER_COLUMNS)
        assert all(_present(paper_blackbox(paper_dataset, column)) for column in blackbox)
        greybox = _multitask_columns(flow, defense, "greybox", "IV")
        assert greybox == set(MULTITASK_TABLE_IV[paper])
        assert all(_present(paper_greybox(paper_dataset, column)) for column in greybox)
        # Table VI and Sec. IV-E's mis-detection rate.
        assert _present(paper_benign(paper_dataset))
        assert _present(paper_misdetection(paper_dataset))
        # Table V: MNIST only in the paper (run on CIFAR10 too, with no paper numbers).
        near = {
            (cell.mode, cell.kappa)
            for cell in _multitask_cells(flow, defense, "near_whitebox")
            + _multitask_cells(flow, "undefended", "whitebox")
            if cell.attack == "cw2_combined"
        }
        assert {kappa for _, kappa in near} == set(PAPER_KAPPAS)
        quoted = {key for key in near if _present(paper_near_whitebox(paper_dataset, *key))}
        assert quoted == (near if paper == "mnist" else set()), (paper, near - quoted)
