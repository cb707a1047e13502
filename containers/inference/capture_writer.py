"""Data capture for local mode: SageMaker capture lines appended to hourly files, one writer per worker."""

from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

from containers.contracts.capture import capture_file_relative_path, encode_capture_line


class CaptureWriter:
    """Appends one JSON line per sampled request under
    `<dir>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm>-<ss>-<mmm>-<uuid>.jsonl`, like SageMaker.

    Each line is one `os.write` on an O_APPEND descriptor (no user-space buffer), so a crashed
    worker loses at most the line it was writing. A worker opens its own files (a fresh uuid per
    file), so workers never interleave within a file. A new file starts each hour.
    """

    def __init__(self, root: Path, endpoint: str, variant: str, sampling_percent: float = 100.0):
        self.root = root
        self.endpoint = endpoint
        self.variant = variant
        self.sampling_percent = sampling_percent
        self._fd: int | None = None
        self._hour: tuple[int, int, int, int] | None = None
        self.path: Path | None = None

    def sampled(self) -> bool:
        return self.sampling_percent >= 100.0 or random.random() * 100.0 < self.sampling_percent

    def _open_for(self, now: datetime) -> int:
        hour = (now.year, now.month, now.day, now.hour)
        if self._fd is None or hour != self._hour:
            self.close()
            self.path = self.root / capture_file_relative_path(self.endpoint, self.variant, now, str(uuid.uuid4()))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._hour = hour
        return self._fd

    def write(
        self,
        *,
        input_data: bytes,
        input_content_type: str,
        output_data: bytes,
        output_content_type: str,
        inference_id: str | None = None,
    ) -> None:
        now = datetime.now(UTC)
        line = encode_capture_line(
            input_data=input_data,
            input_content_type=input_content_type,
            output_data=output_data,
            output_content_type=output_content_type,
            inference_id=inference_id,
            inference_time=now,
        )
        data = memoryview(line.encode() + b"\n")
        fd = self._open_for(now)
        while data:
            data = data[os.write(fd, data):]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
