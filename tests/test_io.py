"""Atomic, pickle-free I/O."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from decoybench.io import atomic_path, read_json, read_npz, sha256_file, write_json, write_npz


def test_atomic_path_leaves_nothing_when_the_write_fails(tmp_path) -> None:
    target = tmp_path / "out" / "table.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half a tab")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_path_keeps_the_old_file_until_the_new_one_is_complete(tmp_path) -> None:
    target = tmp_path / "metrics.json"
    write_json(target, {"version": 1})
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temporary:
        temporary.write_text('{"version": ')
        raise KeyboardInterrupt
    assert read_json(target) == {"version": 1}


def test_npz_round_trip_and_pickles_refused(tmp_path) -> None:
    arrays = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "name": np.array("pgd")}
    write_npz(tmp_path / "a.npz", arrays)
    loaded = read_npz(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded["x"], arrays["x"])
    assert str(loaded["name"]) == "pgd"
    with pytest.raises(TypeError, match="dtype object"):
        write_npz(tmp_path / "b.npz", {"bad": np.array([{"a": 1}], dtype=object)})
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"garbage\.npz is not a readable"):
        read_npz(tmp_path / "garbage.npz")


def test_sha256_matches_hashlib(tmp_path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"decoy" * 1000)
    assert sha256_file(path, chunk_size=7) == hashlib.sha256(b"decoy" * 1000).hexdigest()


def test_read_json_names_a_corrupted_file(tmp_path) -> None:
    (tmp_path / "cell.json").write_text("{")
    with pytest.raises(ValueError, match=r"cell\.json is not valid JSON"):
        read_json(tmp_path / "cell.json")


def test_written_files_follow_the_umask_not_mkstemp(tmp_path) -> None:
    import os

    previous = os.umask(0o022)
    try:
        write_json(tmp_path / "shared.json", {})
    finally:
        os.umask(previous)
    assert (tmp_path / "shared.json").stat().st_mode & 0o777 == 0o644
