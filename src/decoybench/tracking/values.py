"""Values shaped for MLflow: safe keys, flattened mappings, text params, finite metrics."""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from typing import Any

MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_KEY_LENGTH = 250

_INVALID_KEY_CHARACTERS = re.compile(r"[^/\w.\- :]")


def _sanitize_key(key: str) -> str:
    """Make `key` acceptable to MLflow (characters, no path tricks, <= 250 chars)."""
    key = _INVALID_KEY_CHARACTERS.sub("_", str(key)).strip()
    normal = re.sub(r"/+", "/", key).strip("/")
    normal = "/".join("_" if part in (".", "..") else part for part in normal.split("/"))
    return (normal or "_")[:MAX_KEY_LENGTH]


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, dotted + ".")
        else:
            yield dotted, value


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, list | tuple | set | frozenset | Mapping):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return json.dumps(items, default=_json_fallback)
    return str(_as_python_scalar(value))


def _json_fallback(value: Any) -> Any:
    scalar = _as_python_scalar(value)
    return scalar if scalar is not value else str(value)


def _as_python_scalar(value: Any) -> Any:
    """numpy (or torch) 0-d scalars -> Python scalars; anything else unchanged."""
    if getattr(value, "shape", None) == () and callable(getattr(value, "item", None)):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    return value


def _metric_value(value: Any) -> float | None:
    """A finite float for int/float/bool/numpy scalars; None for anything else."""
    value = _as_python_scalar(value)
    if not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _reason(error: BaseException) -> str:
    """`<ExceptionType>: <message on one line, <= 500 chars>` for a log line."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {_truncate(text, 500)}"
