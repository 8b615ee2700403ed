"""The reproduction report of one paper: each claim's verdict on the default run, its
diagnosis from the sweeps, and a figure per sweep (issue 17).

Diagnosis of a claim that does not hold on the default run, first match wins:

1. **implementation choice**: some point of a `choice` sweep (a parameter the paper leaves
   open) makes it hold; the report names the setting;
2. **scale**: some point of a `scale` sweep (longer training, more images, the paper's
   budget) makes it hold, or the claim's slack (how far the measured value is on the claim's
   side of the threshold) improves from the smallest to the largest scale by more than the
   smallest point's interval half-width, or no run decides it (every verdict undecided, or
   the default run undecided and no point holding: the test set is too small);
   an undecided point that lies closer to the claim than the default run by more than the
   default's half-interval is diagnosed by its sweep's kind, with that caveat;
3. **not reproducible**: no swept setting within the paper's description reaches it.

A claim no sweep measured says so ("not diagnosed"); a claim that holds on the default run
"reproduces". Every number in the report comes from the claims tables it reads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from decoybench.figures.save import save_figure
from decoybench.io import read_json, write_text
from decoybench.verdicts import FAILS, HOLDS, NO_DATA, UNDECIDED

__all__ = ["PointResult", "diagnose", "load_point", "reproduction_report", "slack"]

REPRODUCES = "reproduces"
CHOICE = "implementation choice"
SCALE = "scale"
NOT_REPRODUCIBLE = "not reproducible"
NOT_DIAGNOSED = "not diagnosed"


@dataclass
class PointResult:
    """One sweep point's record (`point.json`) and its claims rows by key."""

    record: dict[str, Any]
    claims: pd.DataFrame  # indexed by key
    figure: str | None = field(default=None)

    @property
    def sweep(self) -> str:
        return str(self.record["sweep"])

    @property
    def kind(self) -> str:
        return str(self.record["kind"])


def load_point(directory: str | Path, tables: Sequence[str]) -> PointResult:
    """A point directory written by `decoybench.fidelity.run.run_point`."""
    directory = Path(directory)
    record = read_json(directory / "point.json")
    frames = [_claims_frame(pd.read_csv(directory / f"{table}.csv")) for table in tables]
    return PointResult(record=record, claims=pd.concat(frames))


def _claims_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop_duplicates("key").set_index("key")


def slack(row: Mapping[str, Any]) -> float:
    """How far `measured` lies on the claim's side of its threshold (> 0: satisfied), by
    `comparison`: measured − t for ≥ / >, t − measured for ≤ / <, t − |measured| for
    "within"; nan when undefined."""
    measured, threshold = float(row.get("measured", math.nan)), float(row["threshold"])
    comparison = str(row["comparison"])
    if math.isnan(measured):
        return math.nan
    if comparison in (">=", ">"):
        return measured - threshold
    if comparison in ("<=", "<"):
        return threshold - measured
    if comparison == "within":
        return threshold - abs(measured)
    raise ValueError(f"unknown comparison {comparison!r}")


def _half_width(row: Mapping[str, Any]) -> float:
    low, high = float(row.get("measured_low", math.nan)), float(row.get("measured_high", math.nan))
    return (high - low) / 2 if not (math.isnan(low) or math.isnan(high)) else 0.0


