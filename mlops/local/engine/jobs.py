"""SageMaker jobs as local processes: `/opt/ml` mapped under a folder, inputs linked in, outputs out."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from config.images import REPO_ROOT
from mlops.local.engine.expressions import text_of
from mlops.local.faults import crash_point
from mlops.local.workdir import WorkDir, file_uri_path, link_or_copy, prefix_files

CONTAINER_ROOT = "/opt/ml"
LOG_FILE = "step.log"
LOG_TAIL_LINES = 20
MESSAGE_LIMIT = 1024
# Variables a container may need from the host; everything else comes from the job definition,
# as in a fresh container.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                  "MKL_NUM_THREADS", "NO_PROXY", "no_proxy")
_CONTAINER_PATH = re.compile(r"(?<![\w/.\-])/opt/ml(?=/|$|[^\w.\-])")

FailureKind = Literal["algorithm", "client", "internal", "timeout"]


class JobFailed(Exception):  # noqa: N818 - it reads as the event ("the job failed"), like SageMaker's status
    """A job ended without success. `kind` maps to SageMaker's failure classes for retry policies:
    algorithm (the code exited non-zero), client (bad input), internal (the process died from a
    signal or could not start), timeout (MaxRuntimeInSeconds)."""

    def __init__(self, reason: str, kind: FailureKind) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True)
class Sandbox:
    """One job's filesystem: `<root>/opt/ml` stands for `/opt/ml`, `<root>/step.log` holds its output."""

    root: Path

    @property
    def opt_ml(self) -> Path:
        return self.root / "opt" / "ml"

    @property
    def log(self) -> Path:
        return self.root / LOG_FILE

    def reset(self) -> None:
        """A fresh `/opt/ml` (each attempt is a new job); the log keeps every attempt."""
        shutil.rmtree(self.root / "opt", ignore_errors=True)
        self.opt_ml.mkdir(parents=True)

    def container_path(self, path: str) -> Path:
        """The host folder of a container path; only `/opt/ml/...` exists in a SageMaker container."""
        if not _CONTAINER_PATH.match(path):
            raise JobFailed(f"container path {path!r} is outside {CONTAINER_ROOT}", "client")
        relative = path[len(CONTAINER_ROOT):].strip("/")
        parts = [part for part in relative.split("/") if part]
        if any(part == ".." for part in parts):
            raise JobFailed(f"container path {path!r} leaves {CONTAINER_ROOT}", "client")
        return self.opt_ml.joinpath(*parts)

    def rewrite(self, text: str) -> str:
        """Every `/opt/ml` path in an argument or variable, moved under the sandbox."""
        return _CONTAINER_PATH.sub(str(self.opt_ml), text)


def stage_input(work: WorkDir, uri: str, destination: Path, name: str) -> int:
    """Link what an S3Prefix URI selects into `destination`; JobFailed (client) when it selects nothing."""
    files = prefix_files(work, uri)
    if not files:
        raise JobFailed(f"input {name!r}: no S3 objects found under {uri} "
                        f"(local folder {file_uri_path(uri) or work.s3_path(uri)})",
                        "client")
    destination.mkdir(parents=True, exist_ok=True)
    for relative, path in files:
        link_or_copy(path, destination / relative)
    return len(files)


def upload_output(work: WorkDir, source: Path, uri: str) -> int:
    """Link every file under `source` to the prefix `uri` (S3 semantics: same keys are replaced)."""
    target = file_uri_path(uri) or work.s3_path(uri)
    count = 0
    if not source.is_dir():
        return 0
    for path in sorted(source.rglob("*")):
        if path.is_file():
            link_or_copy(path, target / path.relative_to(source))
            count += 1
    return count


def render_strings(job: Mapping[str, Any]) -> dict[str, Any]:
    """The job request typed as SageMaker types it once the parameters are substituted: Environment
    values and container arguments are text, a Boolean spelled `true`/`false` as in Std:Join (never
    Python's `True`), so a plain Get and a Join of the same parameter read alike."""
    rendered = dict(job)
    if isinstance(job.get("Environment"), Mapping):
        rendered["Environment"] = {str(key): text_of(value) for key, value in job["Environment"].items()}
    for key in ("AppSpecification", "AlgorithmSpecification"):
        spec = job.get(key)
        if isinstance(spec, Mapping):
            rendered[key] = {**spec, **{part: [text_of(item) for item in spec[part]]
                                        for part in ("ContainerEntrypoint", "ContainerArguments")
                                        if isinstance(spec.get(part), list)}}
    return rendered


def environment(sandbox: Sandbox, variables: Mapping[str, str]) -> dict[str, str]:
    """The process environment: a few host variables, the project on PYTHONPATH, the job's own."""
    env = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["SAGEMAKER_BASE_DIR"] = str(sandbox.opt_ml)
    env.update({key: sandbox.rewrite(str(value)) for key, value in variables.items()})
    return env


PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with(parent: int) -> None:
    """In the child, before exec: SIGKILL when the parent dies (PR_SET_PDEATHSIG), also when it died
    already. No Python objects are allocated here: the parent has threads."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22); None when gone.

    With the pid it identifies one process: a recycled pid has another start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[19])


def spawn(command: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: IO[bytes],
          ledger: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a child that dies with this process: its own process group (a timeout or an abort stops it
    and its children), SIGKILL on the parent's death, and an entry in `ledger` (`<work>/children/`) for
    the next run to check."""
    parent = os.getpid()
    process = subprocess.Popen(
        list(command), env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=lambda: die_with(parent),  # noqa: PLW1509 - no allocation in it
    )
    if ledger is not None:
        entry = {"pid": process.pid, "pgid": process.pid, "start_time": start_time(process.pid),
                 "command": list(command)[:4], "parent": parent}
        with contextlib.suppress(OSError):
            ledger.mkdir(parents=True, exist_ok=True)
            (ledger / f"{process.pid}.json").write_text(json.dumps(entry), encoding="utf-8")
    return process


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (a server finishes its in-flight requests and flushes capture), SIGKILL after `timeout`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def forget(process: subprocess.Popen[bytes], ledger: Path | None) -> None:
    """The child ended (or was stopped): its ledger entry goes."""
    if ledger is not None:
        (ledger / f"{process.pid}.json").unlink(missing_ok=True)


def stop_leftovers(ledger: Path) -> list[int]:
    """Kill the process groups a dead run left (ledger entries whose pid still has the recorded start
    time, so a recycled pid is never touched); the pids stopped. Call with the work folder locked."""
    stopped: list[int] = []
    if not ledger.is_dir():
        return stopped
    for path in sorted(ledger.glob("*.json")):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            pid, pgid, started = int(entry["pid"]), int(entry["pgid"]), entry["start_time"]
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if started is not None and start_time(pid) == started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
                stopped.append(pid)
        path.unlink(missing_ok=True)
    return stopped


class JobTable:
    """The job processes one owner (an executor, the loop's monitoring jobs) has running.

    `terminate_all()` stops them and closes the table: a job whose step was about to start when its
    run was interrupted must not start afterwards (it would run to completion, unseen). A new run
    gets a new table. Every job is listed in `ledger` while it runs, so a run that follows a killed
    one can stop what it left behind.
    """

    def __init__(self, ledger: Path | None = None) -> None:
        self.ledger = ledger
        self._live: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._accepting = True

    def terminate_all(self) -> None:
        """Stop every job process still running and refuse new ones (an interrupted or aborted run)."""
        with self._lock:
            self._accepting = False
            processes = list(self._live)
        for process in processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except OSError:
                    process.kill()

    def run(self, command: Sequence[str], env: Mapping[str, str], sandbox: Sandbox, timeout_seconds: float | None,
            title: str) -> float:
        """Run one container command with its output appended to the sandbox log; seconds taken.

        JobFailed for a non-zero exit (algorithm), a signal (internal) or a timeout.
        """
        sandbox.root.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with sandbox.log.open("ab") as log:
            log.write(f"--- {title}: {' '.join(command)}\n".encode())
            log.flush()
            # Started and registered under the lock, so terminate_all() either sees the process or stops it starting.
            with self._lock:
                if not self._accepting:
                    raise JobFailed("not started: the run was interrupted", "internal")
                try:
                    process = spawn(command, env=env, cwd=sandbox.root, log=log, ledger=self.ledger)
                except OSError as error:
                    raise JobFailed(f"cannot start {command[0]}: {error.strerror}", "internal") from error
                self._live.add(process)
            crash_point(f"job:{sandbox.root.name}")
            try:
                code = process.wait(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise JobFailed(f"stopped after MaxRuntimeInSeconds={timeout_seconds:g}", "timeout") from None
            finally:
                with self._lock:
                    self._live.discard(process)
                forget(process, self.ledger)
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            raise JobFailed(f"the job's process was killed by {name}", "internal")
        if code != 0:
            raise JobFailed(f"exited with code {code}", "algorithm")
        return time.perf_counter() - started


def read_reason(*candidates: Path) -> str | None:
    """The first non-empty failure/message file, cut to SageMaker's 1 KB."""
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        if text:
            return text[:MESSAGE_LIMIT]
    return None


def log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def timeout_of(arguments: Mapping[str, object]) -> float | None:
    stopping = arguments.get("StoppingCondition")
    if isinstance(stopping, Mapping):
        seconds = stopping.get("MaxRuntimeInSeconds")
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0:
            return float(seconds)
    return None
