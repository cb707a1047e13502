"""Domain errors of the cloud commands; the CLI turns each into one line and a non-zero exit code."""

from __future__ import annotations


class MlopsError(Exception):
    """Base of the errors `mlops` reports as one line (never a traceback)."""


class RegistryError(MlopsError):
    """A model registry request that cannot be served: unknown group or version, nothing to roll back."""


class RunError(MlopsError):
    """A pipeline that cannot be upserted or started, a bad --param, a wait that timed out."""


class ExecutionFailedError(RunError):
    """A pipeline execution ended Failed or Stopped; the message carries the failed step's reason."""
