"""The documentation matches the code: README.md's index table (paper table/figure → output
file → rule → module:function), its picture of the rule graph (docs/dag.dot, docs/dag.svg),
config/README.md's key reference, docs/design.md's metric definitions, the links between the
docs, and no citation of a design document outside the repository."""

from __future__ import annotations

import ast
import importlib
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
README = REPOSITORY_ROOT / "README.md"
RULES = REPOSITORY_ROOT / "rules"
COMMON = RULES / "common.smk"
CONFIG_README = REPOSITORY_ROOT / "config" / "README.md"
DAG_DOT = REPOSITORY_ROOT / "docs" / "dag.dot"
DAG_SVG = REPOSITORY_ROOT / "docs" / "dag.svg"
SCHEMA = REPOSITORY_ROOT / "config" / "schema.yaml"
DESIGN = REPOSITORY_ROOT / "docs" / "design.md"
METRICS = REPOSITORY_ROOT / "src" / "decoybench" / "metrics.py"
MAX_README_LINES = 200
INDEX_HEADING = "## Index"
# Outputs every default run writes besides the tuples of rules/common.smk (folder, name).
EXTRA_OUTPUTS = {
    ("tables", "attack_success"),
    ("figures", "attack_success"),
    ("tables", "attractor_clean_accuracy"),
}
# What no file may cite: the design document that lived outside the repository, and the
# folder beside it (spelled in two parts so that this file does not cite them itself).
FORBIDDEN = ("DESIGN" + ".md", ".." + "/shared", "/work" + "/shared")
SKIPPED_PARTS = {".git", ".venv"}
REFERENCE = re.compile(r"^(decoybench(?:\.\w+)*):(\w+)$")
TOP_LEVEL_FOLDERS = (
    ".ci/", "config/", "docs/", "envs/", "report/", "rules/", "scripts/", "slurm/", "src/",
    "tests/", "workflow_scripts/",
)  # fmt: skip


# --- parsing -----------------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _backticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


@cache
def readme_lines() -> tuple[str, ...]:
    return tuple(README.read_text().splitlines())


@cache
def index_rows() -> tuple[dict[str, object], ...]:
    """The rows of the README's index table: paper, outputs [(folder, name)], rule,
    references [(module, function)] (the first is the function the rule's script calls)."""
    lines = readme_lines()
    start = next(i for i, line in enumerate(lines) if line.startswith(INDEX_HEADING))
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            table.append(line)
    assert len(table) > 2, f"no table under {INDEX_HEADING!r} in README.md"
    rows = []
    for line in table[2:]:
        paper, output, rule, functions = _cells(line)
        outputs = re.findall(r"\b(tables|figures)/(\w+)\.", output)
        rules = _backticked(rule)
        references = []
        for token in _backticked(functions):
            match = REFERENCE.match(token)
            if match:
                references.append(match.groups())
            elif re.fullmatch(r"\w+", token) and references:
                references.append((references[0][0], token))  # in the first one's module
            else:
                raise AssertionError(f"README index: {token!r} is not module:function ({line})")
        assert outputs, f"README index row names no tables/ or figures/ file: {line}"
        assert len(rules) == 1, f"README index row names {len(rules)} rules: {line}"
        assert references, f"README index row names no module:function: {line}"
        rows.append(
            {
                "line": line,
                "paper": paper,
                "outputs": outputs,
                "rule": rules[0],
                "references": references,
            }
        )
    return tuple(rows)


@cache
def rule_texts() -> dict[str, str]:
    """Rule name -> its text (header to the next top-level line) in rules/*.smk."""
    texts: dict[str, str] = {}
    for path in sorted(RULES.glob("*.smk")):
        lines = path.read_text().splitlines()
        for index, line in enumerate(lines):
            match = re.match(r"rule (\w+):", line)
            if not match:
                continue
            end = index + 1
            while end < len(lines) and (not lines[end].strip() or lines[end][0].isspace()):
                end += 1
            texts[match.group(1)] = "\n".join(lines[index:end])
    return texts


@cache
def output_tuples() -> dict[str, tuple[str, ...]]:
    """Each paper's table and figure names by the name the rules of rules/<paper>.smk use
    for them: `<paper>.TABLES` / `<paper>.FIGURES` (decoybench.papers.<paper>.workflow)."""
    from decoybench.papers.attractors import workflow as attractors
    from decoybench.papers.baselines import workflow as baselines
    from decoybench.papers.luring import workflow as luring
    from decoybench.papers.multitask import workflow as multitask

    modules = {
        "attractors": attractors, "luring": luring, "multitask": multitask, "baselines": baselines,
    }  # fmt: skip
    return {
        f"{alias}.{kind}": getattr(module, kind)
        for alias, module in modules.items()
        for kind in ("TABLES", "FIGURES")
    }


