"""Dynamic micro-batching: rows of requests that arrive together in one worker are scored in one call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from containers.inference.codec import Predictions, RowBatch


class MicroBatcher:
    """Collects submitted RowBatches until `max_rows` rows are pending or `max_wait_s` has passed
    (0: until the event loop has handled every request that is already readable), then scores them
    with one `predict` call and hands each request its slice.

    Scoring runs on the event loop thread: a tree-ensemble call on a few rows is shorter than a
    thread hand-off, and the GIL would serialize it anyway.
    """

    def __init__(self, predict: Callable[[RowBatch], Predictions], *, max_rows: int, max_wait_s: float):
        self._predict = predict
        self._max_rows = max_rows
        self._max_wait_s = max_wait_s
        self._pending: list[tuple[RowBatch, asyncio.Future[Predictions]]] = []
        self._pending_rows = 0
        self._timer: asyncio.Handle | asyncio.TimerHandle | None = None
        self.batches = 0  # counters for tests and logs
        self.requests = 0

    def submit(self, batch: RowBatch) -> asyncio.Future[Predictions]:
        """A future of the batch's predictions, set when the batcher flushes. The caller awaits it
        directly (no coroutine of ours in between: each level costs its resumption per request)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Predictions] = loop.create_future()
        if batch.rows >= self._max_rows:
            future.set_result(self._predict(batch))  # already a full batch: nothing to gain by waiting
            return future
        self._pending.append((batch, future))
        self._pending_rows += batch.rows
        if self._pending_rows >= self._max_rows:
            self.flush()
        elif self._timer is None:
            if self._max_wait_s > 0:
                self._timer = loop.call_later(self._max_wait_s, self.flush)
            else:
                self._timer = loop.call_soon(self.flush)
        return future

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending = [(batch, future) for batch, future in self._pending if not future.done()]
        self._pending = []
        self._pending_rows = 0
        if not pending:
            return
        self.batches += 1
        self.requests += len(pending)
        try:
            combined = self._predict(RowBatch.concatenate([batch for batch, _ in pending]))
        except Exception:
            # One request's rows spoiled the batch: score each alone so only that request fails.
            for batch, future in pending:
                try:
                    future.set_result(self._predict(batch))
                except Exception as error:
                    future.set_exception(error)
            return
        start = 0
        for batch, future in pending:
            future.set_result(combined.slice(start, start + batch.rows))
            start += batch.rows
