"""Deterministic fault points for the fault tests: the run is killed or interrupted exactly there.

`MLOPS_LOCAL_CRASH_AT=<point>` sends SIGKILL (nothing in this process gets to clean up, exactly as
with `kill -9` or a power cut); `MLOPS_LOCAL_INTERRUPT_AT=<point>` sends SIGINT, as Ctrl-C in a
terminal would. A point is named where it is called: `stage:<stage>`, `job:<job folder>`,
`registered`, `approved`, `serving`, `state:journaled`.
"""

from __future__ import annotations

import os
import signal

CRASH_VARIABLE = "MLOPS_LOCAL_CRASH_AT"
INTERRUPT_VARIABLE = "MLOPS_LOCAL_INTERRUPT_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(INTERRUPT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGINT)
