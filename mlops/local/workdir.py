"""The local work folder: local S3 (plain files), runs, caches and the control-plane state files."""

from __future__ import annotations

import contextlib
import errno
import fcntl
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
CHILDREN_DIR = "children"
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


def file_uri_path(uri: str) -> Path | None:
    """The local path of a `file://` URI (SageMaker's local mode takes them for inputs and outputs), else None."""
    if not uri.startswith("file://"):
        return None
    path = Path(uri[len("file://"):])
    if not path.is_absolute():
        raise LocalModeError(f"{uri!r}: a file:// URI needs an absolute path (file:///...)")
    return path


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
        write_atomic(self.root / LATEST_FILE, execution_id + "\n")

    @property
    def children_root(self) -> Path:
        return self.root / CHILDREN_DIR

    def ensure(self) -> WorkDir:
        """Create the folders; LocalModeError naming the path when the work folder cannot be one."""
        try:
            for folder in (self.s3_root, self.runs_root, self.state_root, self.cache_root):
                folder.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".writable"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise LocalModeError(f"--work-dir {self.root}: {os_problem(error)}") from None
        return self

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One `mlops local` process per work folder, held with flock: the kernel drops the lock when
        its holder dies, so there is nothing stale to take over and no window between test and take."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.root / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as error:
            raise LocalModeError(f"--work-dir {self.root}: {os_problem(error)}") from None
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # The holder writes its pid just after taking the lock: it may not be there yet.
                pid = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
                owner = f"process {pid}" if pid.isdigit() else "another mlops process"
                raise LocalModeError(
                    f"work folder {self.root} is in use by {owner}; wait for it or use --work-dir"
                ) from None
            # The pid is only for the message above; the lock itself is the flock.
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(descriptor)  # releases the flock; the file stays (unlinking it would race a taker)


def os_problem(error: OSError) -> str:
    """An OSError as words: what failed and where, without a traceback."""
    where = f" ({error.filename})" if error.filename else ""
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"not a folder{where}"
    return f"{error.strerror or error}{where}"


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` all at once: a reader (or a crash) sees the old or the new file.

    A full disk or a file-size limit is a LocalModeError naming the file, and leaves no partial file.
    """
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise LocalModeError(f"cannot write {path}: {error.strerror or error}; nothing was changed") from None


@dataclass(frozen=True)
class WorkDirObjects:
    """`s3://` objects read from the work folder's local S3 (mlops.registry.ObjectReader)."""

    work: WorkDir

    def read(self, uri: str) -> bytes:
        return self.work.s3_path(uri).read_bytes()


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
    source = file_uri_path(uri) or work.s3_path(uri)
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
