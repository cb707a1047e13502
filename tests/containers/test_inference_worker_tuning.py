"""A serving worker's process settings, checked in fresh interpreters (they are process-wide): glibc serves
a large array from its heap once told to keep freed memory (instead of a fresh mapping per array), and
a loaded model's objects are frozen out of the collector's full collections."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

WHERE_IS_A_LARGE_ARRAY = """
import json, sys
import numpy as np
from containers.inference.worker_tuning import keep_freed_memory
tuned = keep_freed_memory() if sys.argv[1] == "tuned" else None
array = np.ones(2**19)  # 4 MiB: above glibc's default threshold (128 KiB, raised to the largest block freed)
address = array.ctypes.data
for line in open("/proc/self/maps"):
    span, _, rest = line.partition(" ")
    low, high = (int(part, 16) for part in span.split("-"))
    if low <= address < high:
        print(json.dumps({"tuned": tuned, "region": rest.split()[-1] if len(rest.split()) > 4 else "anonymous"}))
"""


def run(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO_ROOT, capture_output=True, text=True,
                            check=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})})
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_large_arrays_come_from_the_heap_once_freed_memory_is_kept() -> None:
    default = run(WHERE_IS_A_LARGE_ARRAY, "default")
    tuned = run(WHERE_IS_A_LARGE_ARRAY, "tuned")
    assert default["region"] == "anonymous", "by default glibc maps a 4 MiB block on its own"
    assert tuned == {"tuned": True, "region": "[heap]"}


def test_a_loaded_model_is_frozen_out_of_full_collections(trained_model_dir: Path) -> None:
    code = """
import gc, json
from containers.inference.app import create_app
before = gc.get_freeze_count()
app = create_app()
app._load()
print(json.dumps({"before": before, "after": gc.get_freeze_count(), "loaded": app.predictor is not None}))
"""
    figures = run(code, env={"SM_MODEL_DIR": str(trained_model_dir)})
    assert figures["loaded"] is True
    assert figures["before"] == 0
    assert int(str(figures["after"])) > 10_000  # modules, sklearn and the fitted model
