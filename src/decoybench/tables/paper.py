"""Shared plumbing of a paper's tables: rates as table columns, CSV and captioned Markdown.

A paper module (`luring_tables`, `multitask_tables`) builds one frame per table. Each rate
is flattened into five columns by `rate_columns`: ``{prefix}`` (value), ``{prefix}_low``,
``{prefix}_high`` (95% Wilson interval), ``{prefix}_count``, ``{prefix}_total``; the CSV
holds these raw numbers (counts as nullable integers, `integer_counts`). The Markdown
(`markdown_table`, the one Markdown writer of every table, the cross-paper summary's too)
shows each rate with `format_rate` under a one-line caption, other columns as percents,
decimals or text, "—" where a value is absent.
`requested_outputs` and `write_tables` turn a rule's "{table}_csv" / "{table}_md" outputs
into files, written atomically.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from decoybench.io import write_text
from decoybench.metrics import Rate

__all__ = [
    "RATE_SUFFIXES",
    "MarkdownFormat",
    "as_float",
    "column_names",
    "difference_text",
    "format_rate",
    "integer_counts",
    "is_nan",
    "markdown_table",
    "percent_text",
    "rate_columns",
    "requested_outputs",
    "write_tables",
]

RATE_SUFFIXES: tuple[str, ...] = ("_low", "_high", "_count", "_total")
ABSENT = "—"


def is_nan(value: Any) -> bool:
    """Whether a cell value is absent: None, pandas' NA or a float NaN."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def as_float(value: Any) -> float:
    """`value` as a float, NaN when absent (`is_nan`)."""
    return math.nan if is_nan(value) else float(value)


def rate_columns(prefix: str, rate: Rate | Mapping[str, Any] | None) -> dict[str, Any]:
    """The five columns of one rate: value, 95% interval, count and total.

    A `Rate` gives its own value and interval; a mapping is a stored rate (`Rate.as_dict`),
    taken as stored (value, ci_low, ci_high, count, total); None gives NaN in all five.
    """
    if rate is None:
        return {prefix: math.nan, **{f"{prefix}{suffix}": math.nan for suffix in RATE_SUFFIXES}}
    if isinstance(rate, Rate):
        low, high = rate.interval
        value, count, total = rate.value, rate.count, rate.total
    else:
        value, low, high = (as_float(rate.get(key)) for key in ("value", "ci_low", "ci_high"))
        count, total = rate.get("count"), rate.get("total")
    return {
        prefix: value,
        f"{prefix}_low": low,
        f"{prefix}_high": high,
        f"{prefix}_count": count,
        f"{prefix}_total": total,
    }


def column_names(spec: Sequence[str]) -> list[str]:
    """Column names; `name*` expands to a rate's five columns (`rate_columns`)."""
    names: list[str] = []
    for name in spec:
        if name.endswith("*"):
            prefix = name[:-1]
            names += [prefix, *(f"{prefix}{suffix}" for suffix in RATE_SUFFIXES)]
        else:
            names.append(name)
    return names


def integer_counts(
    frame: pd.DataFrame, names: Collection[str] = (), pattern: str | None = None
) -> pd.DataFrame:
    """A copy of `frame` with its count columns as nullable integers, so that a missing
    count is empty in CSV, not a float: every ``*_count`` and ``*_total`` column, those in
    `names` and those `pattern` (a regular expression) matches in full."""
    frame = frame.copy()
    for column in frame.columns:
        if (
            column.endswith(("_count", "_total"))
            or column in names
            or (pattern is not None and re.fullmatch(pattern, column))
        ):
            frame[column] = pd.array(
                [None if is_nan(value) else int(value) for value in frame[column]], dtype="Int64"
            )
    return frame


# --- Markdown ----------------------------------------------------------------------------


def percent_text(value: Any) -> str:
    """A fraction as a percent to one decimal ("87.2%"); "—" when absent."""
    return ABSENT if is_nan(value) else f"{100 * float(value):.1f}%"


def difference_text(d: float, low: float, high: float, absent: str = ABSENT) -> str:
    """A difference of rates in points with its 95% interval, e.g. "+2.5 [-3.2, +8.2]";
    `absent` when undefined."""
    return absent if math.isnan(d) else f"{100 * d:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


