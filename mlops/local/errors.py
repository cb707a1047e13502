"""Errors of local mode; each names the step, expression, file or option at fault."""

from __future__ import annotations

from pathlib import Path

from mlops.errors import MlopsError


class LocalModeError(MlopsError):
    """Local mode cannot go on: bad input, a definition it cannot run, a failed stage."""


class UnsupportedDefinitionError(LocalModeError):
    """A step type, expression, image or property the executor does not know; refused by name."""


class StepFailedError(LocalModeError):
    """A pipeline step failed; carries its reason, the tail of its log and the log's path."""

    def __init__(self, step: str, reason: str, log: Path | None = None, log_tail: str = "") -> None:
        self.step = step
        self.reason = reason
        self.log = log
        self.log_tail = log_tail
        where = f" (log: {log})" if log else ""
        super().__init__(f"step {step} failed: {reason}{where}")


class PipelineFailedError(LocalModeError):
    """The pipeline reached a Fail step; the message is the step's evaluated ErrorMessage."""

    def __init__(self, step: str, message: str) -> None:
        self.step = step
        self.reason = message
        super().__init__(f"pipeline stopped at Fail step {step}: {message}")