def _resolve(dotted: str) -> object:
    """The object `decoybench.a.b.c` names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as error:
            if not ".".join(parts[:cut]).startswith(str(error.name)):
                raise
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise ImportError(dotted)


def _markdown_files() -> list[Path]:
    return [README, CONFIG_README, *sorted((REPOSITORY_ROOT / "docs").rglob("*.md"))]


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {
        _slug(line.lstrip("#"))
        for line in path.read_text().splitlines()
        if re.match(r"#{1,6} ", line)
    }


def _repository_files() -> list[Path]:
    """Tracked and untracked, not ignored files (without git: every file but SKIPPED_PARTS)."""
    git = shutil.which("git")
    if git and (REPOSITORY_ROOT / ".git").exists():
        listed = subprocess.run(
            [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPOSITORY_ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        paths = [REPOSITORY_ROOT / name for name in listed.split("\0") if name]
    else:
        paths = [path for path in REPOSITORY_ROOT.rglob("*") if path.is_file()]
    return [
        path
        for path in paths
        if path.is_file()
        and not SKIPPED_PARTS & set(path.relative_to(REPOSITORY_ROOT).parts)
        and not any(part.endswith(".egg-info") for part in path.parts)
    ]


# --- (a)-(c): the index table ------------------------------------------------------------


def test_every_index_function_imports_and_exists() -> None:
    for row in index_rows():
        for module, function in row["references"]:
            value = getattr(importlib.import_module(module), function, None)
            assert callable(value), f"README index: {module}:{function} does not exist"


def test_every_index_rule_exists_and_writes_its_files() -> None:
    texts = rule_texts()
    tuples = output_tuples()
    for row in index_rows():
        rule = row["rule"]
        assert rule in texts, f"README index: no `rule {rule}:` in rules/*.smk ({row['line']})"
        text = texts[rule]
        for folder, name in row["outputs"]:
            assert f"{folder}/" in text, f"rule {rule} writes nothing under {folder}/"
            literal = re.search(rf"\b{re.escape(name)}\b", text) is not None
            excluded = re.search(rf"!=\s*['\"]{re.escape(name)}['\"]", text) is not None
            suffix = ".TABLES" if folder == "tables" else ".FIGURES"
            from_tuple = any(
                tuple_name.endswith(suffix) and name in names and tuple_name in text
                for tuple_name, names in tuples.items()
            )
            assert (literal or from_tuple) and not excluded, (
                f"README index: rule {rule} does not write {folder}/{name}"
            )
        script = re.search(r"script:\s*\n?\s*['\"]([^'\"]+)['\"]", text)
        assert script, f"rule {rule} has no script"
        source = (RULES / script.group(1)).resolve().read_text()
        module, function = row["references"][0]
        assert re.search(rf"\b{function}\b", source) and module in source, (
            f"README index: {script.group(1)} (rule {rule}) does not call {module}:{function}"
        )


def test_every_table_and_figure_has_an_index_row() -> None:
    expected = set(EXTRA_OUTPUTS)
    for tuple_name, names in output_tuples().items():
        folder = "tables" if tuple_name.endswith(".TABLES") else "figures"
        expected.update((folder, name) for name in names)
    indexed = [output for row in index_rows() for output in row["outputs"]]
    missing = sorted(expected - set(indexed))
    assert not missing, f"README index has no row for {missing}"
    repeated = sorted(output for output, count in Counter(indexed).items() if count > 1)
    assert not repeated, f"README index lists {repeated} more than once"


# --- (d): the rule graph -----------------------------------------------------------------


def _rule_graph_lines(*arguments: str) -> list[str]:
    snakemake = Path(sys.executable).with_name("snakemake")
    command = [str(snakemake)] if snakemake.exists() else [sys.executable, "-m", "snakemake"]
    printed = subprocess.run(
        [*command, "--rulegraph", *arguments, "--nolock"],
        cwd=REPOSITORY_ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert printed.returncode == 0, printed.stderr[-2000:]
    return [line.rstrip() for line in printed.stdout.splitlines() if line.strip()]


def test_the_readme_picture_is_the_current_rule_graph() -> None:
    """docs/dag.dot is the current rule graph (edges come out in hash order, so compared as
    multisets of lines), and docs/dag.svg, drawn from it, names exactly its rules."""
    current = _rule_graph_lines()
    documented = [line.rstrip() for line in DAG_DOT.read_text().splitlines() if line.strip()]
    added = sorted((Counter(current) - Counter(documented)).elements())
    removed = sorted((Counter(documented) - Counter(current)).elements())
    assert not added and not removed, "docs/dag.dot is stale; run `make dag`:\n" + "\n".join(
        [*(f"+ {line}" for line in added), *(f"- {line}" for line in removed)]
    )
    rules = set(re.findall(r'label = "(\w+)"', "\n".join(current)))
    drawn = set(re.findall(r">(\w+)</text>", DAG_SVG.read_text()))
    assert drawn == rules, f"docs/dag.svg is stale (run `make dag`): {sorted(drawn ^ rules)}"
    assert "![The rule graph](docs/dag.svg)" in README.read_text()


# --- (e)-(g): citations, length, config keys ---------------------------------------------


def test_no_file_cites_a_design_document_outside_the_repository() -> None:
    found = []
    for path in _repository_files():
        data = path.read_bytes()
        if not any(word.encode() in data for word in FORBIDDEN):
            continue
        relative = path.relative_to(REPOSITORY_ROOT).as_posix()
        for line in data.decode(errors="replace").splitlines():
            if any(word in line for word in FORBIDDEN):
                found.append(f"{relative}: {line.strip()}")
    assert not found, "cite docs/design.md instead:\n" + "\n".join(found)


def test_the_readme_is_short() -> None:
    assert len(readme_lines()) <= MAX_README_LINES, (
        f"README.md has {len(readme_lines())} lines (at most {MAX_README_LINES}): "
        "move detail to docs/"
    )


def test_config_readme_documents_every_top_level_key() -> None:
    schema_keys = set(yaml.safe_load(SCHEMA.read_text())["properties"])
    text = CONFIG_README.read_text()
    section = text[text.index("## Top-level keys") :]
    section = section[: section.find("\n## ", 1) if "\n## " in section[1:] else None]
    documented = set(re.findall(r"^\|\s*`([\w-]+)`\s*\|", section, re.MULTILINE))
    assert schema_keys - documented == set(), (
        f"config/README.md does not document {sorted(schema_keys - documented)}"
    )
    extra = sorted(documented - schema_keys)
    assert not extra, f"config/README.md documents keys config/schema.yaml lacks: {extra}"


# --- beyond: metrics, links, references in the docs --------------------------------------


def test_design_names_every_metric_and_only_real_ones() -> None:
    tree = ast.parse(METRICS.read_text())
    public = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_")
    }
    text = DESIGN.read_text()
    section = text[text.index("## Metrics") : text.index("\n## ", text.index("## Metrics") + 1)]
    missing = sorted(name for name in public if not re.search(rf"`{name}[`(.]", section))
    assert not missing, f"docs/design.md's Metrics section does not define {missing}"
    named = set(re.findall(r"^- `(\w+)[`(]", section, re.MULTILINE))
    unknown = sorted(named - public)
    assert not unknown, f"docs/design.md defines metrics metrics.py lacks: {unknown}"


def test_links_and_paths_in_the_docs_exist() -> None:
    problems = []
    for path in _markdown_files():
        text = path.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                problems.append(f"{path.name}: link to missing {target}")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                problems.append(f"{path.name}: no heading for #{anchor} in {linked.name}")
        for token in _backticked(text):
            is_path = token.startswith(TOP_LEVEL_FOLDERS) and re.fullmatch(r"[\w./-]+", token)
            if is_path and not (REPOSITORY_ROOT / token).exists():
                problems.append(f"{path.name}: `{token}` does not exist")
    assert not problems, "\n".join(problems)


def test_decoybench_references_in_the_docs_resolve() -> None:
    problems = []
    for path in _markdown_files():
        for token in set(_backticked(path.read_text())):
            token = token.split("(")[0].rstrip(".")
            if not re.fullmatch(r"decoybench(\.\w+)*(:\w+)?", token):
                continue
            try:
                _resolve(token.replace(":", "."))
            except (ImportError, AttributeError) as error:
                problems.append(f"{path.name}: `{token}` ({error})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["attractors", "luring", "multitask", "baselines"])
def test_paper_docs_point_to_generated_tables(name: str) -> None:
    """Each paper's page lists where its results are, and types no percentages as results."""
    text = (REPOSITORY_ROOT / "docs" / "papers" / f"{name}.md").read_text()
    assert "## Where the results are" in text
    assert not re.search(r"\d+(\.\d+)?%", text), f"docs/papers/{name}.md types a percentage"
