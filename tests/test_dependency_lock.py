"""The lock `make` installs agrees with the pins people edit: a pin changed without `make lock` fails here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCK = REPO_ROOT / "requirements.lock"
LOCK_INPUTS = ("requirements.txt", "requirements-dev.txt", "requirements-extras.txt")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line (extras and markers dropped)."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        found = PIN.match(line.strip())
        if found:
            pins[_normalized(found.group(1))] = found.group(2)
    return pins


def _locked_entries(path: Path) -> list[tuple[str, str, int]]:
    """(name, version, number of hashes) for every requirement of a hash lock file."""
    entries: list[tuple[str, str, int]] = []
    for block in re.split(r"\n(?=[A-Za-z0-9])", path.read_text(encoding="utf-8")):
        found = PIN.match(block)
        if found:
            entries.append((_normalized(found.group(1)), found.group(2), block.count("--hash=sha256:")))
    return entries


def _locked_versions() -> dict[str, set[str]]:
    """name -> versions in the lock (a universal lock may hold one per Python version, behind markers)."""
    locked: dict[str, set[str]] = {}
    for name, version, _ in _locked_entries(LOCK):
        locked.setdefault(name, set()).add(version)
    return locked


@pytest.mark.parametrize("requirements", LOCK_INPUTS)
def test_every_pin_is_in_the_lock_at_the_same_version(requirements: str) -> None:
    locked = _locked_versions()
    pins = _pins(REPO_ROOT / requirements)
    assert pins, f"no pins in {requirements}"
    stale = {name: (version, locked.get(name)) for name, version in pins.items() if version not in locked.get(name, ())}
    assert not stale, f"{requirements} and requirements.lock disagree (pin, lock): {stale}; run `make lock`"


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-bootstrap.txt"])
def test_every_locked_requirement_has_hashes(lock: str) -> None:
    entries = _locked_entries(REPO_ROOT / lock)
    assert entries, f"nothing locked in {lock}"
    unhashed = [name for name, _, hashes in entries if hashes == 0]
    assert not unhashed, f"{lock}: requirements without a hash: {unhashed}"


def test_the_bootstrap_pins_the_uv_the_makefile_names() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    named = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert named, "Makefile: no UV_VERSION"
    assert _pins(REPO_ROOT / "requirements-bootstrap.txt") == {"uv": named.group(1)}


def test_the_extras_of_the_project_are_the_pins_of_requirements_extras() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]["extras"]
    declared = {_normalized(name): version for name, version in (pin.split("==") for pin in extras)}
    assert declared == _pins(REPO_ROOT / "requirements-extras.txt")


def test_a_changed_pin_is_reported(tmp_path: Path) -> None:
    changed = tmp_path / "requirements.txt"
    changed.write_text("numpy==0.0.1\nmoto[server]==5.2.5  # comment\n", encoding="utf-8")
    assert _pins(changed) == {"numpy": "0.0.1", "moto": "5.2.5"}
    locked = _locked_versions()
    assert "0.0.1" not in locked["numpy"]
    assert locked["moto"] == {"5.2.5"}
