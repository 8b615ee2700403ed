"""Sweep points of the `fidelity` config: one config override per (paper, sweep, value)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SweepPoint", "nested_override", "point_label", "sweep_points"]


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep: `key` (dotted config path) set to `value`."""

    paper: str
    sweep: str
    kind: str  # "scale" or "choice"
    key: str
    value: Any
    index: int
    name: str | None = None  # the sweep's `labels` entry, if it gives one

    @property
    def label(self) -> str:
        return point_label(self.index, self.value if self.name is None else self.name)


def point_label(index: int, value: Any) -> str:
    """A file-name-safe label of a point: its index and value (or name), e.g. `02-0.1`,
    `01-3_128`, `00-madry-cnn`."""
    text = "_".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
    return f"{index:02d}-" + re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_")


def sweep_points(fidelity: Mapping[str, Any]) -> Iterator[SweepPoint]:
    """Every point of every sweep of every paper in the `fidelity` config, in config order."""
    for paper, settings in (fidelity.get("papers") or {}).items():
        for sweep, spec in (settings.get("sweeps") or {}).items():
            names = spec.get("labels") or [None] * len(spec["values"])
            if len(names) != len(spec["values"]):
                raise ValueError(
                    f"fidelity.papers.{paper}.sweeps.{sweep}: labels has {len(names)} entries, "
                    f"values {len(spec['values'])}; give one label per value"
                )
            for index, (value, name) in enumerate(zip(spec["values"], names, strict=True)):
                yield SweepPoint(paper, sweep, spec["kind"], spec["key"], value, index, name)


def nested_override(key: str, value: Any) -> dict[str, Any]:
    """`a.b.c` = v as the nested mapping {a: {b: {c: v}}} Snakemake merges over a config
    (a mapping v merges key by key at that path)."""
    parts = key.split(".")
    if not all(parts):
        raise ValueError(f"fidelity sweep key {key!r}: expected a dotted config path like a.b.c")
    override: dict[str, Any] = {parts[-1]: copy.deepcopy(value)}
    for part in reversed(parts[:-1]):
        override = {part: override}
    return override
