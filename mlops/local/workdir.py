"""The local work folder: local S3 (plain files), runs, caches and the control-plane state files."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlops.local.errors import LocalModeError

DEFAULT_WORK_DIR = Path(".mlops")
S3_DIR = "s3"
RUNS_DIR = "runs"
STATE_DIR = "state"
CACHE_DIR = "cache"
LOCK_FILE = ".lock"
LATEST_FILE = "latest-run"

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def new_execution_id(now: datetime | None = None) -> str:
    """Sortable by start time, lowercase alphanumerics only (valid in job names and S3 keys)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key); LocalModeError for anything else or a key leaving the bucket."""
    if not uri.startswith("s3://"):
        raise LocalModeError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not _BUCKET.match(bucket):
        raise LocalModeError(f"{uri!r}: {bucket!r} is not a valid bucket name")
    parts = [part for part in key.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise LocalModeError(f"{uri!r}: '.' and '..' are not allowed in a key here")
    return bucket, "/".join(parts) + ("/" if key.endswith("/") and parts else "")


def join_s3(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *(part.strip("/") for part in parts)])


@dataclass(frozen=True)
class WorkDir:
    """Paths of one work folder (default `.mlops/`)."""

    root: Path

    def __post_init__(self) -> None:
        # Steps run as processes in their own folders: a relative work folder (`make run` passes
        # `.mlops`) would point somewhere else from there, so every path derives from an absolute root.
        object.__setattr__(self, "root", Path(self.root).expanduser().resolve())

    @property
    def s3_root(self) -> Path:
        return self.root / S3_DIR

    @property
    def runs_root(self) -> Path:
        return self.root / RUNS_DIR

    @property
    def state_root(self) -> Path:
        return self.root / STATE_DIR

    @property
    def cache_root(self) -> Path:
        return self.root / CACHE_DIR

    def ensure(self) -> WorkDir:
        for folder in (self.s3_root, self.runs_root, self.state_root, self.cache_root):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def s3_path(self, uri: str) -> Path:
        """Where `s3://bucket/key` lives on disk: `<work>/s3/bucket/key`."""
        bucket, key = split_s3_uri(uri)
        return self.s3_root / bucket / key if key else self.s3_root / bucket

    def s3_uri(self, path: Path) -> str:
        relative = path.resolve().relative_to(self.s3_root.resolve())
        return "s3://" + relative.as_posix()

    def run_dir(self, execution_id: str) -> Path:
        return self.runs_root / execution_id

    def latest_run(self) -> str | None:
        try:
            text = (self.root / LATEST_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return text or None

    def set_latest_run(self, execution_id: str) -> None:
        (self.root / LATEST_FILE).write_text(execution_id + "\n", encoding="utf-8")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One `mlops local` process per work folder; a lock left by a dead process is taken over."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = self.root / LOCK_FILE
        for _ in range(2):
            try:
                descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = _lock_owner(lock)
                if owner is not None and _alive(owner):
                    raise LocalModeError(
                        f"work folder {self.root} is in use by process {owner}; wait for it or use --work-dir"
                    ) from None
                lock.unlink(missing_ok=True)
                continue
            with os.fdopen(descriptor, "w") as handle:
                handle.write(str(os.getpid()))
            break
        else:
            raise LocalModeError(f"cannot lock work folder {self.root} ({lock})")
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


def _lock_owner(lock: Path) -> int | None:
    try:
        return int(lock.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as error:
        return error.errno == errno.EPERM
    return True


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link a file (same file system: instant, no extra space), else copy it; replaces `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def prefix_files(work: WorkDir, uri: str) -> list[tuple[str, Path]]:
    """The files an S3Prefix URI selects, as (path relative to the prefix, file), sorted.

    Like S3: `s3://b/p/` selects everything under `p/`; `s3://b/p/model.tar.gz` the one object (its
    relative path is its name); `s3://b/p/x` also objects whose keys merely start with `p/x`.
    """
    source = work.s3_path(uri)
    if source.is_file():
        return [(source.name, source)]
    if source.is_dir():
        return sorted(
            (path.relative_to(source).as_posix(), path) for path in source.rglob("*") if path.is_file()
        )
    parent = source.parent
    if not parent.is_dir():
        return []
    stem = source.name
    found = []
    for path in parent.rglob("*"):
        relative = path.relative_to(parent).as_posix()
        if path.is_file() and relative.startswith(stem):
            found.append((relative[len(stem):].lstrip("/") or path.name, path))
    return sorted(found)
