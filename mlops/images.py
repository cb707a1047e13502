"""Build the environment's images in its own account: start its CodeBuild project and follow the build.

The containers stack owns the project (`<prefix>-images`): it builds from the image sources the stage
deployed and tags with `config.images.source_tag()`, the tag the pipeline definition names. The CI/CD
route runs `mlops images build --env E --wait` between the containers stack and the pipeline stack, so
a definition never names an image its account lacks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from config.images import source_tag
from config.naming import Names
from config.settings import EnvironmentConfig
from mlops.errors import MlopsError

# CodeBuild's terminal statuses; everything else (IN_PROGRESS) is still running.
SUCCEEDED = "SUCCEEDED"
FAILED_STATUSES = frozenset({"FAILED", "FAULT", "STOPPED", "TIMED_OUT"})
LOG_LINES = 20


class ImageBuildError(MlopsError):
    """The image build failed, stopped or timed out (the message names the phase and the reason)."""


@dataclass(frozen=True)
class BuildState:
    build_id: str
    status: str
    phase: str
    failed_phase: str | None = None
    reason: str | None = None
    log_group: str | None = None
    log_stream: str | None = None

    @property
    def finished(self) -> bool:
        return self.status != "IN_PROGRESS"


def start_image_build(codebuild: Any, env: EnvironmentConfig) -> str:
    """Start the environment's image build; returns the build id."""
    project = Names.of(env).image_build_project
    if not codebuild.batch_get_projects(names=[project]).get("projects"):
        raise ImageBuildError(f"environment {env.name!r}: no CodeBuild project {project}: deploy the containers "
                              f"stack first ({Names.of(env).stack('containers')})")
    build: dict[str, Any] = codebuild.start_build(projectName=project)["build"]
    return str(build["id"])


def build_state(codebuild: Any, build_id: str) -> BuildState:
    (build,) = codebuild.batch_get_builds(ids=[build_id])["builds"]
    failed = next((phase for phase in build.get("phases", []) if phase.get("phaseStatus") in FAILED_STATUSES), None)
    reason = None
    if failed is not None:
        reason = "; ".join(context["message"] for context in failed.get("contexts", []) if context.get("message"))
    logs = build.get("logs", {})
    return BuildState(
        build_id=build_id, status=build["buildStatus"], phase=build.get("currentPhase", ""),
        failed_phase=failed["phaseType"] if failed else None, reason=reason or None,
        log_group=logs.get("groupName"), log_stream=logs.get("streamName"),
    )


def log_tail(logs: Any, state: BuildState, lines: int = LOG_LINES) -> list[str]:
    """The last lines of the build's log (CloudWatch Logs), or none when the build wrote no stream."""
    if not state.log_group or not state.log_stream:
        return []
    events = logs.get_log_events(logGroupName=state.log_group, logStreamName=state.log_stream, limit=lines,
                                 startFromHead=False)["events"]
    return [str(event["message"]).rstrip("\n") for event in events]


def failure_message(state: BuildState, tail: list[str]) -> str:
    where = f" in phase {state.failed_phase}" if state.failed_phase else ""
    because = f": {state.reason}" if state.reason else ""
    last = f" (last log line: {tail[-1]})" if tail else ""
    return f"image build {state.build_id} {state.status}{where}{because}{last}"


def wait_for_build(
    codebuild: Any,
    logs: Any,
    build_id: str,
    *,
    poll_seconds: float = 15.0,
    timeout_seconds: float | None = None,
    on_update: Callable[[BuildState], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> BuildState:
    """Poll until the build ends; ImageBuildError (phase, reason, last log line) unless it Succeeded."""
    deadline = None if timeout_seconds is None else clock() + timeout_seconds
    while True:
        state = build_state(codebuild, build_id)
        if on_update is not None:
            on_update(state)
        if state.finished:
            if state.status != SUCCEEDED:
                raise ImageBuildError(failure_message(state, log_tail(logs, state)))
            return state
        if deadline is not None and clock() >= deadline:
            raise ImageBuildError(f"image build {build_id} still {state.status} after {timeout_seconds:.0f} s")
        sleep(poll_seconds)


def expected_tag() -> str:
    """The tag the build gives every image (and the pipeline definition names)."""
    return source_tag()
