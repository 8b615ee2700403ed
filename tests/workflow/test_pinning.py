"""Pinned runs: the pin manifest, DVC add/push of checkpoints, and the timestamp restoration."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from vcs import dvc, git

from decoybench.io import sha256_file
from decoybench.pinning import (
    PIN_MANIFEST,
    PinError,
    pin_run,
    read_manifest,
    restore_pinned_order,
)

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
# Produced in this order by the workflow: data, then the victim, then a defense built on it.
RUN_FILES = (
    "data/mnist5k/train.npz",
    "data/mnist5k/manifest.json",
    "results/mnist5k/models/victim.safetensors",
    "results/mnist5k/models/victim.json",
    "results/mnist5k/defenses/luring/defense.safetensors",
    "results/mnist5k/defenses/luring/defense.json",
)
HOUR_NS = 3_600 * 10**9


def make_run(workdir: Path) -> None:
    """A finished run's pinned files, one hour apart, in the workflow's order."""
    start = time.time_ns() - 10 * HOUR_NS
    for rank, relative in enumerate(RUN_FILES):
        path = workdir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{relative} bytes".encode())
        stamp = start + rank * HOUR_NS
        os.utime(path, ns=(stamp, stamp))


def write_manifest(workdir: Path) -> None:
    files = []
    for relative in RUN_FILES:
        path = workdir / relative
        status = path.stat()
        files.append(
            {
                "path": relative,
                "sha256": sha256_file(path),
                "size": status.st_size,
                "mtime_ns": status.st_mtime_ns,
            }
        )
    (workdir / PIN_MANIFEST).write_text(json.dumps({"format_version": 1, "files": files}))


def mtimes(workdir: Path) -> list[int]:
    return [(workdir / relative).stat().st_mtime_ns for relative in RUN_FILES]


def scramble(workdir: Path) -> None:
    """What `dvc pull` does: fresh timestamps, here in reverse order of the run."""
    now = time.time_ns()
    for rank, relative in enumerate(reversed(RUN_FILES)):
        os.utime(workdir / relative, ns=(now + rank, now + rank))


@pytest.fixture
def pulled(tmp_path: Path) -> Path:
    """A pinned run as `dvc pull` leaves it: manifest written, timestamps scrambled."""
    make_run(tmp_path)
    write_manifest(tmp_path)
    scramble(tmp_path)
    return tmp_path


def test_no_manifest_touches_nothing(tmp_path: Path) -> None:
    make_run(tmp_path)
    before = mtimes(tmp_path)
    restoration = restore_pinned_order(tmp_path)
    assert (restoration.restored, restoration.changed, restoration.missing) == (0, (), ())
    assert restoration.describe() is None
    assert mtimes(tmp_path) == before


def test_files_in_the_pinned_order_are_left_alone(tmp_path: Path) -> None:
    make_run(tmp_path)
    write_manifest(tmp_path)
    before = mtimes(tmp_path)
    assert restore_pinned_order(tmp_path).restored == 0
    assert mtimes(tmp_path) == before


def test_pulled_files_get_the_pinned_order_back_once(pulled: Path) -> None:
    assert mtimes(pulled) != sorted(mtimes(pulled))
    started = time.time_ns()

    restoration = restore_pinned_order(pulled)

    assert restoration.restored == len(RUN_FILES)
    assert "6 pulled file(s)" in restoration.describe()
    restored = mtimes(pulled)
    assert restored == sorted(restored) and len(set(restored)) == len(restored)
    # Recent: newer than anything a workspace built before the pull.
    assert all(started - 10**9 < stamp <= time.time_ns() for stamp in restored)
    assert restore_pinned_order(pulled).restored == 0  # idempotent
    assert mtimes(pulled) == restored


def test_a_file_that_differs_from_its_pin_leaves_every_timestamp_alone(pulled: Path) -> None:
    retrained = pulled / RUN_FILES[2]
    stamp = retrained.stat().st_mtime_ns
    retrained.write_bytes(b"retrained victim")  # same size would be caught by the hash
    os.utime(retrained, ns=(stamp, stamp))
    before = mtimes(pulled)

    restoration = restore_pinned_order(pulled)

    assert restoration.restored == 0 and restoration.changed == (RUN_FILES[2],)
    assert "1 pinned file(s) differ" in restoration.describe()
    assert mtimes(pulled) == before


def test_same_size_content_change_is_caught_by_the_hash(pulled: Path) -> None:
    victim = pulled / RUN_FILES[2]
    victim.write_bytes(bytes(reversed(victim.read_bytes())))
    assert restore_pinned_order(pulled).changed == (RUN_FILES[2],)


def test_missing_pinned_files_are_reported_and_the_rest_restored(pulled: Path) -> None:
    (pulled / RUN_FILES[-1]).unlink()
    restoration = restore_pinned_order(pulled)
    assert restoration.missing == (RUN_FILES[-1],)
    assert restoration.restored == len(RUN_FILES) - 1
    present = mtimes_of(pulled, RUN_FILES[:-1])
    assert present == sorted(present)


def mtimes_of(workdir: Path, relatives) -> list[int]:
    return [(workdir / relative).stat().st_mtime_ns for relative in relatives]


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"format_version": 2, "files": []}, "format_version 1"),
        ({"format_version": 1, "files": {}}, "`files` must be a list"),
        ({"format_version": 1, "files": [{"path": "a"}]}, r"files\[0\] must have exactly"),
        (
            {
                "format_version": 1,
                "files": [{"path": "a", "sha256": "0", "size": "3", "mtime_ns": 1}],
            },
            r"files\[0\]\.size must be a int",
        ),
    ],
)
def test_malformed_manifest_names_the_bad_entry(tmp_path: Path, manifest, message) -> None:
    (tmp_path / PIN_MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(PinError, match=message):
        read_manifest(tmp_path / PIN_MANIFEST)


# --- pin_run against a real DVC repository --------------------------------------------------


def new_project(root: Path) -> Path:
    """A git + DVC project with the repository's ignore files and a local default remote."""
    project = root / "project"
    project.mkdir()
    git(project, "init", "-q")
    dvc(project, "init", "--quiet")
    for name in (".gitignore", ".dvcignore"):
        shutil.copyfile(REPOSITORY_ROOT / name, project / name)
    dvc(project, "remote", "add", "--default", "local", str(root / "storage"))
    return project


