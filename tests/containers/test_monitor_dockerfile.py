"""The monitor image's Dockerfile: hadolint-clean, pinned, non-root, exec-form entry point."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "containers" / "monitor" / "Dockerfile"


def _hadolint() -> str:
    found = Path(sys.executable).parent / "hadolint"
    return str(found) if found.exists() else shutil.which("hadolint") or "hadolint"


def test_monitor_dockerfile_is_hadolint_clean() -> None:
    result = subprocess.run([_hadolint(), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_monitor_dockerfile_pins_base_runs_as_non_root_with_exec_entrypoint() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim-\w+$", text, re.MULTILINE)
    assert re.search(r"^USER 10001$", text, re.MULTILINE)
    assert 'ENTRYPOINT ["python", "-m", "containers.monitor"]' in text
    assert "COPY containers/ /opt/program/containers/" in text
    requirements = (REPO / "containers" / "monitor" / "requirements.txt").read_text().split("\n")
    pins = [line for line in requirements if line and not line.startswith("#")]
    assert pins
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[\w.]+", line) for line in pins)
    for line in pins:  # the image runs the versions the tests ran
        name, version = line.split("==")
        assert importlib.metadata.version(name) == version, line
