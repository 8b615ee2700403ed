"""The fidelity target's file names and parameters, for rules/fidelity.smk."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from decoybench.fidelity.points import sweep_points

__all__ = ["base_digest", "find_point", "outputs", "paper_settings", "point_files"]

Config = dict[str, Any]


def _papers(config: Config) -> dict[str, Any]:
    return (config.get("fidelity") or {}).get("papers") or {}


def paper_settings(config: Config, paper: str) -> dict[str, Any]:
    """`fidelity.papers.<paper>`; KeyError naming the known papers otherwise."""
    papers = _papers(config)
    if paper not in papers:
        raise KeyError(f"fidelity paper {paper!r} is not configured; known: {', '.join(papers)}")
    return papers[paper]


def find_point(config: Config, paper: str, sweep: str, label: str) -> dict[str, Any]:
    """The point (`SweepPoint` fields) of `paper`/`sweep` labelled `label`."""
    for point in sweep_points(config.get("fidelity") or {}):
        if (point.paper, point.sweep, point.label) == (paper, sweep, label):
            return dataclasses.asdict(point)
    raise KeyError(f"no fidelity point {paper}/{sweep}/{label} in the config")


def point_files(config: Config, dataset: str, paper: str) -> list[str]:
    """Every point record of `paper`, in config order."""
    return [
        f"results/{dataset}/fidelity/points/{point.paper}/{point.sweep}/{point.label}/point.json"
        for point in sweep_points({"papers": {paper: paper_settings(config, paper)}})
    ]


def base_digest(config: Config) -> str:
    """SHA-256 of the config every point is merged over, `fidelity` left out: a rule param,
    so that Snakemake re-runs the points (each incrementally) when the default config they
    sweep around changes, not only when a point's own overlay or value does."""
    base = {key: value for key, value in config.items() if key != "fidelity"}
    return hashlib.sha256(json.dumps(base, sort_keys=True, default=str).encode()).hexdigest()


def outputs(config: Config) -> list[str]:
    """The reproduction report of every configured paper on every target."""
    return [
        f"results/{dataset}/fidelity/{paper}.md"
        for dataset in config["targets"]
        for paper in _papers(config)
    ]
