"""The run's progress display: one row per stage and pipeline step (live on a terminal, lines otherwise)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from mlops.local.engine.record import StepRecord

STYLES = {"running": "yellow", "done": "green", "cached": "cyan", "reused": "cyan", "skipped": "dim",
          "failed": "bold red", "waiting": "dim", "warning": "magenta"}
MARKS = {"done": "✓", "cached": "↺", "reused": "↺", "skipped": "-", "failed": "✗", "waiting": "·", "warning": "!"}


@dataclass
class Row:
    label: str
    status: str = "waiting"
    detail: str = ""
    started: float | None = None
    ended: float | None = None
    indent: bool = False
    seen: tuple[str, str] = field(default=("", ""))


def step_status(record: StepRecord) -> tuple[str, str]:
    """(display status, detail) of a pipeline step."""
    if record.status == "Executing":
        return "running", record.detail
    if record.status == "Succeeded":
        if record.reused:
            return "reused", "reused from the failed run"
        if record.cached_from:
            return "cached", f"cached (run {record.cached_from})"
        return "done", record.detail
    if record.status == "Failed":
        return "failed", record.failure_reason or ""
    if record.status == "NotExecuted":
        return "skipped", record.detail or "not executed"
    return "waiting", ""


class Progress:
    """Thread-safe: executor threads report steps while the main thread reports stages."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: dict[str, Row] = {}
        self.lock = threading.Lock()
        self.live: Live | None = None

    def __enter__(self) -> Progress:
        if self.console.is_terminal:
            self.live = Live(self, console=self.console, refresh_per_second=8, transient=False)
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.refresh()
            self.live.stop()
            self.live = None

    def _set(self, key: str, label: str, status: str, detail: str, indent: bool = False) -> None:
        with self.lock:
            row = self.rows.setdefault(key, Row(label=label, indent=indent))
            now = time.perf_counter()
            if status == "running" and row.started is None:
                row.started = now
            if status not in ("running", "waiting") and row.ended is None:
                row.started = row.started or now
                row.ended = now
            row.status, row.detail = status, detail
            changed = (status, detail) != row.seen
            row.seen = (status, detail)
        if self.live is None and changed and status != "waiting":
            self.console.print(self._line(row), highlight=False)

    def stage(self, name: str, status: str, detail: str = "") -> None:
        self._set(f"stage:{name}", name, status, detail)

    def step(self, record: StepRecord) -> None:
        status, detail = step_status(record)
        self._set(f"step:{record.name}", record.name, status, detail, indent=True)

    def _elapsed(self, row: Row) -> str:
        if row.started is None:
            return ""
        end = row.ended if row.ended is not None else time.perf_counter()
        return f"{end - row.started:5.1f}s"

    def _line(self, row: Row) -> Text:
        mark = MARKS.get(row.status, "…")
        label = ("  " if row.indent else "") + row.label
        text = Text(f"{mark} {label:<28} ", style=STYLES.get(row.status, ""))
        text.append(f"{row.status:<8} {self._elapsed(row):>7}  ", style=STYLES.get(row.status, ""))
        text.append(row.detail)
        return text

    def __rich__(self) -> RenderableType:
        table = Table.grid(padding=(0, 1))
        for _ in range(4):
            table.add_column()
        with self.lock:
            rows = list(self.rows.values())
        for row in rows:
            style = STYLES.get(row.status, "")
            mark: RenderableType = Spinner("dots", style=style) if row.status == "running" else Text(
                MARKS.get(row.status, "·"), style=style)
            label = ("  " if row.indent else "") + row.label
            table.add_row(mark, Text(f"{label:<28}", style=style), Text(self._elapsed(row), style="dim"),
                          Text(row.detail[:100], style="" if row.status != "failed" else style))
        return Group(table)
