"""Atomic, pickle-free file I/O: every artifact is written to a temp file, then renamed.

A job killed mid-write leaves at most a `.tmp-*` file beside the target, never a partial
file under the target's name, so a re-run never trusts half-written output.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temp path in the target's folder; rename it onto `target` on success.

    On any exception the temp file is removed and `target` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".tmp-{target.name}.", suffix=target.suffix
    )
    os.close(descriptor)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        with temporary_path.open("rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(temporary_path, 0o666 & ~_current_umask())  # mkstemp creates 0600
        os.replace(temporary_path, target)
    finally:
        temporary_path.unlink(missing_ok=True)


def write_bytes(target: str | Path, data: bytes) -> None:
    with atomic_path(target) as temporary:
        temporary.write_bytes(data)


def write_text(target: str | Path, text: str) -> None:
    write_bytes(target, text.encode())


def write_json(target: str | Path, value: Any) -> None:
    """Pretty, key-sorted JSON (stable diffs), written atomically."""
    write_text(target, json.dumps(value, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{path} does not exist") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); delete it and re-run") from error


def write_npz(target: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Uncompressed .npz of plain (non-object) arrays, written atomically."""
    for name, array in arrays.items():
        if np.asarray(array).dtype == object:
            raise TypeError(f"array {name!r} has dtype object; only plain arrays are stored")
    with atomic_path(target) as temporary, temporary.open("wb") as handle:
        np.savez(handle, **{name: np.asarray(array) for name, array in arrays.items()})


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Load every array of an .npz with pickles refused."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(
            f"{path} is not a readable .npz archive ({error}); delete it and re-run"
        ) from error


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
