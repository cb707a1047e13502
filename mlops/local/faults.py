"""Deterministic crash points for the fault tests: `MLOPS_LOCAL_CRASH_AT=<point>` kills the run there.

A point is named where it is called (`stage:serve`, `job:Train`, `registered`, ...). SIGKILL, not an
exception: nothing in this process gets to clean up, exactly as with `kill -9` or a power cut.
"""

from __future__ import annotations

import os
import signal

CRASH_VARIABLE = "MLOPS_LOCAL_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
