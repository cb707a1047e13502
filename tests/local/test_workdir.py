"""The work folder: s3:// URIs as paths, S3 prefix selection, the one-process lock."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops.local.errors import LocalModeError
from mlops.local.workdir import WorkDir, new_execution_id, prefix_files


def test_s3_uris_map_under_the_work_folder(tmp_path: Path) -> None:
    work = WorkDir(tmp_path)
    assert work.s3_path("s3://my-bucket/a/b.csv") == tmp_path / "s3" / "my-bucket" / "a" / "b.csv"
    assert work.s3_uri(tmp_path / "s3" / "my-bucket" / "a") == "s3://my-bucket/a"
    with pytest.raises(LocalModeError, match=r"'\.\.'"):
        work.s3_path("s3://my-bucket/a/../../etc")
    with pytest.raises(LocalModeError, match="not an s3"):
        work.s3_path("/etc/passwd")


def test_prefix_selects_folders_files_and_key_prefixes(tmp_path: Path) -> None:
    work = WorkDir(tmp_path)
    for key in ("p/train/a.csv", "p/train/sub/b.csv", "p/train2/c.csv", "p/model.tar.gz"):
        path = work.s3_path(f"s3://bkt/{key}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(key)
    assert [rel for rel, _ in prefix_files(work, "s3://bkt/p/train/")] == ["a.csv", "sub/b.csv"]
    assert [rel for rel, _ in prefix_files(work, "s3://bkt/p/model.tar.gz")] == ["model.tar.gz"]
    assert [rel for rel, _ in prefix_files(work, "s3://bkt/p/tra")] == ["in/a.csv", "in/sub/b.csv", "in2/c.csv"]
    assert prefix_files(work, "s3://bkt/nothing/") == []


def test_a_second_process_cannot_take_a_locked_work_folder(tmp_path: Path) -> None:
    work = WorkDir(tmp_path)
    (tmp_path / ".lock").write_text("1")  # pid 1 is alive
    with pytest.raises(LocalModeError, match="in use by process 1"), work.locked():
        pass
    (tmp_path / ".lock").write_text("999999999")  # a dead process: the lock is taken over
    with work.locked():
        assert (tmp_path / ".lock").read_text() != "999999999"
    assert not (tmp_path / ".lock").exists()


def test_execution_ids_sort_by_start_time() -> None:
    first, second = new_execution_id(), new_execution_id()
    assert first[:14] <= second[:14]
    assert re.fullmatch(r"\d{14}[0-9a-f]{4}", first)
