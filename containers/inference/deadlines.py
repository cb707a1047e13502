"""The model server's request timeout (SAGEMAKER_MODEL_SERVER_TIMEOUT), kept by one periodic sweep of
the worker's in-flight requests instead of a timer per request.

`asyncio.timeout` arms and disarms a loop timer for every request (under uvloop a libuv timer started,
stopped and closed): measurable at ~30,000 single-row requests per second. Here a request costs a
dictionary entry; a sweep every `min(1 s, timeout / 10)`, running only while requests are in flight,
cancels the task of each request past its deadline, as asyncio.timeout would, and `expired` tells that
cancellation from any other. A request times out between its deadline and one sweep interval later.
"""

from __future__ import annotations

import asyncio

SWEEP_MAX_S = 1.0


class Deadlines:
    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self.interval_s = min(SWEEP_MAX_S, timeout_s / 10)
        self._started: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._sweep: asyncio.TimerHandle | None = None

    def begin(self) -> asyncio.Task[object]:
        """Start the calling request's clock; returns its task, to hand to `expired` and `end`."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a request runs in a task")
        self._started[task] = loop.time()
        if self._sweep is None:
            self._sweep = loop.call_later(self.interval_s, self._cancel_late)
        return task

    def expired(self, task: asyncio.Task[object]) -> bool:
        """Whether the sweep cancelled this task (a CancelledError from anything else is not a timeout)."""
        return task in self._expired

    def end(self, task: asyncio.Task[object]) -> None:
        self._started.pop(task, None)
        self._expired.discard(task)

    def _cancel_late(self) -> None:
        loop = asyncio.get_running_loop()
        late = loop.time() - self.timeout_s
        for task, started in list(self._started.items()):
            if started <= late and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        self._sweep = loop.call_later(self.interval_s, self._cancel_late) if self._started else None
