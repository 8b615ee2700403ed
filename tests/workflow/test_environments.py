"""envs/decoybench.yaml (for `--sdm conda`) mirrors the pip pins, and every job rule uses it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = REPOSITORY_ROOT / "envs" / "decoybench.yaml"
# Snakemake and its executor plugins run in the driver's environment, never inside a job's.
DRIVER_ONLY = re.compile(r"^snakemake($|-executor-plugin-)")


def pins(requirements: list[str]) -> dict[str, str]:
    """name -> version of `name==version` requirements (names normalised as pip does)."""
    pinned = {}
    for requirement in requirements:
        name, separator, version = requirement.partition("==")
        assert separator, f"{requirement!r} is not pinned with =="
        pinned[re.sub(r"[-_.]+", "-", name.strip()).lower()] = version.strip()
    return pinned


def environment_pins() -> tuple[str, dict[str, str]]:
    environment = yaml.safe_load(ENVIRONMENT.read_text())
    dependencies = environment["dependencies"]
    python = next(d for d in dependencies if isinstance(d, str) and d.startswith("python="))
    pip = next(d["pip"] for d in dependencies if isinstance(d, dict) and "pip" in d)
    return python, pins(pip)


def test_the_conda_environment_pins_what_pyproject_pins() -> None:
    project = tomllib.loads((REPOSITORY_ROOT / "pyproject.toml").read_text())["project"]
    expected = {
        name: version
        for name, version in pins(project["dependencies"]).items()
        if not DRIVER_ONLY.match(name)
    }
    python, pinned = environment_pins()
    assert pinned == expected
    minimum = project["requires-python"].removeprefix(">=")
    assert python == f"python={minimum}"


def test_the_conda_environment_agrees_with_the_lock_file() -> None:
    locked = pins(
        [
            line.split(";")[0].split("#")[0]
            for line in (REPOSITORY_ROOT / "requirements.lock").read_text().splitlines()
            if "==" in line and not line.lstrip().startswith("#")
        ]
    )
    _, pinned = environment_pins()
    assert {name: locked.get(name) for name in pinned} == pinned


def rule_blocks() -> list[tuple[str, str]]:
    """(file:rule, body) of every rule in rules/*.smk, named or defined in a loop."""
    blocks = []
    for path in sorted((REPOSITORY_ROOT / "rules").glob("*.smk")):
        text = path.read_text()
        starts = [match for match in re.finditer(r"^( *)rule\b\s*(\w*)\s*:", text, re.M)]
        for index, match in enumerate(starts):
            end = starts[index + 1].start() if index + 1 < len(starts) else len(text)
            blocks.append((f"{path.name}:{match.group(2) or '<loop>'}", text[match.start() : end]))
    return blocks


def test_every_rule_that_runs_code_declares_the_conda_environment() -> None:
    blocks = rule_blocks()
    running = [
        (name, body) for name, body in blocks if re.search(r"^\s+(script|shell):", body, re.M)
    ]
    assert len(running) >= 21, [name for name, _ in blocks]
    declares = re.compile(r'^\s+conda:\s*\n\s+"\.\./envs/decoybench\.yaml"', re.M)
    missing = [name for name, body in running if not declares.search(body)]
    assert not missing, f'rules without `conda: "../envs/decoybench.yaml"`: {missing}'