def test_pin_adds_pushes_and_records_every_checkpoint(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    make_run(project)

    pin = pin_run(project, ["mnist5k"])
    manifest, pins = pin.manifest, pin.dvc_files
    assert pin.files == len(RUN_FILES) and pin.unpinned == []

    assert [path.relative_to(project).as_posix() for path in pins] == [
        "data.dvc",
        "results/mnist5k/models.dvc",
        "results/mnist5k/defenses.dvc",
    ]
    assert all(path.is_file() for path in pins)
    recorded = {file.path: file for file in read_manifest(manifest)}
    assert sorted(recorded) == sorted(RUN_FILES)
    for relative in RUN_FILES:
        path = project / relative
        assert recorded[relative].sha256 == sha256_file(path)
        assert recorded[relative].mtime_ns == path.stat().st_mtime_ns  # pinning touches nothing
    assert any((tmp_path / "storage").rglob("*")), "nothing was pushed to the remote"
    # git sees the pins (and not the pinned files): .gitignore lets the .dvc files through.
    untracked = git(project, "status", "--porcelain", "--untracked-files=all")
    assert "results/mnist5k/models.dvc" in untracked and "defenses.dvc" in untracked
    assert "victim.safetensors" not in untracked and "train.npz" not in untracked


def test_adversarial_sets_pins_the_attack_outputs_too(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    make_run(project)
    attack_outputs = (
        "results/mnist5k/adv/whitebox/undefended/pgd.npz",
        "results/mnist5k/eval/whitebox/undefended/pgd.json",
        "results/mnist5k/analysis/luring.npz",
    )
    for relative in attack_outputs:
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_bytes(relative.encode())

    pin = pin_run(project, ["mnist5k"], adversarial_sets=True)
    manifest, pins = pin.manifest, pin.dvc_files

    assert [path.relative_to(project).as_posix() for path in pins][3:] == [
        "results/mnist5k/adv.dvc",
        "results/mnist5k/eval.dvc",
        "results/mnist5k/analysis.dvc",
    ]
    assert sorted(file.path for file in read_manifest(manifest)) == sorted(
        [*RUN_FILES, *attack_outputs]
    )
    untracked = git(project, "status", "--porcelain", "--untracked-files=all")
    assert all(f"results/mnist5k/{name}.dvc" in untracked for name in ("adv", "eval", "analysis"))
    assert "pgd.npz" not in untracked and "pgd.json" not in untracked
    # Pinned again without: the attack folders' pins go (their files stay) and the
    # reproduction crafts the sets again.
    again = pin_run(project, ["mnist5k"])
    assert len(again.dvc_files) == 3
    assert [path.name for path in again.unpinned] == ["adv.dvc", "eval.dvc", "analysis.dvc"]
    assert not any(path.exists() for path in again.unpinned)
    assert all((project / relative).is_file() for relative in attack_outputs)
    assert len(read_manifest(again.manifest)) == len(RUN_FILES)


def test_a_clone_pulls_the_pins_and_gets_their_order_back(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    make_run(project)
    pin_run(project, ["mnist5k"])
    git(project, "add", "-A")
    git(project, "commit", "-qm", "pin")
    git(project, "tag", "v1")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--branch", "v1", str(project), str(clone))
    assert not (clone / RUN_FILES[2]).exists()
    dvc(clone, "pull", "--quiet")
    assert [sha256_file(clone / r) for r in RUN_FILES] == [
        sha256_file(project / r) for r in RUN_FILES
    ]
    restore_pinned_order(clone)
    restored = mtimes(clone)
    assert restored == sorted(restored)


def test_pin_refuses_a_partial_write(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    make_run(project)
    (project / "results/mnist5k/models/.tmp-victim.safetensors.x").write_bytes(b"")
    with pytest.raises(PinError, match=r"\.tmp-victim.*partial write of a killed job"):
        pin_run(project, ["mnist5k"])
    assert not (project / PIN_MANIFEST).exists()


def test_pin_refuses_an_unfinished_run_and_a_missing_dvc_repository(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    with pytest.raises(PinError, match=r"results/mnist5k/models does not exist"):
        pin_run(project, ["mnist5k"])
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(PinError, match="is not a DVC repository"):
        pin_run(plain, ["mnist5k"])


def test_a_failed_push_names_dvc_and_writes_no_manifest(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    make_run(project)
    with pytest.raises(PinError, match=r"`dvc push --quiet --remote nowhere` failed"):
        pin_run(project, ["mnist5k"], remote="nowhere")
    assert not (project / PIN_MANIFEST).exists()


def test_every_pinned_folders_dvc_file_is_not_git_ignored(repository_root) -> None:
    """A pinned folder's `.dvc` file must be committable: DVC refuses a git-ignored one."""
    from decoybench.pinning import ATTACK_FOLDERS, CHECKPOINT_FOLDERS

    ignore = (repository_root / ".gitignore").read_text().splitlines()
    missing = [
        folder
        for folder in CHECKPOINT_FOLDERS + ATTACK_FOLDERS
        if f"!/results/*/{folder}.dvc" not in ignore
    ]
    assert not missing, f".gitignore ignores the .dvc files of {missing}"
