"""Pinned reproductions: a finished run's data and checkpoints in DVC, and their timestamps.

`pin_run` (the workflow's `pin` rule) adds `data/` and, per target dataset, the checkpoint
folders `results/<dataset>/models` and `results/<dataset>/defenses` (with config
`pin.adversarial_sets`, also `adv`, `eval` and `analysis`) to DVC, pushes them to
the default (or a named) remote and writes `pins.json`: every pinned file's path, SHA-256,
size and modification time. Committed with the `.dvc` files and tagged, it makes
`git checkout <tag> && dvc pull && snakemake --cores all` rebuild every table and figure
from the pinned checkpoints, without retraining.

`dvc pull` writes files in its own order, with fresh timestamps, so Snakemake would see a
defense older than the victim it was built from and rebuild it. `restore_pinned_order`,
called when the Snakefile is parsed, puts the timestamps of pulled files back in the order
of the pinned run. This replaces `ancient()`, which would also stop Snakemake from re-running
what lies downstream of a job that does re-run (a rebuilt dataset would not retrain).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from decoybench.io import read_json, sha256_file, write_json

PIN_MANIFEST = "pins.json"
FORMAT_VERSION = 1
_SPACING_NS = 1_000  # 1 µs between restored timestamps: strictly ordered on ns file systems
_FIELDS = {"path": str, "sha256": str, "size": int, "mtime_ns": int}


class PinError(RuntimeError):
    """A run cannot be pinned, or a pin manifest is unreadable."""


@dataclass(frozen=True)
class PinnedFile:
    """One pinned file: its path relative to the working directory and what it was."""

    path: str
    sha256: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Pin:
    """What `pin_run` wrote: the manifest, the `.dvc` files of the pinned folders, the
    `.dvc` files of attack folders an earlier `adversarial_sets` pin left (now removed) and
    the number of pinned files."""

    manifest: Path
    dvc_files: list[Path]
    unpinned: list[Path]
    files: int


@dataclass(frozen=True)
class Restoration:
    """What `restore_pinned_order` did: files re-timestamped, pinned files whose content
    differs from the pin (timestamps then left alone), pinned files absent."""

    restored: int
    changed: tuple[str, ...]
    missing: tuple[str, ...]

    def describe(self) -> str | None:
        """One line for the log, or None when nothing needed saying."""
        if self.changed:
            shown = ", ".join(self.changed[:3]) + (" ..." if len(self.changed) > 3 else "")
            return (
                f"decoybench: {len(self.changed)} pinned file(s) differ from {PIN_MANIFEST} "
                f"({shown}); timestamps left to Snakemake"
            )
        if self.restored:
            return (
                f"decoybench: put the timestamps of {self.restored} pulled file(s) back in "
                f"the order of the pinned run ({PIN_MANIFEST})"
            )
        return None


CHECKPOINT_FOLDERS = ("models", "defenses")
# Everything a table or figure is built from, for `adversarial_sets`: the crafted sets, the
# cells' metrics and the analysis measurements.
ATTACK_FOLDERS = ("adv", "eval", "analysis", "leaderboard")


def pinned_directories(
    datasets: Iterable[str], workdir: Path, adversarial_sets: bool = False
) -> list[Path]:
    """`data` and each dataset's checkpoint folders (relative), those that exist; with
    `adversarial_sets`, also its ATTACK_FOLDERS."""
    directories = [Path("data")]
    for dataset in datasets:
        models = Path("results") / dataset / "models"
        if not (workdir / models).is_dir():
            raise PinError(f"{workdir / models} does not exist; run `snakemake --cores all` first")
        folders = CHECKPOINT_FOLDERS + (ATTACK_FOLDERS if adversarial_sets else ())
        directories += [
            Path("results") / dataset / folder
            for folder in folders
            if (workdir / "results" / dataset / folder).is_dir()
        ]
    return directories


def describe_files(workdir: Path, directories: Sequence[Path]) -> list[PinnedFile]:
    """Every file under `directories`, sorted by path. Refuses leftovers of a killed write."""
    files = []
    for directory in directories:
        for path in sorted((workdir / directory).rglob("*")):
            if not path.is_file():
                continue
            relative = path.relative_to(workdir).as_posix()
            if path.name.startswith(".tmp-"):
                raise PinError(
                    f"{relative} is a partial write of a killed job; delete it and re-run "
                    "`snakemake --cores all` before pinning"
                )
            status = path.stat()
            digest = sha256_file(path)
            files.append(PinnedFile(relative, digest, status.st_size, status.st_mtime_ns))
    return files


def run_dvc(workdir: Path, *arguments: str) -> str:
    """Run `python -m dvc` in `workdir`; a failure raises PinError with DVC's own message."""
    completed = subprocess.run(
        [sys.executable, "-m", "dvc", "--wait-for-lock", *arguments],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        message = (completed.stderr or completed.stdout).strip()
        raise PinError(f"`dvc {' '.join(arguments)}` failed in {workdir}: {message}")
    return completed.stdout


def pin_run(
    workdir: Path,
    datasets: Iterable[str],
    remote: str | None = None,
    adversarial_sets: bool = False,
) -> Pin:
    """Add the run's data and checkpoints to DVC, push them, write the pin manifest.

    `adversarial_sets` also pins the crafted sets, cell metrics and analyses, so that a
    reproduction crafts nothing and only rebuilds the tables and figures; without it, the
    attack folders' `.dvc` files of an earlier such pin are removed (`dvc remove`, which
    keeps the files). Commit the manifest and the `.dvc` files (and tag) to pin the run.
    """
    workdir = Path(workdir).resolve()
    if not (workdir / ".dvc").is_dir():
        raise PinError(f"{workdir} is not a DVC repository (no .dvc/); pin from its root")
    datasets = list(datasets)
    directories = pinned_directories(datasets, workdir, adversarial_sets)
    files = describe_files(workdir, directories)
    stale = () if adversarial_sets else ATTACK_FOLDERS
    unpinned = [
        pin
        for dataset in datasets
        for folder in stale
        if (pin := workdir / "results" / dataset / f"{folder}.dvc").exists()
    ]
    if unpinned:
        run_dvc(workdir, "remove", *(str(pin.relative_to(workdir)) for pin in unpinned))
    run_dvc(workdir, "add", "--quiet", *map(str, directories))
    run_dvc(workdir, "push", "--quiet", *(["--remote", remote] if remote else []))
    manifest = workdir / PIN_MANIFEST
    write_json(
        manifest,
        {
            "format_version": FORMAT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "directories": [directory.as_posix() for directory in directories],
            "files": [asdict(file) for file in files],
        },
    )
    dvc_files = [workdir / f"{directory}.dvc" for directory in directories]
    return Pin(manifest, dvc_files, unpinned, len(files))


def pin_instructions(pin: Pin, workdir: Path) -> tuple[list[str], str]:
    """The pinned folders' `.dvc` files relative to `workdir` (POSIX), and the message that
    tells how to commit and tag the pin (staging the `.dvc` files it removed as unpinned)
    and reproduce it anywhere."""
    pinned, unpinned = (
        [path.relative_to(workdir).as_posix() for path in paths]
        for paths in (pin.dvc_files, pin.unpinned)
    )
    commands = [f"git add {pin.manifest.name} {' '.join(pinned)}"]
    if unpinned:
        commands.append(f"git rm -q --cached --ignore-unmatch {' '.join(unpinned)}")
    commands.append("git commit -m 'Pin <run>' && git tag <tag>")
    message = (
        "pinned; commit and tag the pin:\n"
        + "".join(f"  {command}\n" for command in commands)
        + "and reproduce it anywhere with:\n"
        "  git checkout <tag> && dvc pull && snakemake --cores all"
    )
    return pinned, message


def read_manifest(path: Path) -> list[PinnedFile]:
    """The pinned files of a manifest; a malformed one names the bad entry."""
    value = read_json(path)
    if not isinstance(value, dict) or value.get("format_version") != FORMAT_VERSION:
        raise PinError(
            f"{path}: expected a decoybench pin manifest with format_version {FORMAT_VERSION}"
        )
    entries = value.get("files")
    if not isinstance(entries, list):
        raise PinError(f"{path}: `files` must be a list of pinned files")
    files = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != set(_FIELDS):
            raise PinError(f"{path}: files[{index}] must have exactly the keys {sorted(_FIELDS)}")
        for key, kind in _FIELDS.items():
            if not isinstance(entry[key], kind) or isinstance(entry[key], bool):
                raise PinError(f"{path}: files[{index}].{key} must be a {kind.__name__}")
        files.append(PinnedFile(**entry))
    return files


def _in_order(ordered: Sequence[PinnedFile], mtimes: dict[str, int]) -> bool:
    """True when the current timestamps of `ordered` (in the pinned run's order) never run
    against that order."""
    current = [mtimes[file.path] for file in ordered]
    return all(earlier <= later for earlier, later in itertools.pairwise(current))


def restore_pinned_order(workdir: Path, manifest: str = PIN_MANIFEST) -> Restoration:
    """Re-timestamp pulled pinned files so that their order is the pinned run's.

    Nothing is touched when there is no manifest, when the present pinned files are already
    in order (the usual case: a no-op costing one stat per file), or when any of them differs
    from its pin (a retrained checkpoint: its timestamp must keep telling Snakemake what is
    stale). Otherwise every present pinned file gets a timestamp of the last few
    milliseconds, in the pinned order, so that everything the pins were built from is older
    than what was built from them and anything not pinned is older than the pins.
    """
    workdir = Path(workdir)
    if not (workdir / manifest).is_file():
        return Restoration(0, (), ())
    ordered = sorted(read_manifest(workdir / manifest), key=lambda f: (f.mtime_ns, f.path))
    present, stats, missing = [], {}, []
    for file in ordered:
        try:
            stats[file.path] = (workdir / file.path).stat()
            present.append(file)
        except FileNotFoundError:
            missing.append(file.path)
    mtimes = {path: status.st_mtime_ns for path, status in stats.items()}
    if _in_order(present, mtimes):
        return Restoration(0, (), tuple(missing))
    changed = tuple(
        file.path
        for file in present
        if stats[file.path].st_size != file.size or sha256_file(workdir / file.path) != file.sha256
    )
    if changed:
        return Restoration(0, changed, tuple(missing))
    start = time.time_ns() - _SPACING_NS * len(present)
    for rank, file in enumerate(present):
        stamp = start + rank * _SPACING_NS
        os.utime(workdir / file.path, ns=(stamp, stamp))
    return Restoration(len(present), (), tuple(missing))
