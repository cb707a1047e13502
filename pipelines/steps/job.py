"""What every processing step script shares: the SageMaker base folder and the failure protocol."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

# SageMaker keeps the first 1 KB of the message file as the job's ExitMessage.
MESSAGE_LIMIT_BYTES = 1024


class StepError(Exception):
    """Input data or artifacts a step cannot work with; the message names the file, column or key."""


def base_dir() -> Path:
    """`/opt/ml` in SageMaker; tests and local mode move it with SAGEMAKER_BASE_DIR."""
    return Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"))


def message_file() -> Path:
    return base_dir() / "output" / "message"


def write_failure(reason: str) -> None:
    """Record why the job failed where SageMaker reads it (ExitMessage) and on stderr."""
    path = message_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = reason.encode("utf-8")[:MESSAGE_LIMIT_BYTES]
    path.write_text(encoded.decode("utf-8", errors="ignore"), encoding="utf-8")
    print(f"error: {reason}", file=sys.stderr)


def run_step(name: str, main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None) -> int:
    """Run a step's main; a StepError (or unreadable input) becomes the failure message and exit 1."""
    try:
        main(argv)
    except StepError as exc:
        write_failure(f"{name}: {exc}")
        return 1
    except OSError as exc:
        write_failure(f"{name}: {exc.filename or ''}: {exc.strerror or exc}")
        return 1
    return 0