def _value_text(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _setting(record: Mapping[str, Any]) -> str:
    """A point's value as the report shows it: a mapping by its label (`labels`), else the
    value itself."""
    if isinstance(record["value"], dict):
        return str(record.get("label", "?"))[3:]
    return _value_text(record["value"])


def diagnose(
    key: str, default: Mapping[str, Any] | None, points: Sequence[PointResult]
) -> tuple[str, str]:
    """(category, explanation) of claim `key` (module docstring's rules)."""
    if default is not None and default["verdict"] == HOLDS:
        return REPRODUCES, "holds on the default run"
    measured = [point for point in points if key in point.claims.index]
    if not measured:
        return NOT_DIAGNOSED, "no sweep measured this claim"
    for kind, category in (("choice", CHOICE), ("scale", SCALE)):
        for point in measured:
            if point.kind == kind and point.claims.loc[key, "verdict"] == HOLDS:
                record = point.record
                return category, (
                    f"holds at {record['key']} = {_setting(record)} (sweep {point.sweep})"
                )
    by_sweep: dict[str, list[PointResult]] = {}
    for point in measured:
        by_sweep.setdefault(point.sweep, []).append(point)
    for sweep, sweep_points in by_sweep.items():
        if sweep_points[0].kind != "scale" or len(sweep_points) < 2:
            continue
        ordered = sorted(sweep_points, key=lambda point: int(point.record["index"]))
        first, last = ordered[0].claims.loc[key], ordered[-1].claims.loc[key]
        gain = slack(last) - slack(first)
        if not math.isnan(gain) and gain > max(_half_width(first), 1e-9):
            key_name = ordered[0].record["key"]
            return SCALE, (
                f"moves toward the claim as {key_name} grows (sweep {sweep}: measured "
                f"{float(first['measured']):.3f} at {_setting(ordered[0].record)}"
                f" → {float(last['measured']):.3f} at "
                f"{_setting(ordered[-1].record)}, threshold "
                f"{float(first['threshold']):g}) without reaching it"
            )
    if default is not None and not math.isnan(slack(default)):
        closer = [
            point
            for point in measured
            if point.claims.loc[key, "verdict"] == UNDECIDED
            and slack(point.claims.loc[key]) > slack(default) + _half_width(default)
        ]
        if closer:
            best = max(closer, key=lambda point: slack(point.claims.loc[key]))
            row, record = best.claims.loc[key], best.record
            return (CHOICE if best.kind == "choice" else SCALE), (
                f"undecided at {record['key']} = {_setting(record)} (sweep "
                f"{best.sweep}: {_interval_text(row)} against {_interval_text(default)} on "
                "the default run): the setting moves it toward the claim by more than the "
                "default's half-interval, and a larger test set would decide it"
            )
    verdicts = {str(point.claims.loc[key, "verdict"]) for point in measured}
    if default is not None:
        verdicts.add(str(default["verdict"]))
    failing = sum(point.claims.loc[key, "verdict"] == FAILS for point in measured)
    if verdicts <= {UNDECIDED, NO_DATA} and UNDECIDED in verdicts:
        return SCALE, "undecided at every swept setting: the test set is too small to decide"
    if default is not None and default["verdict"] == UNDECIDED:
        return SCALE, (
            f"undecided on the default run and at {len(measured) - failing} of "
            f"{len(measured)} swept settings ({failing} fail, none holds): the test set is "
            "too small to decide"
        )
    swept = ", ".join(
        f"{sweep} ({ps[0].record['key']} ∈ {{" + "; ".join(_setting(p.record) for p in ps) + "})"
        for sweep, ps in by_sweep.items()
    )
    return NOT_REPRODUCIBLE, (
        f"no swept setting reaches it ({failing} of {len(measured)} points fail): {swept}"
    )


def _interval_text(row: Mapping[str, Any]) -> str:
    measured = float(row.get("measured", math.nan))
    if math.isnan(measured):
        return "—"
    low, high = float(row.get("measured_low", math.nan)), float(row.get("measured_high", math.nan))
    if math.isnan(low) or math.isnan(high):
        return f"{measured:.3f}"
    return f"{measured:.3f} [{low:.3f}, {high:.3f}]"


def plot_sweep(
    sweep: str,
    points: Sequence[PointResult],
    keys: Sequence[str],
    out_png: str | Path,
    default: pd.DataFrame | None = None,
) -> None:
    """One panel per claim: the measured value and its 95% interval at each point of the
    sweep, the threshold (dashed; a band for "within" claims), verdict by marker colour, and
    the default run's value (hollow, first tick) for reference; PNG and, beside it, PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(points, key=lambda point: int(point.record["index"]))
    present = [key for key in keys if any(key in point.claims.index for point in ordered)]
    columns = min(3, max(1, len(present)))
    rows = max(1, math.ceil(len(present) / columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 3.0 * rows), squeeze=False, constrained_layout=True
    )
    colours = {HOLDS: "tab:green", FAILS: "tab:red", UNDECIDED: "tab:orange", NO_DATA: "grey"}
    labels = ["default", *(_setting(point.record) for point in ordered)]
    for axis, key in zip(axes.flat, present, strict=False):
        threshold, comparison = None, None
        reference = default.loc[key] if default is not None and key in default.index else None
        for position, row in enumerate(
            [reference, *(p.claims.loc[key] if key in p.claims.index else None for p in ordered)]
        ):
            if row is None:
                continue
            threshold, comparison = float(row["threshold"]), str(row["comparison"])
            measured = float(row["measured"])
            if math.isnan(measured):
                continue
            low, high = float(row["measured_low"]), float(row["measured_high"])
            error = None
            if not (math.isnan(low) or math.isnan(high)):
                error = [[max(measured - low, 0.0)], [max(high - measured, 0.0)]]
            colour = colours.get(str(row["verdict"]), "grey")
            axis.errorbar(
                [position], [measured], yerr=error, fmt="o", capsize=3, color=colour,
                markerfacecolor="white" if position == 0 else colour,
            )  # fmt: skip
        if threshold is not None:
            axis.axhline(threshold, linestyle="--", color="black", linewidth=0.8)
            if comparison == "within":
                axis.axhline(-threshold, linestyle="--", color="black", linewidth=0.8)
        axis.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
        axis.set_title(key, fontsize=8)
        axis.tick_params(axis="y", labelsize=7)
    for axis in list(axes.flat)[len(present) :]:
        axis.set_visible(False)
    key_name = ordered[0].record["key"] if ordered else sweep
    figure.suptitle(f"sweep {sweep}: {key_name} (green holds, red fails, orange undecided)")
    save_figure(figure, out_png, Path(out_png).with_suffix(".pdf"))
    plt.close(figure)


def reproduction_report(
    *,
    paper: str,
    title: str,
    default_claims: pd.DataFrame,
    points: Sequence[PointResult],
    figure_dir: str | Path,
    out: str | Path,
    sweeps: Mapping[str, Mapping[str, Any]],
) -> pd.DataFrame:
    """Write the report (Markdown, `out`) and one figure per sweep under `figure_dir`
    (linked relative to `out`); return the claim → diagnosis frame."""
    out, figure_dir = Path(out), Path(figure_dir)
    default = _claims_frame(default_claims)
    by_sweep: dict[str, list[PointResult]] = {}
    for point in points:
        by_sweep.setdefault(point.sweep, []).append(point)
    keys = list(default.index)
    for point in points:
        keys += [key for key in point.claims.index if key not in keys]
    figures: dict[str, str] = {}
    for sweep, sweep_points in by_sweep.items():
        png = figure_dir / f"{paper}_{sweep}.png"
        plot_sweep(sweep, sweep_points, keys, png, default)
        figures[sweep] = Path(_relative(png, out.parent)).as_posix()
    rows = []
    for key in keys:
        row = default.loc[key] if key in default.index else None
        category, explanation = diagnose(key, row, points)
        evidence = [
            f"[{sweep}]({figures[sweep]})"
            for sweep, sweep_points in by_sweep.items()
            if any(key in point.claims.index for point in sweep_points)
        ]
        rows.append(
            {
                "key": key,
                "claim": _text(row, "claim") if row is not None else _first(points, key, "claim"),
                "paper": _text(row, "paper") if row is not None else "—",
                "ours": _interval_text(row) if row is not None else "—",
                "verdict": str(row["verdict"]) if row is not None else "not in the default run",
                "diagnosis": category,
                "explanation": explanation,
                "evidence": ", ".join(evidence) or "—",
            }
        )
    frame = pd.DataFrame(rows)
    write_text(out, _markdown(title, frame, by_sweep, sweeps, figures))
    return frame


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path, start)


def _text(row: Mapping[str, Any], column: str) -> str:
    value = row.get(column) if hasattr(row, "get") else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return str(value).replace("|", "/")


def _first(points: Sequence[PointResult], key: str, column: str) -> str:
    for point in points:
        if key in point.claims.index:
            return _text(point.claims.loc[key], column)
    return "—"


def _markdown(
    title: str,
    frame: pd.DataFrame,
    by_sweep: Mapping[str, Sequence[PointResult]],
    sweeps: Mapping[str, Mapping[str, Any]],
    figures: Mapping[str, str],
) -> str:
    counts = frame["diagnosis"].value_counts()
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    lines = [
        f"# Reproduction report: {title}",
        "",
        f"{len(frame)} claims: {summary}. Verdicts are holds / fails / undecided from 95% "
        "intervals; `ours` is the default run's measured value [95% interval] against the "
        "claim's threshold (see the claims table for its definition). Generated by "
        "`snakemake --cores all fidelity` (decoybench.fidelity.report); do not edit.",
        "",
        "| claim | paper | ours (default run) | verdict | diagnosis | evidence |",
        "|---|---|---|---|---|---|",
    ]
    for row in frame.itertuples():
        lines.append(
            f"| {row.claim} (`{row.key}`) | {row.paper} | {row.ours} | {row.verdict} | "
            f"**{row.diagnosis}**: {row.explanation} | {row.evidence} |"
        )
    lines += ["", "## Sweeps", ""]
    for sweep, points in by_sweep.items():
        spec = sweeps.get(sweep, {})
        ordered = sorted(points, key=lambda point: int(point.record["index"]))
        values = "; ".join(_setting(point.record) for point in ordered)
        lines += [
            f"### {sweep} ({spec.get('kind', ordered[0].kind)}): `{ordered[0].record['key']}` "
            f"∈ {{{values}}}",
            "",
        ]
        if spec.get("why"):
            lines += [str(spec["why"]), ""]
        lines += [f"![{sweep}]({figures[sweep]})", ""]
        keys = [key for key in frame["key"] if any(key in p.claims.index for p in ordered)]
        header = "| claim | " + " | ".join(_setting(p.record) for p in ordered) + " |"
        lines += [header, "|---|" + "---|" * len(ordered)]
        for key in keys:
            cells = []
            for point in ordered:
                if key not in point.claims.index:
                    cells.append("—")
                    continue
                row = point.claims.loc[key]
                cells.append(f"{row['verdict']}: {_interval_text(row)}")
            lines.append(f"| `{key}` | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def copy_reports(fidelity_dir: str | Path, copy_to: str | Path) -> list[Path]:
    """Copy a finished fidelity run's reports (`<paper>.md`) and their sweep figures (PNG)
    from `fidelity_dir` (results/<dataset>/fidelity) to `copy_to` (docs/results/<dataset>/
    fidelity), keeping the reports' relative figure links valid; return the copies."""
    from decoybench.io import write_bytes

    source, target = Path(fidelity_dir), Path(copy_to)
    copies = []
    for path in [*sorted(source.glob("*.md")), *sorted((source / "figures").glob("*.png"))]:
        destination = target / path.relative_to(source)
        write_bytes(destination, path.read_bytes())
        copies.append(destination)
    return copies
