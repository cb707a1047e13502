"""The work folder: s3:// URIs as paths, S3 prefix selection, the one-process lock, atomic writes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.local.errors import LocalModeError
from mlops.local.workdir import WorkDir, new_execution_id, prefix_files

REPO_ROOT = Path(__file__).resolve().parents[2]


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


# Takes the lock when the barrier (a pipe's read end, fd argv[2]) lets it go, then holds it until its stdin closes.
LOCKER = """
import os, sys
from pathlib import Path
from mlops.local.errors import LocalModeError
from mlops.local.workdir import WorkDir
print("ready", flush=True)
os.read(int(sys.argv[2]), 1)
try:
    with WorkDir(Path(sys.argv[1])).locked():
        print("locked", flush=True)
        sys.stdin.read()
except LocalModeError as error:
    print(f"error: {error}", flush=True)
    sys.exit(1)
"""


def _locker(work: Path, barrier: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", LOCKER, str(work), str(barrier)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, pass_fds=(barrier,), cwd=REPO_ROOT)


@pytest.mark.parametrize("round_", range(5))
def test_exactly_one_of_two_synchronized_starts_gets_the_work_folder(tmp_path: Path, round_: int) -> None:
    read_end, write_end = os.pipe()
    lockers = [_locker(tmp_path, read_end) for _ in range(2)]
    os.close(read_end)
    for locker in lockers:
        assert locker.stdout is not None
        assert locker.stdout.readline() == "ready\n"
    os.write(write_end, b"go")  # one byte each: both go for the lock at once
    os.close(write_end)
    answers = [locker.stdout.readline().strip() for locker in lockers if locker.stdout]
    assert sorted(answers)[1] == "locked", answers
    winner = lockers[answers.index("locked")]
    loser = lockers[1 - answers.index("locked")]
    assert loser.wait(timeout=60) == 1
    # The winner writes its pid right after locking; the loser may look in between.
    assert answers[lockers.index(loser)] in (
        f"error: work folder {tmp_path} is in use by {owner}; wait for it or use --work-dir"
        for owner in (f"process {winner.pid}", "another mlops process"))
    winner.communicate("", timeout=60)
    assert winner.returncode == 0


def test_the_lock_dies_with_its_holder_and_a_stale_pid_file_holds_nothing(tmp_path: Path) -> None:
    work = WorkDir(tmp_path)
    (tmp_path / ".lock").write_text("1")  # pid 1 is alive, but a pid in the file is not a lock
    with work.locked(), pytest.raises(LocalModeError, match=f"in use by process {os.getpid()}"), work.locked():
        pass
    read_end, write_end = os.pipe()
    holder = _locker(tmp_path, read_end)
    os.close(read_end)
    assert holder.stdout is not None
    assert holder.stdout.readline() == "ready\n"
    os.write(write_end, b"g")
    assert holder.stdout.readline() == "locked\n"
    with pytest.raises(LocalModeError, match=f"in use by process {holder.pid}"), work.locked():
        pass
    holder.kill()  # kill -9: the kernel drops its flock
    holder.wait(timeout=60)
    os.close(write_end)
    with work.locked():
        assert (tmp_path / ".lock").read_text() == str(os.getpid())


def test_a_work_dir_on_a_file_is_one_clear_error(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(LocalModeError, match=rf"^--work-dir {a_file}: not a folder"):
        WorkDir(a_file).ensure()
    with pytest.raises(LocalModeError, match=rf"^--work-dir {a_file / 'below'}: not a folder"):
        WorkDir(a_file / "below").ensure()


def test_an_atomic_write_that_hits_the_file_size_limit_leaves_the_old_file_and_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "registry.json"
    target.write_text("old")
    script = ("import resource, signal, sys\n"
              "from pathlib import Path\n"
              "from mlops.local.workdir import write_atomic\n"
              "from mlops.local.errors import LocalModeError\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
              "try:\n"
              "    write_atomic(Path(sys.argv[1]), 'x' * 5000)\n"
              "except LocalModeError as error:\n"
              "    print(error)\n")
    result = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True,
                            cwd=REPO_ROOT, check=True, timeout=60)
    assert result.stdout.strip() == f"cannot write {target}: File too large; nothing was changed"
    assert target.read_text() == "old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["registry.json"]


def test_execution_ids_sort_by_start_time() -> None:
    first, second = new_execution_id(), new_execution_id()
    assert first[:14] <= second[:14]
    assert re.fullmatch(r"\d{14}[0-9a-f]{4}", first)