def format_rate(value: float, low: float, high: float, count: int, total: int) -> str:
    """'87.2% [84.0, 89.9] (436/500)': value, 95% Wilson interval and counts."""
    if total == 0 or math.isnan(value):
        return "n/a (0/0)"
    return f"{100 * value:.1f}% [{100 * low:.1f}, {100 * high:.1f}] ({count}/{total})"


def _formatted(value: Any, spec: str) -> str:
    return ABSENT if is_nan(value) else format(float(value), spec)


@dataclass(frozen=True)
class MarkdownFormat:
    """How one table's columns are shown: `rates` (prefixes of `rate_columns`, shown with
    `format_rate`, their other four columns hidden), `percents`, `decimals` (4 significant
    digits) and `patterns` ((regular expression matched in full, format spec) pairs); any
    other column as text."""

    rates: tuple[str, ...] = ()
    percents: tuple[str, ...] = ()
    decimals: tuple[str, ...] = ()
    patterns: tuple[tuple[str, str], ...] = ()


def _shown_rate(row: pd.Series, prefix: str) -> str:
    value, total = row[prefix], row[f"{prefix}_total"]
    if is_nan(value) and is_nan(total):
        return ABSENT
    return format_rate(
        as_float(value),
        as_float(row[f"{prefix}_low"]),
        as_float(row[f"{prefix}_high"]),
        int(row[f"{prefix}_count"]),
        int(total),
    )


def markdown_table(
    frame: pd.DataFrame,
    caption: str | None,
    shown_as: MarkdownFormat = MarkdownFormat(),
    *,
    percent: Callable[[Any], str] = percent_text,
) -> str:
    """Markdown of one table: `caption` and a blank line (neither when it is None), then the
    rows with the columns shown as `shown_as` says (percents with `percent`), absent values
    as "—"; an empty frame gives "(no data for this table)"."""
    hidden = {f"{prefix}{suffix}" for prefix in shown_as.rates for suffix in RATE_SUFFIXES}
    shown = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        if column in hidden:
            continue
        if column in shown_as.rates:
            shown[column] = [_shown_rate(row, column) for _, row in frame.iterrows()]
        elif column in shown_as.percents:
            shown[column] = [percent(value) for value in frame[column]]
        elif column in shown_as.decimals:
            shown[column] = [_formatted(value, ".4g") for value in frame[column]]
        elif spec := next(
            (spec for regex, spec in shown_as.patterns if re.fullmatch(regex, column)), None
        ):
            shown[column] = [_formatted(value, spec) for value in frame[column]]
        else:
            shown[column] = [ABSENT if is_nan(value) else str(value) for value in frame[column]]
    body = shown.to_markdown(index=False) if len(shown) else "(no data for this table)"
    return f"{body}\n" if caption is None else f"{caption}\n\n{body}\n"


# --- writing -----------------------------------------------------------------------------


def requested_outputs(
    outputs: Mapping[str, str | Path], tables: Sequence[str], paper: str
) -> dict[str, dict[str, Path]]:
    """{table: {"csv" | "md": path}} from outputs keyed "{table}_csv" / "{table}_md";
    ValueError naming `paper` ("luring", "multitask") for a key not of that form with
    {table} one of `tables`."""
    requested: dict[str, dict[str, Path]] = {}
    for key, path in outputs.items():
        name, _, extension = key.rpartition("_")
        if name not in tables or extension not in ("csv", "md"):
            raise ValueError(
                f"unknown {paper} table output {key!r}; expected <table>_csv or <table>_md "
                f"with <table> one of {', '.join(tables)}"
            )
        requested.setdefault(name, {})[extension] = Path(path)
    return requested


def write_tables(
    frames: Mapping[str, pd.DataFrame],
    requested: Mapping[str, Mapping[str, Path]],
    markdown: Callable[[str, pd.DataFrame], str],
) -> None:
    """Write each requested table (`requested_outputs`) atomically (`decoybench.io.
    write_text`): its frame as CSV without the index, and/or `markdown(name, frame)`."""
    for name, paths in requested.items():
        if "csv" in paths:
            write_text(paths["csv"], frames[name].to_csv(index=False))
        if "md" in paths:
            write_text(paths["md"], markdown(name, frames[name]))
